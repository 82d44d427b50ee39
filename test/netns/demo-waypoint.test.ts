/**
 * `ambit demo --waypoint`: the seeds' cluster with a namespace waypoint on the path. The demo
 * prints httpbin's answer through the waypoint and, from `ss` in each namespace while one
 * request is in flight, the four TCP connections of that request, each seen from both of its
 * ends (same address:port pair reversed): sleep → ztunnel A on the service VIP, ztunnel A →
 * the waypoint's podIP:15008, the waypoint → httpbin's podIP:15008 (ztunnel B), ztunnel B →
 * httpbin:80 from the waypoint's address. Addresses are the pods' real ones, read with kubectl.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../../src/repo.js';
import { run } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const lab = labName('dw');
const ambit = join(repoRoot(), 'bin', 'ambit');
const env = { ...process.env, ...(import.meta.url.endsWith('.ts') ? { AMBIT_TSX: '1' } : {}) };
const demo = (args: string[]) =>
  run(ambit, ['demo', '--name', lab, ...args], { allowFail: true, timeoutMs: 400_000, env });
const kubectl = (args: string[]) =>
  run('kubectl', ['--kubeconfig', `/var/lib/ambit/labs/${lab}/kubeconfig`, ...args], {
    allowFail: true,
    timeoutMs: 60_000,
  });

async function podIp(ns: string, selector: string): Promise<string> {
  const r = await kubectl([
    'get',
    'pods',
    '-n',
    ns,
    '-l',
    selector,
    '-o',
    'jsonpath={.items[0].status.podIP}',
  ]);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\.\d+$/, `${selector}: ${r.stderr}`);
  return r.stdout;
}

const esc = (s: string) => s.replace(/\./g, '\\.');

/** The lines of one numbered hop section of the demo's output. */
function section(lines: string[], n: number): string[] {
  const start = lines.findIndex((l) => new RegExp(`^ {6}${n}\\. `).test(l));
  assert.ok(start >= 0, `no section ${n}`);
  const out: string[] = [];
  for (let i = start + 1; i < lines.length && /^ {8}\S/.test(lines[i]!); i++) out.push(lines[i]!);
  return out;
}

/** A connection seen from both ends: `a:p ↔ b` in one namespace and `b ↔ a:p` in another. */
function bothEnds(rows: string[], from: string, to: string, what: string): void {
  const fwd = rows
    .map((l) => new RegExp(`(${esc(from)}:\\d+) +↔ ${esc(to)}$`).exec(l.trim())?.[1])
    .filter((x): x is string => x !== undefined);
  assert.ok(fwd.length > 0, `${what}: no ${from}:* ↔ ${to} in\n${rows.join('\n')}`);
  assert.ok(
    fwd.some((a) => rows.some((l) => new RegExp(`${esc(to)} +↔ ${esc(a)}$`).test(l.trim()))),
    `${what}: the other end (${to} ↔ ${fwd.join('|')}) not seen in\n${rows.join('\n')}`,
  );
}

after(async () => {
  await demo(['--down']);
});

test(
  'ambit demo --waypoint: the response and the four connections through the waypoint',
  { skip: skipUnlessRoot, timeout: 600_000 },
  async () => {
    const r = await demo(['--waypoint']);
    assert.equal(r.code, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.split('\n');
    assert.match(r.stdout, /waypoint default\/waypoint applied/);
    assert.match(r.stdout, /"url": "http:\/\/httpbin:8000\/get"/);

    const sleep = await podIp('default', 'app=sleep');
    const httpbin = await podIp('default', 'app=httpbin');
    const waypoint = await podIp('default', 'gateway.networking.k8s.io/gateway-name=waypoint');
    // ztunnel A is the one on sleep's node.
    const node = (
      await kubectl(['get', 'pods', '-l', 'app=sleep', '-o', 'jsonpath={.items[0].spec.nodeName}'])
    ).stdout;
    const ztA = (
      await kubectl([
        'get',
        'pod',
        '-n',
        'istio-system',
        `ztunnel-${node}`,
        '-o',
        'jsonpath={.status.podIP}',
      ])
    ).stdout;
    assert.match(ztA, /^\d+\.\d+\.\d+\.\d+$/, `no ztunnel on ${node}`);
    const vip = (await kubectl(['get', 'svc', 'httpbin', '-o', 'jsonpath={.spec.clusterIP}']))
      .stdout;
    assert.match(vip, /^\d+\.\d+\.\d+\.\d+$/);

    bothEnds(section(lines, 1), sleep, `${vip}:8000`, 'sleep → ztunnel A');
    bothEnds(section(lines, 2), ztA, `${waypoint}:15008`, 'ztunnel A → waypoint');
    bothEnds(section(lines, 3), waypoint, `${httpbin}:15008`, 'waypoint → ztunnel B');
    bothEnds(section(lines, 4), waypoint, `${httpbin}:80`, 'ztunnel B → httpbin');
    // The waypoint served that request with sleep's identity from the HBONE peer certificate.
    assert.match(
      r.stdout,
      /"GET \/delay\/3 HTTP\/1\.1" 200 .*src\.identity=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/,
    );
  },
);
