/**
 * Istio's httpbin and curl samples, applied unmodified (`test/external/istio/samples`) into an
 * enrolled namespace of a lab whose mesh came from `ambit manifest generate | kubectl apply -f -`
 * (followed with `kubectl rollout status`), answer each other through the mesh:
 * `kubectl exec deploy/curl -- curl -s http://httpbin:8000/get` shows go-httpbin's JSON with
 * the curl pod's own IP as origin, the curl pod's hostname is its name, and the destination
 * ztunnel logged the connection with curl's SPIFFE identity. An image the kubelet does not
 * know is an ErrImagePull-like waiting state listing the known images.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { run, type RunResult } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';
import { externalDir } from '../helpers/external.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('is');
const kubeconfig = labPaths(N).kubeconfig;
const samples = process.env.ISTIO_SAMPLES ?? join(externalDir(), 'istio', 'samples');
const CURL_ID = 'spiffe://cluster.local/ns/default/sa/curl';

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
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const skip = skipUnlessRoot || (existsSync(samples) ? false : `no Istio samples at ${samples}`);

void describe(
  "Istio's httpbin and curl samples through the mesh",
  { skip, timeout: 400_000 },
  () => {
    before(async () => {
      const r = await ambit(
        ['lab', 'up', '--name', N, '--no-scenario', '--timeout', '120'],
        180_000,
      );
      assert.equal(r.code, 0, `lab up failed:\n${r.stdout}\n${r.stderr}`);
      // The README's other real-cluster path: the manifests piped into kubectl, then followed
      // with kubectl rollout status.
      const gen = await ambit(['manifest', 'generate']);
      assert.equal(gen.code, 0, gen.stderr);
      const applied = await kubectl(['apply', '-f', '-'], gen.stdout);
      assert.equal(applied.code, 0, applied.stderr);
      for (const w of ['deployment/istiod', 'daemonset/istio-cni-node', 'daemonset/ztunnel']) {
        const r = await kubectl(
          ['-n', 'istio-system', 'rollout', 'status', w, '--timeout=150s'],
          undefined,
          180_000,
        );
        assert.equal(r.code, 0, `${w}: ${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /successfully rolled out/);
      }
    });

    after(async () => {
      const r = await ambit(['lab', 'down', '--name', N], 120_000);
      assert.equal(r.code, 0, r.stderr);
    });

    void it('curl reaches httpbin:8000 over HBONE with its own IP and identity', async () => {
      const label = await kubectl([
        'label',
        'namespace',
        'default',
        'istio.io/dataplane-mode=ambient',
      ]);
      assert.equal(label.code, 0, label.stderr);
      for (const f of ['httpbin/httpbin.yaml', 'curl/curl.yaml']) {
        const a = await kubectl(['apply', '-f', join(samples, f)]);
        assert.equal(a.code, 0, a.stderr);
      }
      const w = await kubectl([
        'wait',
        '--for=condition=Ready',
        'pod',
        '-l',
        'app in (httpbin,curl)',
        '--timeout=120s',
      ]);
      assert.equal(w.code, 0, w.stderr);
      const pod = JSON.parse(
        (await kubectl(['get', 'pods', '-l', 'app=curl', '-o', 'json'])).stdout,
      ) as { items: { metadata: { name: string }; status: { podIP: string } }[] };
      const curlPod = pod.items[0]!;

      const body = await until('httpbin answering through the mesh', async () => {
        const r = await kubectl([
          'exec',
          'deploy/curl',
          '--',
          'curl',
          '-s',
          'http://httpbin:8000/get',
        ]);
        return r.code === 0 && r.stdout.startsWith('{') ? r.stdout : undefined;
      });
      const got = JSON.parse(body) as {
        args: unknown;
        headers: Record<string, string[]>;
        method: string;
        origin: string;
        url: string;
      };
      assert.equal(got.origin, curlPod.status.podIP);
      assert.equal(got.method, 'GET');
      assert.equal(got.url, 'http://httpbin:8000/get');
      assert.deepEqual(got.headers.Host, ['httpbin:8000']);
      assert.match(got.headers['User-Agent']?.[0] ?? '', /^curl\//);

      const host = await kubectl(['exec', 'deploy/curl', '--', 'hostname']);
      assert.equal(host.stdout.trim(), curlPod.metadata.name);

      // The connection went through the destination's ztunnel with curl's identity.
      const httpbinNode = (
        await kubectl([
          'get',
          'pods',
          '-l',
          'app=httpbin',
          '-o',
          'jsonpath={.items[0].spec.nodeName}',
        ])
      ).stdout;
      await until('ztunnel access log line', async () => {
        const logs = await kubectl(['logs', '-n', 'istio-system', `ztunnel-${httpbinNode}`]);
        return logs.stdout.includes(`src.identity=${CURL_ID}`) ? true : undefined;
      });
    });

    void it('an unknown image is ErrImagePull naming the known images', async () => {
      const c = await kubectl(['run', 'unknown', '--image=example.com/nothing:1']);
      assert.equal(c.code, 0, c.stderr);
      const waiting = await until('the pod to report its image', async () => {
        const r = await kubectl([
          'get',
          'pod',
          'unknown',
          '-o',
          'jsonpath={.status.containerStatuses[0].state.waiting}',
        ]);
        return r.stdout.includes('ErrImagePull') ? r.stdout : undefined;
      });
      assert.match(waiting, /example\.com\/nothing:1/);
      assert.match(waiting, /mccutchen\/go-httpbin/);
      assert.match(waiting, /curlimages\/curl/);
      await kubectl(['delete', 'pod', 'unknown', '--grace-period=0']);
    });
  },
);
