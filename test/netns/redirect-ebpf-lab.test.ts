/**
 * The eBPF backend in a real lab: `ambit demo --redirect ebpf --no-trace --mesh-pods` (istiod,
 * one bare agent pod per node with `--redirect ebpf` that the test stops and replaces, real ztunnels), then through the Kubernetes API and the
 * kernel: requests cross the mesh (HBONE with identities), the programs survive an agent
 * SIGKILL with the same ids, SIGTERM keeps capture, and an agent started with `--redirect
 * iptables` takes the node over with pods running, leaving no filter or pin of eBPF behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot } from '../../src/repo.js';
import { run } from '../../src/sys/exec.js';
import { ipsetMembers } from '../../src/sys/ipset.js';
import { tcFilters } from '../../src/sys/tc.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const ROOT = repoRoot();
const LAB = labName('eb');
const STATE = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', LAB);
const W2 = `${LAB}-worker2`;
const PINS = join('/sys/fs/bpf', `ambit-${LAB}`, 'worker2');
const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ambit = (args: string[], timeoutMs = 300_000) =>
  run(process.execPath, [join(ROOT, 'bin', 'ambit'), ...args], { allowFail: true, timeoutMs });
const kubectl = async (...args: string[]) => {
  const r = await run('kubectl', ['--kubeconfig', join(STATE, 'kubeconfig'), ...args], {
    allowFail: true,
  });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
interface PodJson {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  spec: unknown;
  status?: { podIP?: string };
}
const pod = async (ns: string, name: string) =>
  JSON.parse(await kubectl('get', 'pod', '-n', ns, name, '-o', 'json')) as PodJson;
const logOf = (p: string, c: string) => join(STATE, 'pods', `istio-system_${p}`, `${c}.log`);
const count = (file: string, re: RegExp) =>
  existsSync(file) ? (readFileSync(file, 'utf8').match(re) ?? []).length : 0;

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check().catch(() => false)) return;
    await sleepMs(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
}

/** The programs on worker2's devices, as "dev hook name id". */
async function attached(): Promise<string[]> {
  const links = JSON.parse((await run('ip', ['-j', 'link'], { netns: W2 })).stdout) as {
    ifname: string;
  }[];
  const out: string[] = [];
  for (const l of links) {
    for (const f of await tcFilters(W2, l.ifname))
      out.push(`${l.ifname} ${f.hook} ${f.name} ${f.id}`);
  }
  return out.sort();
}

