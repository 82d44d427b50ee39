/**
 * `ambit uninstall --purge [-y] [-c F] [--context C]` (istioctl's): removes what `ambit install`
 * applied, printing `  Removed <Kind>:<namespace>:<name>.` per object, then
 * `✔ Uninstall complete`. The DaemonSets go first: each istio-cni agent, stopping because its
 * DaemonSet is gone, removes its node's rules, ipsets, links and CNI chaining before it exits.
 * --purge also removes the CRDs (without it they stay; istioctl refuses to run without it).
 * The namespace stays, as with istioctl (the guide deletes it with kubectl), and so do the
 * `istio-ca-root-cert` ConfigMaps istiod published, but not in the install namespace.
 */
import { stringify } from 'yaml';
import { errorMessage } from '../errors.js';
import { components, resourceName } from '../install/components.js';
import { CNI_DAEMONSET, ZTUNNEL_DAEMONSET } from '../install/names.js';
import { generateManifests } from '../install/manifests.js';
import { applySets, defaultValues } from '../install/values.js';
import type { KubeObject } from '../k8s/types.js';
import { kubectl } from '../sys/kubectl.js';
import { confirm, options, servedResources, USAGE, type Cluster } from './install.js';

/** `daemonset.apps/ztunnel` (kubectl -o name) for an object. */
function nameOf(o: KubeObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
  return `${o.kind.toLowerCase()}${group ? `.${group}` : ''}/${o.metadata.name}`;
}

export async function run(args: string[]): Promise<number> {
  const o = options(args);
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  const kc: Cluster = { kubeconfig: o.kubeconfig, context: o.context };
  const v = applySets(defaultValues(), o.set ?? []);
  if (
    !o['skip-confirmation'] &&
    !(await confirm('All ambit resources will be pruned from the cluster\nProceed?'))
  ) {
    console.log('Cancelled.');
    return 1;
  }
  const served = await servedResources(kc);
  const all = components(generateManifests({ ...v, crds: true })).flatMap((c) => c.objects);
  const objs = all.filter(
    (x) =>
      served.has(resourceName(x)) &&
      x.kind !== 'Namespace' &&
      (o.purge || x.kind !== 'CustomResourceDefinition'),
  );
  const del = async (list: KubeObject[]): Promise<void> => {
    if (list.length === 0) return;
    const r = await kubectl(
      ['delete', '--ignore-not-found', '--wait=true', '-o', 'name', '-f', '-'],
      { ...kc, input: list.map((x) => stringify(x)).join('---\n'), timeoutMs: 180_000 },
    );
    const gone = new Set(r.stdout.split('\n').map((l) => l.trim()));
    for (const x of list)
      if (gone.has(nameOf(x)))
        console.log(`  Removed ${x.kind}:${x.metadata.namespace ?? ''}:${x.metadata.name}.`);
  };
  // DaemonSets first (their agents clean their nodes), then the rest, dependents before CRDs.
  await del(objs.filter((x) => x.kind === 'DaemonSet'));
  // Their pods' exit is the node clean-up: wait for it, so "complete" means no rule is left.
  for (const sel of [`k8s-app=${CNI_DAEMONSET}`, `app=${ZTUNNEL_DAEMONSET}`]) {
    try {
      await kubectl(
        ['wait', '--for=delete', 'pod', '-l', sel, '-n', v.namespace, '--timeout=120s'],
        { ...kc, timeoutMs: 130_000 },
      );
    } catch (err) {
      // No pod left to wait for is what we want; anything else is worth a line.
      if (!/no matching resources/i.test(errorMessage(err)))
        console.log(`  (waiting for ${sel} pods to go: ${errorMessage(err).split('\n')[0]})`);
    }
  }
  await del(objs.filter((x) => x.kind !== 'DaemonSet').reverse());
  await del([
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio-ca-root-cert', namespace: v.namespace },
    },
  ]);
  console.log('✔ Uninstall complete');
  return 0;
}
