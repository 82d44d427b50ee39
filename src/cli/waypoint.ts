/**
 * `ambit waypoint`: istioctl's `waypoint` commands (docs/istio/waypoint.md §1.1) against the lab
 * API server (or AMBIT_KUBE_SERVER / --server), plus `run`, the waypoint proxy itself.
 *   generate | apply [--enroll-namespace] [--overwrite] [--for T] [--name N] [-n NS] [-r REV] [--wait]
 *   list [-A] | status [--name N] | delete [NAME...] [--all]
 */
import { stringify } from 'yaml';
import { errorMessage, AmbitError } from '../errors.js';
import { parseFlags, type Flags } from '../flags.js';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeApiError, KubeClient } from '../k8s/client.js';
import { resources } from '../k8s/resources.js';
import type { Namespace } from '../k8s/types.js';
import type { Gateway } from '../controlplane/model/types.js';
import { labKubeClient } from './inspect.js';
import {
  buildWaypointGateway,
  parseWaypointFor,
  formatList,
  formatStatus,
  USE_WAYPOINT,
} from './waypoint-format.js';

export const USAGE = `usage: ambit waypoint <command> [flags]
  generate   print the waypoint Gateway YAML
  apply      create or update a waypoint
             [--enroll-namespace] [--overwrite] [--wait] [--waypoint-timeout 90s]
  list       waypoints in a namespace (-A: all namespaces)
  status     the waypoint's conditions
  delete     delete waypoints by name, or --all in the namespace
  run        run the waypoint proxy (what the ambit/waypoint image runs)
common flags: --name N (default waypoint) -n/--namespace NS (default default)
  --for service|workload|all|none   -r/--revision REV
cluster: -c/--kubeconfig F  --context C  (else $KUBECONFIG, else the lab: --lab L, --server URL)`;

const BOOLEANS = ['enroll-namespace', 'overwrite', 'wait', 'all', 'all-namespaces'];
const SHORT: Record<string, string> = {
  '-n': '--namespace',
  '-r': '--revision',
  '-A': '--all-namespaces',
  '-c': '--kubeconfig',
  '-i': '--istioNamespace',
};
/** istioctl's flags of these commands (plus --lab, --server); anything else is refused. */
const KNOWN = [
  ...BOOLEANS,
  'name',
  'namespace',
  'for',
  'revision',
  'waypoint-timeout',
  'kubeconfig',
  'context',
  'istioNamespace',
  'lab',
  'server',
];

export function normalizeArgs(args: readonly string[]): string[] {
  return args.map((a) => SHORT[a] ?? a);
}

/** Refuses a flag istioctl's waypoint commands do not have, naming it. */
export function checkFlags(f: Flags): void {
  for (const k of f.values.keys())
    if (!KNOWN.includes(k))
      throw new AmbitError('CLI_USAGE', `ambit waypoint: unknown flag --${k}`, {
        value: `--${k}`,
        hint: `known: ${KNOWN.map((x) => `--${x}`).join(' ')} -n -r -A -c -i`,
      });
  const short = f.positional.find((a) => a.startsWith('-'));
  if (short)
    throw new AmbitError('CLI_USAGE', `ambit waypoint: unknown flag ${short}`, {
      value: short,
      hint: 'short flags: -n NS, -r REV, -A, -c KUBECONFIG, -i ISTIO_NAMESPACE',
    });
}

/**
 * The cluster, as istioctl finds it: --server, else --kubeconfig/--context, else --lab (or
 * $AMBIT_LAB), else $KUBECONFIG (its first existing file), else the default lab.
 */
export function kubeClientFor(f: Flags, env: NodeJS.ProcessEnv = process.env): KubeClient {
  if (f.has('server')) return labKubeClient(f.get('lab'), f.get('server'));
  const file = f.get('kubeconfig');
  if (file || f.has('context')) {
    const path = file ?? env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
    return KubeClient.fromKubeconfig(path, f.get('context'));
  }
  if (f.has('lab') || env.AMBIT_LAB) return labKubeClient(f.get('lab'));
  const fromEnv = env.KUBECONFIG?.split(':').find((p) => p && existsSync(p));
  if (fromEnv) return KubeClient.fromKubeconfig(fromEnv);
  return labKubeClient(undefined);
}

