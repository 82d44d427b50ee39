/**
 * Applies multi-document Kubernetes YAML through the API, like a minimal `kubectl apply`:
 * create, or replace when the object exists.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { AmbitError } from '../../errors.js';
import { KubeApiError, type KubeClient } from '../../k8s/client.js';
import { resources, type Resource } from '../../k8s/resources.js';
import type { KubeObject } from '../../k8s/types.js';
import { controlPlane, type Cluster } from '../cluster/cluster.js';

export function resourceFor(apiVersion: string, kind: string): Resource {
  for (const r of Object.values(resources)) {
    const av = r.group ? `${r.group}/${r.version}` : r.version;
    if (av === apiVersion && r.kind === kind) return r;
  }
  throw new AmbitError('LAB_UNKNOWN_KIND', `no resource for ${apiVersion} ${kind}`, {
    value: `${apiVersion}/${kind}`,
  });
}

export function parseManifests(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new AmbitError('LAB_BAD_MANIFEST', `${source}: ${doc.errors[0]!.message}`, {
        value: source,
      });
    }
    const o = doc.toJS() as KubeObject | null;
    if (o === null) continue;
    if (!o.apiVersion || !o.kind || !o.metadata?.name) {
      throw new AmbitError(
        'LAB_BAD_MANIFEST',
        `${source}: a document lacks apiVersion, kind or metadata.name`,
        {
          value: JSON.stringify(o).slice(0, 200),
        },
      );
    }
    out.push(o);
  }
  return out;
}

export async function applyObjects(client: KubeClient, objs: KubeObject[]): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const o of objs) {
    const res = resourceFor(o.apiVersion, o.kind);
    if (res.namespaced) o.metadata.namespace ??= 'default';
    try {
      applied.push(await client.create(res, o));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      const cur = await client.get(res, o.metadata.name, o.metadata.namespace);
      o.metadata.resourceVersion = cur.metadata.resourceVersion;
      applied.push(await client.update(res, { ...o, status: cur.status }));
    }
  }
  return applied;
}

export async function applyFile(client: KubeClient, file: string): Promise<KubeObject[]> {
  return applyObjects(client, parseManifests(readFileSync(file, 'utf8'), file));
}

/**
 * The base manifests are written for the default cluster; for another cluster file, point
 * the DNS pods at its control-plane node and the kube-dns Service at its dnsIP.
 */
export function adaptBase(objs: KubeObject[], c: Cluster): KubeObject[] {
  const cp = controlPlane(c).name;
  for (const o of objs) {
    const tmpl = (o.spec as { template?: { spec?: { nodeSelector?: Record<string, string> } } })
      ?.template?.spec;
    const sel = tmpl?.nodeSelector;
    if (sel?.['kubernetes.io/hostname'] === 'control-plane') sel['kubernetes.io/hostname'] = cp;
    const svc = o.spec as { clusterIP?: string; clusterIPs?: string[] } | undefined;
    if (o.kind === 'Service' && o.metadata.name === 'kube-dns' && svc?.clusterIP) {
      svc.clusterIP = c.dnsIP;
      if (svc.clusterIPs) svc.clusterIPs = [c.dnsIP];
    }
  }
  return objs;
}