void describe('eBPF backend in the lab', { skip: skipUnlessRoot, timeout: 900_000 }, () => {
  let sleepPod: string;
  const curl = async () => {
    const r = await ambit(
      [
        'lab',
        'exec',
        '--name',
        LAB,
        sleepPod,
        '--',
        'curl',
        '-sS',
        '--max-time',
        '10',
        'http://httpbin:8000/ip',
      ],
      30_000,
    );
    return r.code === 0 && r.stdout.includes('"origin"');
  };
  const agentPid = async () => {
    const cni = await pod('istio-system', 'istio-cni-node-worker2');
    const f = join(STATE, 'pids', `pod-${cni.metadata.uid.slice(0, 8)}-install-cni.pid`);
    return Number(/\d+/.exec(readFileSync(f, 'utf8'))![0]);
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  before(async () => {
    const r = await ambit([
      'demo',
      '--name',
      LAB,
      '--no-trace',
      '--redirect',
      'ebpf',
      '--mesh-pods',
    ]);
    if (r.code !== 0) throw new Error(`ambit demo failed:\n${r.stdout}\n${r.stderr}`);
    const list = JSON.parse(await kubectl('get', 'pods', '-n', 'default', '-o', 'json')) as {
      items: PodJson[];
    };
    sleepPod = list.items.find((p) => p.metadata.name.startsWith('sleep'))!.metadata.name;
  });

  after(async () => {
    await ambit(['demo', '--down', '--name', LAB], 120_000);
    // The agent's pins are outside the lab's namespaces: uninstall removes them, so must we.
    await run('rm', ['-rf', join('/sys/fs/bpf', `ambit-${LAB}`)], { allowFail: true });
  });

  void test('requests cross the mesh through the programs: HBONE with identities, no iptables capture', async () => {
    const out0 = count(logOf('ztunnel-worker2', 'istio-proxy'), /direction="?outbound\b/g);
    assert.ok(await curl(), 'sleep → httpbin answered');
    await until(
      'ztunnel A logged it',
      async () => count(logOf('ztunnel-worker2', 'istio-proxy'), /direction="?outbound\b/g) > out0,
      10_000,
    );
    const inbound = readFileSync(logOf('ztunnel-worker', 'istio-proxy'), 'utf8');
    assert.match(inbound, /src\.identity="?spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/);
    assert.equal(await ipsetMembers(W2, 'ztunnel-pods-ips'), undefined, 'no ipset: eBPF only');
    const progs = (await attached()).map((l) => l.split(' ').slice(1, 3).join(' ')).sort();
    assert.deepEqual(progs, [
      'egress app_inbound',
      'ingress app_outbound',
      'ingress ztunnel_host_in',
    ]);
    const rules = await ambit(['node', 'rules', 'worker2', '--lab', LAB], 30_000);
    assert.match(rules.stdout, /app_outbound redirect\s+\d+/);
    assert.match(rules.stdout, /ztunnel_tproxy sk_assign\s+\d+/);
    assert.match(rules.stdout, /10\.244\.2\.8 → host veth ifindex \d+, pod MAC/);
  });

  void test('agent SIGKILL: the restarted agent meets the same programs (no reload), traffic flows', async () => {
    const before = await attached();
    const pid = await agentPid();
    process.kill(pid, 'SIGKILL');
    await until(
      'agent restarted',
      async () =>
        (await agentPid()) !== pid &&
        count(logOf('istio-cni-node-worker2', 'install-cni'), /node agent ready/g) >= 1,
      60_000,
    );
    await sleepMs(1000);
    assert.deepEqual(await attached(), before);
    assert.ok(await curl());
  });

  void test('agent SIGTERM keeps capture; an iptables agent takes the node over with pods running (no filter or pin left); cni uninstall', async () => {
    const before = await attached();
    const spec = await pod('istio-system', 'istio-cni-node-worker2');
    const pid = await agentPid();
    await kubectl('delete', 'pod', '-n', 'istio-system', 'istio-cni-node-worker2', '--wait=false');
    await until('agent exited', () => Promise.resolve(!alive(pid)), 30_000);
    assert.deepEqual(await attached(), before, 'programs stay attached');
    const p0 = count(logOf('ztunnel-worker', 'istio-proxy'), /direction="?inbound_plaintext/g);
    assert.ok(await curl(), 'still answered, through ztunnel');
    assert.equal(
      count(logOf('ztunnel-worker', 'istio-proxy'), /direction="?inbound_plaintext/g),
      p0,
    );
    // Back with the iptables backend: the node switches, pods are captured by the ipset.
    const manifest = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'istio-cni-node-worker2',
        namespace: 'istio-system',
        labels: spec.metadata.labels,
      },
      spec: {
        ...(spec.spec as Record<string, unknown>),
        containers: [{ name: 'install-cni', image: 'ambit/cni', args: ['--redirect', 'iptables'] }],
      },
    };
    await run('kubectl', ['--kubeconfig', join(STATE, 'kubeconfig'), 'apply', '-f', '-'], {
      input: JSON.stringify(manifest),
    });
    await until(
      'iptables capture of sleep',
      async () => ((await ipsetMembers(W2, 'ztunnel-pods-ips'))?.size ?? 0) > 0,
      60_000,
    );
    assert.ok(await curl(), 'answered through the iptables backend');
    await until(
      'the eBPF backend removed by the new agent',
      async () => (await attached()).length === 0,
    );
    assert.ok(!existsSync(PINS), `no pins at ${PINS}`);
    // A running agent would re-capture what uninstall removes: stop it first (uninstall refuses).
    const iptablesAgent = await agentPid();
    await kubectl('delete', 'pod', '-n', 'istio-system', 'istio-cni-node-worker2', '--wait=false');
    await until('iptables agent exited', () => Promise.resolve(!alive(iptablesAgent)), 30_000);
    const r = await ambit(['cni', 'uninstall', '--lab', LAB, '--node', 'worker2'], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await ipsetMembers(W2, 'ztunnel-pods-ips'), undefined, 'uninstall: no ipset');
  });
});
