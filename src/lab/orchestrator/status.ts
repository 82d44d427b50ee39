/** `ambit lab status|list|exec`: read-only views of a lab, and a command inside a pod. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../../errors.js';
import { KubeClient } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { Node, Pod } from '../../k8s/types.js';
import { netnsNames } from '../cluster/cluster.js';
import { labPaths, stateRoot } from '../cluster/paths.js';
import { podNetns } from '../conventions.js';
import { start } from '../../sys/exec.js';
import { readPidFile } from '../../sys/process.js';
import { daemonRunning, listPidFiles, logFile, pidFile } from './daemons.js';

export function labClient(name: string): KubeClient {
  const paths = labPaths(name);
  if (!existsSync(paths.kubeconfig) || !daemonRunning(paths, 'apiserver')) {
    throw new AmbitError('LAB_NOT_RUNNING', `lab ${name} is not running`, {
      value: name,
      hint: `start it with \`ambit lab up${name === 'ambit' ? '' : ` --name ${name}`}\``,
    });
  }
  return KubeClient.fromKubeconfig(paths.kubeconfig);
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]! + 3))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

export async function labStatus(name: string, print: (l: string) => void): Promise<number> {
  const client = labClient(name);
  const [nodes, pods] = await Promise.all([
    client.list<Node>(resources.nodes),
    client.list<Pod>(resources.pods),
  ]);
  const nrows = [['NAME', 'STATUS', 'ROLES', 'AGE', 'INTERNAL-IP', 'POD-CIDR', 'NETNS']];
  for (const n of nodes.items) {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const roles = Object.keys(n.metadata.labels ?? {})
      .filter((l) => l.startsWith('node-role.kubernetes.io/'))
      .map((l) => l.slice('node-role.kubernetes.io/'.length));
    nrows.push([
      n.metadata.name,
      ready ? 'Ready' : 'NotReady',
      roles.join(',') || '<none>',
      age(n.metadata.creationTimestamp),
      n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '<none>',
      n.spec?.podCIDR ?? '<none>',
      netnsNames.node(name, n.metadata.name),
    ]);
  }
  print(table(nrows));
  print('');
  const prows = [
    ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NETNS'],
  ];
  for (const p of pods.items) {
    const cs = p.status?.containerStatuses ?? [];
    const waiting = cs
      .map((s) => (s.state?.waiting as { reason?: string } | undefined)?.reason)
      .find((r) => r);
    prows.push([
      p.metadata.namespace ?? '',
      p.metadata.name,
      `${cs.filter((s) => s.ready).length}/${p.spec?.containers.length ?? 0}`,
      p.metadata.deletionTimestamp ? 'Terminating' : (waiting ?? p.status?.phase ?? 'Pending'),
      String(cs.reduce((n, s) => n + s.restartCount, 0)),
      age(p.metadata.creationTimestamp),
      p.status?.podIP ?? '<none>',
      p.spec?.nodeName ?? '<none>',
      podNetns(p) ?? '<none>',
    ]);
  }
  print(table(prows));
  print('');
  const paths = labPaths(name);
  const drows = [['DAEMON', 'PID', 'STATE', 'LOG']];
  for (const f of listPidFiles(paths).filter((x) => !x.startsWith('pod-'))) {
    const d = f.replace(/\.pid$/, '');
    const rec = readPidFile(pidFile(paths, d));
    drows.push([
      d,
      String(rec?.pid ?? '-'),
      daemonRunning(paths, d) ? 'running' : 'DEAD',
      logFile(paths, d),
    ]);
  }
  print(table(drows));
  return 0;
}

export function labList(print: (l: string) => void): number {
  const root = stateRoot();
  const names = existsSync(root) ? readdirSync(root) : [];
  if (names.length === 0) {
    print('no labs');
    return 0;
  }
  const rows = [['NAME', 'STATE', 'API SERVER']];
  for (const n of names.sort()) {
    const paths = labPaths(n);
    const up = daemonRunning(paths, 'apiserver');
    const url = existsSync(paths.apiserverUrl)
      ? readFileSync(paths.apiserverUrl, 'utf8').trim()
      : '';
    rows.push([n, up ? 'running' : 'stopped (run `ambit lab down` to clean up)', up ? url : '']);
  }
  print(table(rows));
  return 0;
}

/**
 * The pod named `pod`, or else the one pod whose name is `<pod>-…` (a Deployment's pod by the
 * Deployment's name: `ambit lab exec sleep -- …`).
 */
async function findPod(
  client: KubeClient,
  namespace: string,
  pod: string,
  lab: string,
): Promise<Pod> {
  const exact = await client.tryGet<Pod>(resources.pods, pod, namespace);
  if (exact) return exact;
  const matches = (await client.list<Pod>(resources.pods, { namespace })).items.filter((p) =>
    p.metadata.name.startsWith(`${pod}-`),
  );
  if (matches.length === 1) return matches[0]!;
  throw new AmbitError(
    'LAB_NO_POD',
    matches.length === 0
      ? `no pod ${namespace}/${pod} in lab ${lab}`
      : `${matches.length} pods in ${namespace} start with ${pod}-: ${matches.map((m) => m.metadata.name).join(', ')}`,
    { value: pod, hint: 'see `ambit lab status`; name the pod exactly' },
  );
}

/**
 * The network namespace `ambit lab exec` runs a command of `pod` in: the pod's own, or its
 * node's for a hostNetwork pod. Tests that run many commands in pods resolve it in-process
 * with this, instead of paying a CLI start per command.
 */
export async function podExecNetns(
  client: KubeClient,
  name: string,
  namespace: string,
  pod: string,
): Promise<string> {
  const p = await findPod(client, namespace, pod, name);
  const netns = p.spec?.hostNetwork ? netnsNames.node(name, p.spec.nodeName ?? '') : podNetns(p);
  if (!netns || !existsSync(`/run/netns/${netns}`)) {
    throw new AmbitError('LAB_POD_NOT_RUNNING', `pod ${namespace}/${pod} has no network yet`, {
      value: pod,
      hint: `its phase is ${p.status?.phase ?? 'Pending'}`,
    });
  }
  return netns;
}

/** Runs `cmd` in the pod's network namespace with inherited stdio; resolves to its exit code. */
export async function labExec(
  name: string,
  namespace: string,
  pod: string,
  cmd: string[],
): Promise<number> {
  const netns = await podExecNetns(labClient(name), name, namespace, pod);
  return start(cmd[0]!, cmd.slice(1), { netns, stdio: 'inherit' }).exited;
}

/** Prints a container's log (`<podDir>/<container>.log`); the only container when not named. */
export function labLogs(
  name: string,
  namespace: string,
  pod: string,
  container: string | undefined,
  write: (text: string) => void,
): number {
  const dir = join(labPaths(name).pods, `${namespace}_${pod}`);
  const logs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log')) : [];
  if (logs.length === 0) {
    throw new AmbitError('LAB_NO_POD', `no logs for pod ${namespace}/${pod} in lab ${name}`, {
      value: pod,
      hint: 'see `ambit lab status` (pods have logs once started on a node)',
    });
  }
  const names = logs.map((f) => f.slice(0, -'.log'.length));
  const chosen = container ?? (names.length === 1 ? names[0] : undefined);
  if (!chosen || !names.includes(chosen)) {
    throw new AmbitError('LAB_NO_CONTAINER', `pick a container of ${pod} with -c`, {
      value: container,
      hint: `containers: ${names.join(', ')}`,
    });
  }
  write(readFileSync(join(dir, `${chosen}.log`), 'utf8'));
  return 0;
}
