/**
 * `ambit manifest generate | install | uninstall` — istioctl's install commands for ambit:
 *   manifest generate [--set k=v]…                   print the manifests (YAML)
 *   install [--kubeconfig F] [--context C] [--set k=v]… [-y]   apply them (kubectl apply)
 *   uninstall [--kubeconfig F] [--context C] [-y] [--purge]    delete them; --purge also the CRDs
 * Uninstall deletes the DaemonSets first: each istio-cni agent, stopping because its DaemonSet
 * is gone, removes its node's rules, ipsets, links and CNI chaining before it exits.
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { generateManifests } from '../install/manifests.js';
import { CNI_DAEMONSET, ZTUNNEL_DAEMONSET } from '../install/names.js';
import { applySets, defaultValues } from '../install/values.js';
import { kubectl } from '../sys/kubectl.js';
import { errorMessage } from '../errors.js';

const USAGE = `usage:
  ambit manifest generate [--set key=value]...
  ambit install [--kubeconfig F] [--context C] [--set key=value]... [-y]
  ambit uninstall [--kubeconfig F] [--context C] [-y] [--purge]
settings: hub, tag, namespace, profile=ambient, crds, dnsCapture, redirect`;

export function manifestYaml(sets: string[]): string {
  return generateManifests(applySets(defaultValues(), sets))
    .map((o) => stringify(o))
    .join('---\n');
}

function options(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      set: { type: 'string', multiple: true, short: 's' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      y: { type: 'boolean', short: 'y' },
      'skip-confirmation': { type: 'boolean' },
      purge: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

export async function run(args: string[], command = 'install'): Promise<number> {
  const o = options(args);
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  const sets = o.set ?? [];
  const kc = { kubeconfig: o.kubeconfig, context: o.context };
  if (command === 'manifest') {
    process.stdout.write(manifestYaml(sets));
    return 0;
  }
  if (command === 'install') {
    const r = await kubectl(['apply', '-f', '-'], { ...kc, input: manifestYaml(sets) });
    process.stdout.write(r.stdout);
    console.log('✔ ambit (ambient profile) installed');
    return 0;
  }
  // uninstall: DaemonSets first (their agents clean their nodes), then everything else.
  const v = applySets(defaultValues(), sets);
  const ns = v.namespace;
  const del = (what: string[]) =>
    kubectl(['delete', '--ignore-not-found', '--wait=true', ...what], {
      ...kc,
      timeoutMs: 180_000,
    });
  await del(['-n', ns, 'daemonset', CNI_DAEMONSET, ZTUNNEL_DAEMONSET]);
  const keep = o.purge ? [] : ['CustomResourceDefinition'];
  const objs = generateManifests({ ...v, crds: true })
    .filter((x) => !keep.includes(x.kind) && x.kind !== 'DaemonSet')
    .reverse();
  try {
    const r = await kubectl(['delete', '--ignore-not-found', '--wait=true', '-f', '-'], {
      ...kc,
      input: objs.map((x) => stringify(x)).join('---\n'),
      timeoutMs: 180_000,
    });
    process.stdout.write(r.stdout);
  } catch (err) {
    // Kinds the cluster does not serve (no RBAC or CRDs on a lab API server) have nothing
    // to delete; any other refusal is an error.
    const lines = errorMessage(err).split('\n').slice(1);
    const unserved =
      /no matches for kind|resource mapping not found|ensure CRDs are installed first/;
    if (lines.length === 0 || !lines.every((l) => unserved.test(l) || l.trim() === '')) throw err;
    console.log(`(kinds this cluster does not serve were skipped)`);
  }
  console.log(`✔ ambit uninstalled${o.purge ? ' (with its CRDs)' : ''}`);
  return 0;
}
