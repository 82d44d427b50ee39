/**
 * Real kubectl against a lab through the streaming subresources the kubelet serves:
 * `kubectl exec` (WebSocket v5 channel protocol: stdout, stderr, stdin, exit code),
 * `kubectl logs` (tail, follow, previous, container) and `kubectl port-forward` (SPDY
 * tunnelled in WebSocket) with the forwarded port answering HTTP from the pod.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';
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
      const port = 20_000 + (process.pid % 20_000);
      const pf = spawn(
        'kubectl',
        ['--kubeconfig', kubeconfig, 'port-forward', 'deploy/httpbin', `${port}:80`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      pf.stdout.on('data', (b: Buffer) => (out += b.toString()));
      pf.stderr.on('data', (b: Buffer) => (out += b.toString()));
      try {
        await until(
          'port-forward listening',
          () => Promise.resolve(out.includes('Forwarding from 127.0.0.1') ? true : undefined),
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
  },
);
