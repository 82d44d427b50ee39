/**
 * Real kubectl against a lab through the streaming subresources the kubelet serves:
 * `kubectl exec` (WebSocket v5 channel protocol: stdout, stderr, stdin, exit code),
 * `kubectl logs` (tail, follow, previous, container) and `kubectl port-forward` (SPDY
 * tunnelled in WebSocket) with the forwarded port answering HTTP from the pod; then, on the
 * same lab, every other verb issue #16 lists (version, create, wait, get, describe, events,
 * run, scale, rollout restart, label, diff, client- and server-side apply with a conflict,
 * a CRD and a custom resource validated by its schema, explain, can-i, delete).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';
import { externalDir } from '../helpers/external.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('ks');
const kubeconfig = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', N, 'kubeconfig');

function ambit(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { allowFail: true, timeoutMs });
}
function kubectl(args: string[], input?: string, timeoutMs = 60_000): Promise<RunResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    allowFail: true,
    input,
    timeoutMs,
  });
}
/** kubectl that must succeed: its stdout. */
async function ok(args: string[], input?: string, timeoutMs?: number): Promise<string> {
  const r = await kubectl(args, input, timeoutMs);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A pod whose first container counts and crashes (so it has a previous instance), with a
// second container to address by name.
const crasher = `
apiVersion: v1
kind: Pod
metadata: {name: counter, namespace: default}
spec:
  containers:
  - name: count
    image: ambit/sleep
    command: [sh, -c, 'echo run-$$; for i in 1 2 3; do echo tick $i; sleep 0.3; done; exit 2']
  - name: side
    image: ambit/sleep
    command: [sh, -c, 'echo side-started; exec sleep 3600']
`;

void describe(
  'kubectl exec, logs, port-forward',
  { skip: skipUnlessRoot, timeout: 300_000 },
  () => {
    before(async () => {
      const r = await ambit(['lab', 'up', '--name', N, '--timeout', '120'], 180_000);
      assert.equal(r.code, 0, `lab up failed:\n${r.stdout}\n${r.stderr}`);
    });

    after(async () => {
      const r = await ambit(['lab', 'down', '--name', N], 120_000);
      assert.equal(r.code, 0, r.stderr);
    });

    void it('exec streams stdout and stderr apart, passes stdin and the exit code', async () => {
      const r = await kubectl([
        'exec',
        'deploy/sleep',
        '--',
        'sh',
        '-c',
        'echo out-$((6*7)); echo err-line >&2; exit 3',
      ]);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, 'out-42\n');
      assert.match(r.stderr, /err-line/);
      assert.doesNotMatch(r.stdout, /err-line/);
      const cat = await kubectl(
        ['exec', '-i', 'deploy/sleep', '--', 'wc', '-c'],
        'x'.repeat(100_000),
      );
      assert.equal(cat.code, 0, cat.stderr);
      assert.equal(cat.stdout.trim(), '100000');
      const missing = await kubectl(['exec', 'deploy/sleep', '--', 'no-such-program-lp']);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /no-such-program-lp/);
    });

    void it('exec runs inside the pod (its address, its network)', async () => {
      const r = await kubectl([
        'exec',
        'deploy/sleep',
        '--',
        'ip',
        '-4',
        '-o',
        'addr',
        'show',
        'eth0',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /inet 10\.244\.2\.8\/32/);
    });

    void it('logs: tail, previous, follow and a named container', async () => {
      const a = await kubectl(['apply', '-f', '-'], crasher);
      assert.equal(a.code, 0, a.stderr);
      // Wait for a restart, so there is a previous instance.
      await until('counter restarted', async () => {
        const r = await kubectl([
          'get',
          'pod',
          'counter',
          '-o',
          'jsonpath={.status.containerStatuses[?(@.name=="count")].restartCount}',
        ]);
        return Number(r.stdout) >= 1 ? true : undefined;
      });
      const prev = await kubectl(['logs', 'counter', '-c', 'count', '--previous']);
      assert.equal(prev.code, 0, prev.stderr);
      assert.match(prev.stdout, /^run-\d+\ntick 1\ntick 2\ntick 3\n$/);
      const side = await kubectl(['logs', 'counter', '-c', 'side']);
      assert.equal(side.stdout, 'side-started\n');
      const noName = await kubectl(['logs', 'pod/counter', '--all-containers=false', '-c', 'nope']);
      assert.notEqual(noName.code, 0);
      assert.match(noName.stderr, /container nope is not valid/);
      // Follow one instance from its start to its exit; tail 1 of a finished one.
      const followed = await until('a whole instance followed', async () => {
        const f = await kubectl(['logs', '-f', 'counter', '-c', 'count'], undefined, 20_000);
        return /^run-\d+\ntick 1\ntick 2\ntick 3\n$/.test(f.stdout) ? f.stdout : undefined;
      });
      assert.match(followed, /tick 3\n$/);
      const tail = await kubectl(['logs', 'counter', '-c', 'count', '--previous', '--tail=1']);
      assert.equal(tail.stdout, 'tick 3\n');
      const httpbin = await kubectl(['logs', 'deploy/httpbin', '--tail=5']);
      assert.equal(httpbin.code, 0, httpbin.stderr);
      assert.match(httpbin.stdout, /httpbin listening/);
      await kubectl(['delete', 'pod', 'counter', '--grace-period=0']);
    });

    void it('port-forward to a Deployment answers from the pod', async () => {
      // `:80`: kubectl picks a free local port and names it (no clash with other files).
      const pf = spawn(
        'kubectl',
        ['--kubeconfig', kubeconfig, 'port-forward', 'deploy/httpbin', ':80'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      pf.stdout.on('data', (b: Buffer) => (out += b.toString()));
      pf.stderr.on('data', (b: Buffer) => (out += b.toString()));
      try {
        const port = await until(
          'port-forward listening',
          () => Promise.resolve(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1]),
          20_000,
        );
        for (let i = 0; i < 3; i++) {
          const r = await run(
            'curl',
            ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/headers`],
            { allowFail: true },
          );
          assert.equal(r.code, 0, `${r.stderr}\n${out}`);
          assert.match(r.stdout, new RegExp(`"Host": "127\\.0\\.0\\.1:${port}"`));
        }
        const big = await run(
          'curl',
          [
            '-sS',
            '--max-time',
            '10',
            '-o',
            '/dev/null',
            '-w',
            '%{size_download}',
            `http://127.0.0.1:${port}/bytes/300000`,
          ],
          { allowFail: true },
        );
        assert.equal(big.code, 0, big.stderr);
        assert.equal(big.stdout, '300000');
        assert.doesNotMatch(out, /lost connection|error/i);
      } finally {
        pf.kill('SIGTERM');
      }
    });

    void it('every other verb of #16: the lab answers as a cluster does', async () => {
      const ns = ['-n', 'verbs'];
      assert.match(await ok(['version']), /^Server Version: v1\.32/m);
      assert.match(await ok(['create', 'namespace', 'verbs']), /namespace\/verbs created/);
      assert.match(
        await ok(['create', 'deployment', 'web', '--image=ambit/httpbin', '--port=80', ...ns]),
        /deployment.apps\/web created/,
      );
      assert.match(
        await ok(
          ['wait', '--for=condition=Available', 'deploy/web', '--timeout=120s', ...ns],
          undefined,
          150_000,
        ),
        /deployment.apps\/web condition met/,
      );
      assert.match(
        await ok(['run', 'probe', '--image=ambit/sleep', ...ns, '--', 'sleep', '3600']),
        /pod\/probe created/,
      );
      assert.match(await ok(['scale', 'deploy/web', '--replicas=2', ...ns]), /scaled/);
      assert.match(await ok(['label', 'deploy/web', 'tier=front', ...ns]), /labeled/);
      assert.match(await ok(['rollout', 'restart', 'deploy/web', ...ns]), /restarted/);
      assert.match(
        await ok(['rollout', 'status', 'deploy/web', '--timeout=120s', ...ns], undefined, 150_000),
        /successfully rolled out/,
      );
      assert.match(
        await ok(['get', 'deploy', 'web', '-o', 'jsonpath={.status.readyReplicas}', ...ns]),
        /^2$/,
      );
      assert.match(
        await ok(['describe', 'deploy/web', ...ns]),
        /^Labels:\s+app=web\s*\n\s+tier=front$/m,
      );
      assert.match(await ok(['events', ...ns]), /probe/);
      // The Service kubectl expose makes, and its EndpointSlice with both pods.
      await ok(['expose', 'deploy/web', '--port=8000', '--target-port=80', ...ns]);
      const slice = await until('an EndpointSlice with two endpoints', async () => {
        const r = await kubectl([
          'get',
          'endpointslices',
          '-l',
          'kubernetes.io/service-name=web',
          '-o',
          'jsonpath={.items[*].endpoints[*].addresses[0]}',
          ...ns,
        ]);
        return r.stdout.trim().split(' ').filter(Boolean).length === 2 ? r.stdout : undefined;
      });
      assert.match(slice, /^10\.244\.\d+\.\d+ 10\.244\.\d+\.\d+$/);
      const pong = await ok([
        'exec',
        'probe',
        ...ns,
        '--',
        'curl',
        '-s',
        '--max-time',
        '10',
        'http://web:8000/get',
      ]);
      assert.match(pong, /"url": "http:\/\/web:8000\/get"/);

      // Client-side apply, diff, then server-side apply: a conflict with another manager.
      const cm = (v: string): string =>
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'conf', namespace: 'verbs' },
          data: { level: v },
        });
      assert.match(await ok(['apply', '-f', '-'], cm('1')), /configmap\/conf created/);
      const diff = await kubectl(['diff', '-f', '-'], cm('2'));
      assert.equal(diff.code, 1, diff.stderr);
      assert.match(diff.stdout, /^-\s+level: "1"$/m);
      assert.match(diff.stdout, /^\+\s+level: "2"$/m);
      await ok(['apply', '--server-side', '--field-manager=alice', '-f', '-'], cm('1'));
      const conflict = await kubectl(
        ['apply', '--server-side', '--field-manager=bob', '-f', '-'],
        cm('2'),
      );
      assert.notEqual(conflict.code, 0);
      // kubectl moved the client-side apply's fields to alice's apply (its migration); bob conflicts.
      assert.match(
        conflict.stderr,
        /Apply failed with 1 conflict: conflict with "alice": \.data\.level\n/,
      );
      await ok(
        ['apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', '-'],
        cm('2'),
      );
      assert.equal(await ok(['get', 'cm', 'conf', '-o', 'jsonpath={.data.level}', ...ns]), '2');
      assert.match(
        await ok([
          'get',
          'cm',
          'conf',
          '--show-managed-fields',
          '-o',
          'jsonpath={.metadata.managedFields[*].manager}',
          ...ns,
        ]),
        /\bbob\b/,
      );

      // A CRD applied from the Gateway API release, and objects of its kind checked by its schema.
      const crd = join(externalDir(), 'gateway-api', 'experimental-tcproute.yaml');
      assert.match(
        await ok(['apply', '-f', crd]),
        /tcproutes.gateway.networking.k8s.io (created|configured|unchanged)/,
      );
      assert.match(
        await ok(['get', 'crd', 'tcproutes.gateway.networking.k8s.io']),
        /^tcproutes\.gateway\.networking\.k8s\.io\s/m,
      );
      const route = (port: number): string =>
        `apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {name: r, namespace: verbs}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - backendRefs: [{name: web, port: ${port}}]\n`;
      const bad = await kubectl(['apply', '-f', '-'], route(70000));
      assert.notEqual(bad.code, 0);
      assert.match(
        bad.stderr,
        /The TCPRoute "r" is invalid: spec\.rules\[0\]\.backendRefs\[0\]\.port: Invalid value: 70000/,
      );
      assert.match(
        await ok(['apply', '-f', '-'], route(8000)),
        /tcproute.gateway.networking.k8s.io\/r created/,
      );
      assert.match(await ok(['get', 'tcproutes', ...ns]), /^r\s/m);
      assert.match(
        await ok(['explain', 'tcproute.spec.rules.backendRefs.port']),
        /^FIELD: port <integer>$/m,
      );

      // can-i as the bindings say: the admin, a kubelet (Node authorizer), a mesh account.
      assert.equal((await ok(['auth', 'can-i', 'delete', 'nodes'])).trim(), 'yes');
      const asNode = ['--as=system:node:worker', '--as-group=system:nodes'];
      assert.equal(
        (await kubectl(['auth', 'can-i', 'get', 'secrets', ...ns, ...asNode])).stdout.trim(),
        'no - can only get individual resources of this type',
      );
      assert.equal(
        (await ok(['auth', 'can-i', 'update', 'nodes/worker', ...asNode])).trim(),
        'yes',
      );
      assert.equal(
        (
          await kubectl([
            'auth',
            'can-i',
            'list',
            'pods',
            '-A',
            '--as=system:serviceaccount:istio-system:ztunnel',
          ])
        ).stdout.trim(),
        'no',
      );

      assert.match(await ok(['delete', 'tcproute', 'r', ...ns]), /deleted/);
      assert.match(
        await ok(['delete', 'namespace', 'verbs', '--timeout=120s'], undefined, 150_000),
        /namespace "verbs" deleted/,
      );
    });
  },
);
