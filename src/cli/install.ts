/**
 * `ambit manifest generate | install | uninstall` — istioctl's install commands for ambit,
 * with istioctl's flags and output:
 *   manifest generate [--set k=v]…                                 print the manifests (YAML)
 *   install [--set k=v]… [-y|--skip-confirmation] [-c F] [--context C] [--readiness-timeout D]
 *   uninstall [-y|--skip-confirmation] [--purge] [-c F] [--context C]     (see uninstall.ts)
 * Install applies the components in istioctl's order (core, istiod, CNI, ztunnel) through
 * kubectl and waits for each to be ready before printing its line. Kinds the cluster does not
 * serve (a lab API server has no RBAC) are skipped, and said so.
 */
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { AmbitError, errorMessage } from '../errors.js';
import { components, resourceName, type Component } from '../install/components.js';
import { generateManifests } from '../install/manifests.js';
import { applySets, defaultValues, VERSION } from '../install/values.js';
import type { KubeObject } from '../k8s/types.js';
import { kubectl } from '../sys/kubectl.js';

export const USAGE = `usage:
  ambit manifest generate [--set key=value]...
  ambit install [--set key=value]... [-y|--skip-confirmation] [--readiness-timeout 5m]
  ambit uninstall --purge [-y|--skip-confirmation]
cluster: -c/--kubeconfig FILE, --context NAME (default: kubectl's, i.e. $KUBECONFIG)
settings: profile=ambient, hub, tag, namespace, crds, dnsCapture
          (values.cni.ambient.dnsCapture), redirect`;

/** istioctl flags ambit does not implement: refused by name rather than ignored. */
const UNSUPPORTED: Record<string, string> = {
  filename: 'IstioOperator files are not supported; pass each setting with --set',
  f: 'IstioOperator files are not supported; pass each setting with --set',
  revision: 'revisions are not supported: ambit installs one control plane',
  r: 'revisions are not supported: ambit installs one control plane',
  manifests: 'ambit has its manifests built in',
  d: 'ambit has its manifests built in',
  verify: 'not implemented; the install already waits for every component to be ready',
  force: 'not implemented',
  'dry-run': 'use `ambit manifest generate` to see what would be applied',
};

export function options(args: string[]) {
  for (const a of args) {
    const name = /^--?([^=]+)/.exec(a)?.[1];
    if (name && a !== '-' && UNSUPPORTED[name])
      throw new AmbitError('CLI_USAGE', `flag ${a.split('=')[0]} is not supported by ambit`, {
        value: a,
        hint: UNSUPPORTED[name],
      });
  }
  try {
    return parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        set: { type: 'string', multiple: true, short: 's' },
        kubeconfig: { type: 'string', short: 'c' },
        context: { type: 'string' },
        'skip-confirmation': { type: 'boolean', short: 'y' },
        purge: { type: 'boolean' },
        'readiness-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    // node:util's messages name the flag ("Unknown option '--foo'"); keep them, add the usage.
    throw new AmbitError('CLI_USAGE', errorMessage(err), { value: args.join(' '), hint: USAGE });
  }
}

/** `5m`, `90s`, `300` (seconds), istioctl's `5m0s`. */
export function durationMs(v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$|^(\d+)$/.exec(v);
  if (!m || v === '')
    throw new AmbitError(
      'CLI_BAD_VALUE',
      `--readiness-timeout ${JSON.stringify(v)}: not a duration`,
      {
        value: v,
        hint: 'e.g. 5m, 90s, 5m0s',
      },
    );
  return m[3] !== undefined
    ? Number(m[3]) * 1000
    : (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000;
}

export function manifestYaml(sets: string[]): string {
  return generateManifests(applySets(defaultValues(), sets))
    .map((o) => stringify(o))
    .join('---\n');
}

/** istioctl's prompt; anything but y/yes cancels. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const a = await rl.question(`${question} (y/N) `);
    return /^y(es)?$/i.test(a.trim());
  } catch {
    return false;
  } finally {
    rl.close();
  }
}

export interface Cluster {
  kubeconfig?: string;
  context?: string;
}

/** The API resources the cluster serves (`kubectl api-resources -o name`). */
export async function servedResources(kc: Cluster): Promise<Set<string>> {
  const r = await kubectl(['api-resources', '--no-headers', '-o', 'name'], kc);
  return new Set(
    r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

async function waitReady(kc: Cluster, ns: string, c: Component, deadline: number): Promise<void> {
  const w = c.waitFor;
  if (!w) return;
  const path =
    w.kind === 'deployment'
      ? '{.spec.replicas} {.status.readyReplicas}'
      : '{.status.desiredNumberScheduled} {.status.numberReady}';
  let state = '';
  for (;;) {
    try {
      const r = await kubectl(['get', w.kind, w.name, '-n', ns, '-o', `jsonpath=${path}`], kc);
      const [want, ready] = r.stdout.trim().split(' ').map(Number);
      if (want !== undefined && want > 0 && ready === want) return;
      state = `${ready || 0}/${want || 0} ready`;
    } catch (err) {
      state = errorMessage(err);
    }
    if (Date.now() > deadline)
      throw new AmbitError(
        'INSTALL_NOT_READY',
        `${w.kind}/${w.name} in ${ns} not ready: ${state}`,
        {
          value: `${w.kind}/${w.name}`,
          hint: `kubectl -n ${ns} describe ${w.kind} ${w.name}; kubectl -n ${ns} logs ${w.kind}/${w.name}`,
        },
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export type Options = ReturnType<typeof options>;

async function install(o: Options, kc: Cluster): Promise<number> {
  const v = applySets(defaultValues(), o.set ?? []);
  if (
    !o['skip-confirmation'] &&
    !(await confirm(
      `This will install the ambit ${VERSION} profile "${v.profile}" into the cluster. Proceed?`,
    ))
  ) {
    console.log('Cancelled.');
    return 1;
  }
  const deadline = Date.now() + durationMs(o['readiness-timeout'], 300_000);
  const served = await servedResources(kc);
  const skipped: string[] = [];
  const keep = (x: KubeObject) => {
    if (served.has(resourceName(x))) return true;
    skipped.push(`${x.kind}/${x.metadata.name}`);
    return false;
  };
  for (const c of components(generateManifests(v))) {
    const objs = c.objects.filter(keep);
    if (objs.length > 0)
      await kubectl(['apply', '-f', '-'], {
        ...kc,
        input: objs.map((x) => stringify(x)).join('---\n'),
      });
    await waitReady(kc, v.namespace, c, deadline);
    console.log(c.done);
  }
  if (skipped.length > 0)
    console.log(`  (not served by this cluster, skipped: ${skipped.join(', ')})`);
  console.log('✔ Installation complete');
  console.log(
    `The ${v.profile} profile has been installed successfully, enjoy Istio without sidecars!`,
  );
  return 0;
}

export async function run(
  args: string[],
  command: 'manifest' | 'install' = 'install',
): Promise<number> {
  const o = options(args);
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  const kc: Cluster = { kubeconfig: o.kubeconfig, context: o.context };
  if (command === 'manifest') {
    process.stdout.write(manifestYaml(o.set ?? []));
    return 0;
  }
  return install(o, kc);
}
