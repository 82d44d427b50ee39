/**
 * A namespace waypoint in the real lab, as a user makes one: `ambit demo` (mesh, default
 * enrolled), `ambit waypoint apply --enroll-namespace --wait`, then sleep → ztunnel A →
 * waypoint → ztunnel B → httpbin answers 200 and the waypoint logs the request with sleep's
 * identity; a kubectl AuthorizationPolicy targeting the Gateway denies one path with 403
 * `RBAC: access denied` while others pass.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../../src/repo.js';
import { run } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const lab = labName('wx');
const ambit = join(repoRoot(), 'bin', 'ambit');
const env = { ...process.env, ...(import.meta.url.endsWith('.ts') ? { AMBIT_TSX: '1' } : {}) };
const cli = (args: string[], input?: string) =>
  run(ambit, args, { allowFail: true, timeoutMs: 300_000, env, input });
const kubeconfig = () => `/var/lib/ambit/labs/${lab}/kubeconfig`;
const kubectl = (args: string[], input?: string) =>
  run('kubectl', ['--kubeconfig', kubeconfig(), ...args], {
    allowFail: true,
    timeoutMs: 60_000,
    input,
  });
const curl = (path: string) =>
  cli([
    'lab',
    'exec',
    '--name',
    lab,
    'sleep',
    '--',
    'curl',
    '-sS',
    '-m',
    '5',
    '-w',
    ' %{http_code}',
    `http://httpbin:8000${path}`,
  ]);

async function eventually(what: string, f: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 30; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.fail(`${what} did not happen within 30 s`);
}

after(async () => {
  await cli(['demo', '--down', '--name', lab]);
});

test(
  'namespace waypoint in front of httpbin: routing through it and an L7 deny',
  { skip: skipUnlessRoot, timeout: 600_000 },
  async () => {
    const d = await cli(['demo', '--name', lab, '--no-trace']);
    assert.equal(d.code, 0, `demo failed:\n${d.stdout}\n${d.stderr}`);
    const w = await cli([
      'waypoint',
      'apply',
      '-n',
      'default',
      '--enroll-namespace',
      '--wait',
      '--lab',
      lab,
    ]);
    assert.equal(w.code, 0, `waypoint apply failed:\n${w.stdout}\n${w.stderr}`);
    assert.match(w.stdout, /waypoint default\/waypoint applied/);
    await eventually('a 200 through the waypoint', async () =>
      (await curl('/get')).stdout.endsWith(' 200'),
    );
    const pods = await kubectl([
      'get',
      'pods',
      '-n',
      'default',
      '-l',
      'gateway.networking.k8s.io/gateway-name=waypoint',
      '-o',
      'name',
    ]);
    const pod = pods.stdout.trim().split('/')[1] ?? '';
    assert.ok(pod, 'no waypoint pod');
    const logs = await cli(['lab', 'logs', '--name', lab, pod]);
    assert.match(
      logs.stdout + logs.stderr,
      /"GET \/get HTTP\/1\.1" 200 .*src\.identity=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/,
    );

    const policy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-status, namespace: default}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/status/*"]}}]}]
`;
    const a = await kubectl(['apply', '-f', '-'], policy);
    assert.equal(a.code, 0, a.stderr);
    await eventually(
      'the DENY policy',
      async () => (await curl('/status/200')).stdout === 'RBAC: access denied 403',
    );
    assert.ok((await curl('/get')).stdout.endsWith(' 200'));
  },
);
