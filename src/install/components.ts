/**
 * The install manifests split the way istioctl reports them, in its order: "Istio core" (the
 * namespace and CRDs), "Istiod", "CNI", "Ztunnel", each with the workload whose readiness
 * `ambit install` waits for and the line it prints when that component is installed.
 */
import type { KubeObject } from '../k8s/types.js';
import { CNI_DAEMONSET, ZTUNNEL_DAEMONSET } from './names.js';

export interface Component {
  name: 'core' | 'istiod' | 'cni' | 'ztunnel';
  /** istioctl's line, e.g. `✔ Istiod installed 🧠`. */
  done: string;
  objects: KubeObject[];
  /** The workload that must be ready: `deployment/istiod`, `daemonset/ztunnel`. */
  waitFor?: { kind: 'deployment' | 'daemonset'; name: string };
}

function componentOf(o: KubeObject): Component['name'] {
  if (o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition') return 'core';
  const app = o.metadata.labels?.app ?? '';
  if (app === 'istio-cni' || app === CNI_DAEMONSET) return 'cni';
  if (app === 'ztunnel') return 'ztunnel';
  return 'istiod';
}

export function components(objs: KubeObject[]): Component[] {
  const list: Component[] = [
    { name: 'core', done: '✔ Istio core installed ⛵️', objects: [] },
    {
      name: 'istiod',
      done: '✔ Istiod installed 🧠',
      objects: [],
      waitFor: { kind: 'deployment', name: 'istiod' },
    },
    {
      name: 'cni',
      done: '✔ CNI installed 🪢',
      objects: [],
      waitFor: { kind: 'daemonset', name: CNI_DAEMONSET },
    },
    {
      name: 'ztunnel',
      done: '✔ Ztunnel installed 🔒️',
      objects: [],
      waitFor: { kind: 'daemonset', name: ZTUNNEL_DAEMONSET },
    },
  ];
  for (const o of objs) list.find((c) => c.name === componentOf(o))!.objects.push(o);
  return list;
}

/** The API resource name `kubectl api-resources -o name` lists for an object's kind. */
export function resourceName(o: { apiVersion: string; kind: string }): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
  const plural = `${o.kind.toLowerCase()}s`;
  return group ? `${plural}.${group}` : plural;
}
