/**
 * The control plane in a real lab: `ambit lab up`, istiod applied with kubectl, and a test
 * subscriber running as a ztunnel-identity pod on worker2 (inside that pod's network namespace,
 * with its pod-bound token). It receives the sleep and httpbin workloads and the httpbin service;
 * labelling a namespace, scaling a deployment and applying a policy with kubectl each produce
 * exactly that incremental change; a NACK is logged by istiod and the previous state stays; the
 * CA signs only identities of pods on worker2.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';
import { repoRoot } from '../../src/repo.js';
import { labManifests } from '../../src/lab/mesh/install.js';

const root = repoRoot();
const bin = join(root, 'bin', 'ambit');
const N = labName('cp');
const stateDir = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', N);
const kubeconfig = join(stateDir, 'kubeconfig');
const self = fileURLToPath(import.meta.url);
const helper = join(
  dirname(self),
  '..',
  'helpers',
  `xds-subscriber${self.endsWith('.ts') ? '.ts' : '.js'}`,
);

const ambit = (args: string[], timeoutMs = 60_000): Promise<RunResult> =>
  run(process.execPath, [bin, ...args], { allowFail: true, timeoutMs });
const kubectl = (args: string[], input?: string): Promise<RunResult> =>
  run('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    allowFail: true,
    input,
    timeoutMs: 60_000,
  });

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

interface Ev {
  event: string;
  typeUrl?: string;
  added?: string[];
  removed?: string[];
  addresses?: string[];
  authorizations?: string[];
  message?: string;
  identity?: string;
  ok?: boolean;
  error?: string;
  sans?: string[];
  workloads?: { name: string; tunnelProtocol: string; status: string }[];
}

interface PodJson {
  metadata: { name: string; annotations?: Record<string, string> };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

async function podJson(ns: string, selector: string): Promise<PodJson[]> {
  const r = await kubectl(['get', 'pods', '-n', ns, '-l', selector, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { items: PodJson[] }).items;
}
const isReady = (p: PodJson) =>
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

void describe('control plane in the lab', { skip: skipUnlessRoot, timeout: 600_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ambit-cp-lab-'));
  let sub: ChildProcess | undefined;
  let events: Ev[] = [];
  let probeNetns = '';
  let tokenFile = '';
  let rootFile = '';
  let istiodIp = '';
  let istiodLog = '';

  function startSubscriber(extra: string[]): { proc: ChildProcess; events: Ev[] } {
    const evs: Ev[] = [];
    const nodeArgs = helper.endsWith('.ts') ? ['--import', 'tsx', helper] : [helper];
    const proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        probeNetns,
        process.execPath,
        ...nodeArgs,
        '--address',
        `${istiodIp}:15012`,
        '--root',
        rootFile,
        '--token',
        tokenFile,
        '--node',
        'worker2',
        '--pod',
        'ztunnel-probe',
        ...extra,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) evs.push(JSON.parse(line) as Ev);
      }
    });
    proc.stderr!.resume();
    return { proc, events: evs };
  }

  before(async () => {
    const up = await ambit(['lab', 'up', '--name', N], 240_000);
    assert.equal(up.code, 0, `lab up failed: ${up.stdout}\n${up.stderr}`);
    const apply = await kubectl(['apply', '-f', join(root, 'src', 'lab', 'mesh', 'istiod.yaml')]);
    assert.equal(apply.code, 0, apply.stderr);
    // The API server enforces RBAC: istiod needs the ClusterRoles a real install grants it.
    const rbac = labManifests(false).objs.filter((o) =>
      ['ClusterRole', 'ClusterRoleBinding'].includes(o.kind),
    );
    const granted = await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }),
    );
    assert.equal(granted.code, 0, granted.stderr);
    const istiod = await until(
      'istiod ready',
      async () => (await podJson('istio-system', 'app=istiod')).find(isReady),
      120_000,
    );
    istiodIp = istiod.status!.podIP!;
    istiodLog = join(stateDir, 'pods', `istio-system_${istiod.metadata.name}`, 'discovery.log');
    // A pod with the ztunnel identity on worker2: the subscriber runs in its netns with its token.
    const probe = `apiVersion: v1
kind: Pod
metadata:
  name: ztunnel-probe
  namespace: istio-system
  labels: {app: ztunnel}
  annotations: {ambient.istio.io/redirection: disabled}
spec:
  nodeName: worker2
  serviceAccountName: ztunnel
  containers: [{name: probe, image: busybox, command: [sleep, "3600"]}]
`;
    const r = await kubectl(['apply', '-f', '-'], probe);
    assert.equal(r.code, 0, r.stderr);
    const p = await until(
      'probe running',
      async () =>
        (await podJson('istio-system', 'app=ztunnel')).find(
          (x) => x.status?.phase === 'Running' && x.metadata.annotations?.['lab.ambit.dev/netns'],
        ),
      60_000,
    );
    probeNetns = p.metadata.annotations!['lab.ambit.dev/netns']!;
    tokenFile = join(stateDir, 'pods', 'istio-system_ztunnel-probe', 'serviceaccount', 'token');
    const cm = await until('root cert configmap', async () => {
      const c = await kubectl([
        'get',
        'configmap',
        'istio-ca-root-cert',
        '-n',
        'istio-system',
        '-o',
        'json',
      ]);
      return c.code === 0 ? (JSON.parse(c.stdout) as { data: Record<string, string> }) : undefined;
    });
    rootFile = join(tmp, 'root-cert.pem');
    writeFileSync(rootFile, cm.data['root-cert.pem']!);
    const s = startSubscriber(['--reject', 'nack-me']);
    sub = s.proc;
    events = s.events;
    await until(
      'the subscriber to be ready',
      () => events.find((e) => e.event === 'ready'),
      30_000,
    );
  });

  after(async () => {
    if (sub && sub.exitCode === null) sub.kill('SIGTERM');
    await ambit(['lab', 'down', '--name', N], 120_000);
    rmSync(tmp, { recursive: true, force: true });
  });

  void it('a subscriber as worker2 receives the sleep and httpbin workloads and the httpbin service', async () => {
    const ready = events.find((e) => e.event === 'ready')!;
    const names = ready.addresses ?? [];
    const sleepPod = (await podJson('default', 'app=sleep'))[0]!.metadata.name;
    const httpbinPod = (await podJson('default', 'app=httpbin'))[0]!.metadata.name;
    assert.ok(names.includes(`Kubernetes//Pod/default/${sleepPod}`), names.join(','));
    assert.ok(names.includes(`Kubernetes//Pod/default/${httpbinPod}`));
    assert.ok(names.includes('default/httpbin.default.svc.cluster.local'));
  });

  void it('labelling a namespace ambient pushes exactly its workloads, as HBONE', async () => {
    const from = events.length;
    const t0 = Date.now();
    assert.equal(
      (await kubectl(['label', 'namespace', 'default', 'istio.io/dataplane-mode=ambient'])).code,
      0,
    );
    const pods = [
      ...(await podJson('default', 'app=sleep')),
      ...(await podJson('default', 'app=httpbin')),
      ...(await podJson('default', 'app=curl')),
    ];
    // A node agent captures the pods and annotates them; istiod pushes each as HBONE only then
    // (its rule). This lab runs istiod alone, so the test writes the agent's annotation.
    for (const p of pods) {
      const r = await kubectl([
        'annotate',
        'pod',
        '-n',
        'default',
        p.metadata.name,
        'ambient.istio.io/redirection=enabled',
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const deltas = () =>
      events.slice(from).filter((e) => e.event === 'delta' && e.typeUrl?.endsWith('Address'));
    const protocolOf = () => {
      const last = new Map<string, string>();
      for (const d of deltas())
        for (const w of d.workloads ?? []) last.set(w.name, w.tunnelProtocol);
      return last;
    };
    await until(
      'every pod of the namespace pushed as HBONE',
      () => pods.every((p) => protocolOf().get(p.metadata.name) === 'HBONE') || undefined,
      20_000,
    );
    console.log(
      `# namespace label reached the subscriber as HBONE in ${Date.now() - t0} ms (kubectl and capture included)`,
    );
    assert.deepEqual(
      [...new Set(deltas().flatMap((d) => d.added ?? []))].sort(),
      pods.map((p) => `Kubernetes//Pod/default/${p.metadata.name}`).sort(),
    );
    assert.deepEqual(
      deltas().flatMap((d) => d.removed ?? []),
      [],
    );
  });

  void it('scaling a deployment adds and then removes exactly the new pod', async () => {
    // The scenario's httpbin/sleep pin their addresses, so scale a deployment of our own.
    const deploy = `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      nodeSelector: {kubernetes.io/hostname: worker}
      containers: [{name: echo, image: busybox, command: [sleep, "3600"]}]
`;
    let from = events.length;
    assert.equal((await kubectl(['apply', '-f', '-'], deploy)).code, 0);
    const first = await until(
      'the first echo pod',
      () =>
        events
          .slice(from)
          .find((e) =>
            e.workloads?.some((w) => w.name.startsWith('echo-') && w.status === 'Healthy'),
          ),
      60_000,
    );
    const firstName = first.workloads!.find((w) => w.name.startsWith('echo-'))!.name;
    from = events.length;
    assert.equal(
      (await kubectl(['scale', 'deployment', 'echo', '-n', 'default', '--replicas=2'])).code,
      0,
    );
    const healthy = await until(
      'the new healthy workload',
      () =>
        events
          .slice(from)
          .find((e) =>
            e.workloads?.some(
              (w) => w.name.startsWith('echo-') && w.name !== firstName && w.status === 'Healthy',
            ),
          ),
      60_000,
    );
    const newName = healthy.workloads!.find(
      (w) => w.name.startsWith('echo-') && w.name !== firstName,
    )!.name;
    for (const e of events
      .slice(from)
      .filter((x) => x.event === 'delta' && x.typeUrl?.endsWith('Address'))) {
      assert.deepEqual(e.added, [`Kubernetes//Pod/default/${newName}`], 'only the new pod changes');
      assert.deepEqual(e.removed, []);
    }
    const mid = events.length;
    assert.equal(
      (await kubectl(['scale', 'deployment', 'echo', '-n', 'default', '--replicas=1'])).code,
      0,
    );
    const gone = await until(
      'the removal',
      () => events.slice(mid).find((e) => e.removed?.length),
      60_000,
    );
    assert.equal(gone.removed!.length, 1);
    assert.match(gone.removed![0]!, /^Kubernetes\/\/Pod\/default\/echo-/);
    for (const e of events
      .slice(mid)
      .filter((x) => x.event === 'delta' && x.typeUrl?.endsWith('Address')))
      assert.ok(
        [...e.added!, ...e.removed!].every((n) => n.startsWith('Kubernetes//Pod/default/echo-')),
        JSON.stringify(e),
      );
  });

  const policy = (name: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: default}
spec:
  action: DENY
  rules: [{from: [{source: {namespaces: [evil]}}], to: [{operation: {ports: ["80"]}}]}]
`;

  void it('applying a policy pushes exactly that Authorization', async () => {
    const from = events.length;
    assert.equal((await kubectl(['apply', '-f', '-'], policy('deny-evil'))).code, 0);
    const d = await until(
      'the policy',
      () =>
        events.slice(from).find((e) => e.event === 'delta' && e.typeUrl?.endsWith('Authorization')),
      10_000,
    );
    assert.deepEqual(d.added, ['default/deny-evil']);
    assert.deepEqual(d.removed, []);
    const st = await until(
      'status',
      async () => {
        const r = await kubectl([
          'get',
          'authorizationpolicy',
          'deny-evil',
          '-n',
          'default',
          '-o',
          'jsonpath={.status.conditions[0].reason}',
        ]);
        return r.stdout === 'Accepted' ? r.stdout : undefined;
      },
      10_000,
    );
    assert.equal(st, 'Accepted');
  });

  void it('a NACK is logged by istiod and the previous state stays in force', async () => {
    const from = events.length;
    assert.equal((await kubectl(['apply', '-f', '-'], policy('nack-me'))).code, 0);
    const n = await until(
      'the NACK',
      () => events.slice(from).find((e) => e.event === 'nack'),
      10_000,
    );
    assert.match(n.message!, /nack-me rejected/);
    assert.deepEqual(
      n.authorizations,
      ['default/deny-evil'],
      'previous policies still in force, nack-me not applied',
    );
    await until(
      'istiod to log the NACK',
      () => {
        const log = existsSync(istiodLog) ? readFileSync(istiodLog, 'utf8') : '';
        return /NACK from ztunnel.*nack-me rejected/.test(log) ? true : undefined;
      },
      10_000,
    );
    const x = await ambit(['x', 'ztunnels', '--lab', N]);
    assert.equal(x.code, 0, x.stderr);
    assert.match(x.stdout, /worker2 .*istio\.security\.Authorization.*nack-me rejected/);
  });

  void it('the CA signs identities of pods on worker2 only', async () => {
    const { proc, events: evs } = startSubscriber([
      '--cert',
      'spiffe://cluster.local/ns/default/sa/sleep',
      '--cert',
      'spiffe://cluster.local/ns/default/sa/httpbin',
    ]);
    try {
      const certs = await until(
        'both answers',
        () => {
          const c = evs.filter((e) => e.event === 'cert');
          return c.length === 2 ? c : undefined;
        },
        30_000,
      );
      assert.equal(certs[0]!.ok, true, certs[0]!.error);
      assert.deepEqual(certs[0]!.sans, ['spiffe://cluster.local/ns/default/sa/sleep']);
      assert.equal(certs[1]!.ok, false);
      assert.match(certs[1]!.error!, /not scheduled on node worker2|is scheduled on node worker2/);
    } finally {
      proc.kill('SIGTERM');
    }
  });
});