function timeoutMs(f: Flags): number {
  const v = f.get('waypoint-timeout') ?? '90s';
  const m = /^(\d+)(ms|s|m)?$/.exec(v);
  if (!m)
    throw new AmbitError(
      'CLI_BAD_VALUE',
      `--waypoint-timeout: ${JSON.stringify(v)} is not a duration`,
      {
        value: v,
        hint: 'use e.g. 90s or 2m',
      },
    );
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

async function waitProgrammed(
  kube: KubeClient,
  ns: string,
  name: string,
  ms: number,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const gw = await kube.tryGet<Gateway>(resources.gateways, name, ns);
    if (gw?.status?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True')) return;
    if (Date.now() > deadline)
      throw new AmbitError(
        'WAYPOINT_TIMEOUT',
        `timed out waiting for waypoint ${ns}/${name} to become ready`,
        {
          value: `${ns}/${name}`,
          hint: `see \`ambit waypoint status -n ${ns} --name ${name}\` and the waypoint pod's log`,
        },
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function apply(
  kube: KubeClient,
  f: Flags,
  ns: string,
  name: string,
  print: Print,
): Promise<number> {
  const gw = buildWaypointGateway(ns, name, parseWaypointFor(f.get('for')), f.get('revision'));
  const nsObj = await kube.tryGet<Namespace>(resources.namespaces, ns);
  if (!nsObj)
    throw new AmbitError('WAYPOINT_NO_NAMESPACE', `namespace ${ns} not found`, {
      value: ns,
      hint: `create it first: kubectl create namespace ${ns}`,
    });
  if (nsObj.metadata.labels?.['istio.io/dataplane-mode'] !== 'ambient')
    print(
      `⚠️ namespace is not enrolled in ambient. Consider running\t"kubectl label namespace ${ns} istio.io/dataplane-mode=ambient"\n`,
    );
  const have = nsObj.metadata.labels?.[USE_WAYPOINT];
  if (f.has('enroll-namespace') && have && have !== name && !f.has('overwrite'))
    throw new AmbitError(
      'WAYPOINT_ENROLLED',
      `namespace ${ns} already uses waypoint ${JSON.stringify(have)}`,
      { value: have, hint: 'pass --overwrite to replace it' },
    );
  const cur = await kube.tryGet<Gateway>(resources.gateways, name, ns);
  if (!cur) await kube.create(resources.gateways, gw);
  else
    // The lab API server has no server-side apply: a merge patch of what we own.
    await kube.patch(
      resources.gateways,
      name,
      { metadata: { labels: gw.metadata.labels ?? {} }, spec: gw.spec },
      { namespace: ns, type: 'merge' },
    );
  if (f.has('wait')) await waitProgrammed(kube, ns, name, timeoutMs(f));
  print(`✅ waypoint ${ns}/${name} applied\n`);
  if (f.has('enroll-namespace')) {
    await kube.patch(
      resources.namespaces,
      ns,
      { metadata: { labels: { [USE_WAYPOINT]: name } } },
      { type: 'merge' },
    );
    print(`✅ namespace ${ns} labeled with "${USE_WAYPOINT}: ${name}"\n`);
  }
  return 0;
}

async function del(kube: KubeClient, f: Flags, ns: string, print: Print): Promise<number> {
  let names = f.positional;
  if (f.has('all')) {
    const list = await kube.list<Gateway>(resources.gateways, { namespace: ns });
    names = list.items
      .filter((g) => g.spec?.gatewayClassName === 'istio-waypoint')
      .map((g) => g.metadata.name);
  } else if (names.length === 0) names = [f.get('name') ?? 'waypoint'];
  let failed = 0;
  for (const n of names) {
    try {
      await kube.delete(resources.gateways, n, ns);
      print(`waypoint ${ns}/${n} deleted\n`);
    } catch (err) {
      failed++;
      if (err instanceof KubeApiError && err.status === 404)
        console.error(`waypoint ${ns}/${n} not found`);
      else console.error(`cannot delete waypoint ${ns}/${n}: ${errorMessage(err)}`);
    }
  }
  return failed ? 1 : 0;
}

/** Where the command's output goes (stdout; tests capture it). */
export type Print = (text: string) => void;
const stdout: Print = (t) => void process.stdout.write(t);

export async function run(args: string[], print: Print = stdout): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '-h' || sub === '--help') {
    print(USAGE + '\n');
    return sub ? 0 : 2;
  }
  if (sub === 'run') {
    // The proxy lives in src/waypoint/ (its own module, loaded only by the waypoint pod).
    const main = '../waypoint/main.js';
    const mod = (await import(main)) as { run(args: string[]): Promise<number> };
    return mod.run(rest);
  }
  const f = parseFlags(normalizeArgs(rest), BOOLEANS);
  checkFlags(f);
  const ns = f.get('namespace') ?? 'default';
  const name = f.get('name') ?? 'waypoint';
  if (name === 'none')
    throw new AmbitError(
      'CLI_BAD_VALUE',
      "invalid name provided for waypoint, 'none' is a reserved value",
      {
        value: name,
      },
    );
  if (sub === 'generate') {
    const gw = buildWaypointGateway(ns, name, parseWaypointFor(f.get('for')), f.get('revision'));
    print(stringify(gw));
    return 0;
  }
  const kube = kubeClientFor(f);
  switch (sub) {
    case 'apply':
      return apply(kube, f, ns, name, print);
    case 'list': {
      const all = f.has('all-namespaces');
      const list = await kube.list<Gateway>(resources.gateways, all ? {} : { namespace: ns });
      const wps = list.items.filter((g) => g.spec?.gatewayClassName === 'istio-waypoint');
      if (wps.length === 0) {
        print((all ? 'No waypoints found.' : `No waypoints found in namespace ${ns}.`) + '\n');
        return 0;
      }
      print(formatList(wps, all));
      return 0;
    }
    case 'status': {
      let gws: Gateway[];
      if (f.has('name')) {
        const gw = await kube.tryGet<Gateway>(resources.gateways, name, ns);
        if (!gw)
          throw new AmbitError('WAYPOINT_NOT_FOUND', `waypoint ${ns}/${name} not found`, {
            value: `${ns}/${name}`,
            hint: `list them with \`ambit waypoint list -n ${ns}\` (or -A)`,
          });
        gws = [gw];
      } else {
        gws = (await kube.list<Gateway>(resources.gateways, { namespace: ns })).items.filter(
          (g) => g.spec?.gatewayClassName === 'istio-waypoint',
        );
      }
      if (gws.length === 0) {
        print(`No waypoints found in namespace ${ns}.\n`);
        return 0;
      }
      print(formatStatus(gws));
      return 0;
    }
    case 'delete':
      return del(kube, f, ns, print);
    default:
      console.error(`ambit waypoint: unknown command ${JSON.stringify(sub)}\n${USAGE}`);
      return 2;
  }
}
