/**
 * Istio's ambient getting-started guide (../shared/reference/istio-getting-started.md), step by
 * step, on a fresh lab with no mesh, with the guide's own commands as real processes (kubectl,
 * curl, `ambit` for istioctl) and its manifests unmodified from ../shared/external:
 *   0 install: `ambit install --set profile=ambient --skip-confirmation` prints istioctl's lines;
 *   1 bookinfo + its Gateway: `kubectl get gateway` shows class istio, the gateway's address and
 *     PROGRAMMED True; through `kubectl port-forward svc/bookinfo-gateway-istio` the productpage
 *     title; headless Chromium renders the page with the book's details and reviews v2's stars;
 *   2 `kubectl label namespace default istio.io/dataplane-mode=ambient`: no pod restarts; the
 *     visualize step with the Prometheus addon (samples/addons/prometheus.yaml, ambit's copy in
 *     Istio's shape) after the guide's 100-request loop: istio_requests_total (the gateway's,
 *     reporter source) and istio_tcp_connections_opened_total (ztunnel's) through its HTTP API;
 *   3 L4 policy: curl's request fails with exit code 56, the gateway still works; waypoint via
 *     `ambit waypoint apply --enroll-namespace --wait`; L7 policy: DELETE and reviews-v1 get
 *     `RBAC: access denied`, GET works; `istio.io/ingress-use-waypoint=true` on productpage sends
 *     the gateway's requests through the waypoint (its L7 policy then refuses them, and its
 *     access log names the gateway's identity), removing the label sends them direct again;
 *   4 the 90/10 HTTPRoute: 100 requests show reviews-v1 and v2, never v3;
 *   5 clean-up in the guide's order, `ambit uninstall -y --purge`: no rule, ipset, link or
 *     object left.
 * One difference from the guide: the port-forward takes a free local port instead of 8080, as
 * tests run in parallel on one machine.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { repoRoot } from '../../src/repo.js';
import { externalDir } from '../helpers/external.js';
import { run, type RunResult } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('gd');
const kubeconfig = labPaths(N).kubeconfig;
const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig };
delete env.AMBIT_LAB;
const external = externalDir();
const samples = join(external, 'istio');
const gatewayApi = join(external, 'gateway-api', 'standard-install.yaml');
// The guide's AuthorizationPolicies (inline in the guide) as files, for the README's commands too.
const policies = join(repoRoot(), 'examples', 'getting-started');
// The addon is ambit's own, in the shape of Istio's samples/addons/prometheus.yaml.
const addons = join(repoRoot(), 'samples', 'addons', 'prometheus.yaml');
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

function sh(cmd: string, args: string[], input?: string, timeoutMs = 120_000): Promise<RunResult> {
  return run(cmd, args, { allowFail: true, input, timeoutMs, env });
}
const kubectl = (args: string[], input?: string) => sh('kubectl', args, input);
const ambit = (args: string[], timeoutMs = 240_000) =>
  sh(process.execPath, [bin, ...args], undefined, timeoutMs);
const ok = (r: RunResult, what: string) =>
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const curlProductpage = (extra: string[] = []) =>
  kubectl([
    'exec',
    'deploy/curl',
    '--',
    'curl',
    '-s',
    'http://productpage:9080/productpage',
    ...extra,
  ]);

async function nodeState(node: string): Promise<string> {
  const ns = `${N}-${node}`;
  const rules = (await run('iptables-save', [], { netns: ns })).stdout
    .split('\n')
    .filter((l) => /ztunnel|ISTIO/.test(l)).length;
  const sets = (await run('ipset', ['list', '-n'], { netns: ns })).stdout.trim();
  const links = (await run('ip', ['-n', ns, '-o', 'link'])).stdout.match(/istio\w*/g) ?? [];
  const prules = (await run('ip', ['-n', ns, 'rule'])).stdout
    .split('\n')
    .filter((l) => /^10[0-3]:/.test(l)).length;
  return `rules=${rules} ipsets=[${sets}] links=[${[...new Set(links)].join(' ')}] iprules=${prules}`;
}

interface PodList {
  items: {
    metadata: { name: string; uid: string };
    status: { containerStatuses?: { restartCount: number }[] };
  }[];
}
async function pods(): Promise<Map<string, { uid: string; restarts: number }>> {
  const r = await kubectl(['get', 'pods', '-n', 'default', '-o', 'json']);
  ok(r, 'kubectl get pods');
  const l = JSON.parse(r.stdout) as PodList;
  return new Map(
    l.items.map((p) => [
      p.metadata.name,
      {
        uid: p.metadata.uid,
        restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
      },
    ]),
  );
}

const skip =
  skipUnlessRoot ||
  (existsSync(samples) ? false : `no Istio samples at ${samples} (set AMBIT_EXTERNAL)`);

void describe("Istio's ambient getting-started guide on ambit", { skip, timeout: 900_000 }, () => {
  let forward: ChildProcess | undefined;
  let port = 0;
  const page = (path = '/productpage') =>
    sh('curl', ['-s', '-m', '20', `http://127.0.0.1:${port}${path}`]);

  before(async () => {
    const r = await ambit(['lab', 'up', '--name', N, '--no-scenario', '--timeout', '120'], 180_000);
    ok(r, 'lab up');
  });

  after(async () => {
    forward?.kill('SIGTERM');
    const r = await ambit(['lab', 'down', '--name', N], 120_000);
    assert.equal(r.code, 0, r.stderr);
  });

  void it('0: ambit install --set profile=ambient --skip-confirmation; the Gateway API CRDs', async () => {
    const r = await ambit(['install', '--set', 'profile=ambient', '--skip-confirmation']);
    ok(r, 'ambit install');
    for (const line of [
      '✔ Istio core installed ⛵️',
      '✔ Istiod installed 🧠',
      '✔ CNI installed 🪢',
      '✔ Ztunnel installed 🔒️',
      '✔ Installation complete',
    ])
      assert.ok(r.stdout.includes(line), `missing ${JSON.stringify(line)} in:\n${r.stdout}`);
    // The guide installs the CRDs only when absent (the lab serves them already).
    const crd = await sh('sh', [
      '-c',
      `kubectl get crd gateways.gateway.networking.k8s.io > /dev/null 2>&1 || kubectl apply -f ${gatewayApi}`,
    ]);
    ok(crd, 'Gateway API CRDs');
  });

  void it('1: bookinfo and its gateway; the productpage through kubectl port-forward', async () => {
    for (const f of [
      'samples/bookinfo/platform/kube/bookinfo.yaml',
      'samples/bookinfo/platform/kube/bookinfo-versions.yaml',
      'samples/bookinfo/gateway-api/bookinfo-gateway.yaml',
    ])
      ok(await kubectl(['apply', '-f', join(samples, f)]), `kubectl apply -f ${f}`);
    ok(
      await kubectl([
        'annotate',
        'gateway',
        'bookinfo-gateway',
        'networking.istio.io/service-type=ClusterIP',
        '--namespace=default',
      ]),
      'annotate',
    );
    const row = await until('the gateway programmed', async () => {
      const g = await kubectl(['get', 'gateway']);
      const line = g.stdout.split('\n').find((l) => l.startsWith('bookinfo-gateway '));
      return line && /\sTrue\s/.test(line) ? line : undefined;
    });
    assert.match(
      row,
      /^bookinfo-gateway\s+istio\s+bookinfo-gateway-istio\.default\.svc\.cluster\.local\s+True\s/,
    );
    ok(
      await kubectl([
        'wait',
        '--for=condition=Ready',
        'pod',
        '--all',
        '-n',
        'default',
        '--timeout=180s',
      ]),
      'bookinfo pods ready',
    );
    port = await freePort();
    forward = spawn('kubectl', ['port-forward', 'svc/bookinfo-gateway-istio', `${port}:80`], {
      env,
      stdio: 'ignore',
    });
    const title = await until('the productpage through the gateway', async () => {
      const r = await page();
      return /<title>.*<\/title>/.exec(r.stdout)?.[0];
    });
    assert.equal(title, '<title>Simple Bookstore App</title>');
    assert.equal(
      (
        await sh('curl', [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `http://127.0.0.1:${port}/nothing`,
        ])
      ).stdout,
      '404',
    );
  });

  void it(
    '1: headless Chromium renders the book details and reviews v2 with its stars',
    { skip: chromium ? false : 'no chromium' },
    async () => {
      const profile = mkdtempSync(join(tmpdir(), 'gd-chromium-'));
      try {
        // Reviews are spread over v1, v2 and v3: load until v2 answered (bounded).
        let dom = '';
        for (let i = 0; i < 20 && !/reviews-v2-/.test(dom); i++) {
          const r = await sh(
            chromium!,
            [
              '--headless',
              '--no-sandbox',
              '--disable-gpu',
              `--user-data-dir=${profile}`,
              '--dump-dom',
              `http://127.0.0.1:${port}/productpage`,
            ],
            undefined,
            60_000,
          );
          dom = r.stdout;
        }
        assert.match(dom, /<title>Simple Bookstore App<\/title>/);
        assert.match(dom, /The Comedy of Errors/);
        assert.match(dom, /Book Details[\s\S]*ISBN-10/);
        assert.match(dom, /Book Reviews[\s\S]*Reviewer1/);
        assert.match(dom, /Reviews served by:[\s\S]*reviews-v2-/);
        const black = dom.match(/glyphicon-star" style="color: black"/g) ?? [];
        assert.ok(black.length >= 2, `reviews v2 shows black stars:\n${dom.slice(0, 3000)}`);
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );

  void it('2: kubectl label namespace default istio.io/dataplane-mode=ambient restarts no pod', async () => {
    const before = await pods();
    ok(
      await kubectl(['label', 'namespace', 'default', 'istio.io/dataplane-mode=ambient']),
      'label',
    );
    const title = await until('the productpage through the mesh', async () =>
      /<title>Simple Bookstore App<\/title>/.test((await page()).stdout) ? true : undefined,
    );
    assert.ok(title);
    const now = await pods();
    assert.deepEqual([...now.keys()].sort(), [...before.keys()].sort());
    for (const [name, p] of now) {
      assert.equal(p.uid, before.get(name)?.uid, `${name} was replaced`);
      assert.equal(p.restarts, 0, `${name} restarted`);
    }
  });

  void it('2: visualize: the Prometheus addon shows istio_requests_total and istio_tcp_connections_opened_total', async () => {
    ok(await kubectl(['apply', '-f', addons]), 'kubectl apply -f samples/addons/prometheus.yaml');
    ok(
      await kubectl([
        '-n',
        'istio-system',
        'wait',
        '--for=condition=Ready',
        'pod',
        '-l',
        'app.kubernetes.io/name=prometheus',
        '--timeout=120s',
      ]),
      'prometheus ready',
    );
    // The guide's traffic loop, through the port-forward.
    const loop = await sh(
      'sh',
      [
        '-c',
        `for i in $(seq 1 100); do curl -sSI -o /dev/null http://localhost:${port}/productpage; done`,
      ],
      undefined,
      300_000,
    );
    ok(loop, 'the traffic loop');
    const query = async (promql: string): Promise<number> => {
      const r = await kubectl([
        '-n',
        'istio-system',
        'exec',
        'deploy/prometheus',
        '--',
        'curl',
        '-sS',
        '-G',
        'http://localhost:9090/api/v1/query',
        '--data-urlencode',
        `query=${promql}`,
      ]);
      const body = JSON.parse(r.stdout) as {
        status: string;
        data: { result: { value: [number, string] }[] };
      };
      return body.data.result.reduce((n, x) => n + Number(x.value[1]), 0);
    };
    const requests = await until(
      'istio_requests_total of the gateway → productpage',
      async () => {
        const n = await query(
          'istio_requests_total{reporter="source",destination_service_name="productpage"}',
        );
        return n >= 100 ? n : undefined;
      },
      150_000,
    );
    const tcp = await until(
      'istio_tcp_connections_opened_total into productpage',
      async () => {
        const n = await query(
          'istio_tcp_connections_opened_total{destination_workload="productpage-v1"}',
        );
        return n > 0 ? n : undefined;
      },
      150_000,
    );
    console.log(
      `# prometheus: istio_requests_total (gateway → productpage) ${requests}, istio_tcp_connections_opened_total (→ productpage-v1) ${tcp}`,
    );
  });

  void it('3: L4 policy: curl is denied (exit 56), the gateway is allowed', async () => {
    ok(
      await kubectl(['apply', '-f', join(policies, 'productpage-ztunnel.yaml')]),
      'productpage-ztunnel',
    );
    ok(await kubectl(['apply', '-f', join(samples, 'samples/curl/curl.yaml')]), 'curl.yaml');
    ok(
      await kubectl(['wait', '--for=condition=Ready', 'pod', '-l', 'app=curl', '--timeout=120s']),
      'curl ready',
    );
    const code = await until('curl denied at L4', async () => {
      const r = await curlProductpage();
      return r.code === 56 ? r.code : undefined;
    });
    assert.equal(code, 56);
    assert.match((await page()).stdout, /<title>Simple Bookstore App<\/title>/);
  });

  void it('3: ambit waypoint apply --enroll-namespace --wait; L7 policy denies DELETE and reviews-v1', async () => {
    const w = await ambit(['waypoint', 'apply', '--enroll-namespace', '--wait']);
    ok(w, 'ambit waypoint apply');
    assert.match(w.stdout, /waypoint default\/waypoint applied/);
    assert.match(w.stdout, /namespace default labeled with "istio.io\/use-waypoint: waypoint"/);
    const gtw = await kubectl(['get', 'gtw', 'waypoint']);
    assert.match(gtw.stdout, /^waypoint\s+istio-waypoint\s+\S+\s+True\s/m);
    ok(await kubectl(['apply', '-f', join(policies, 'l7-policies.yaml')]), 'L7 policies');
    const denied = await until('DELETE denied by the waypoint', async () => {
      const r = await curlProductpage(['-X', 'DELETE']);
      return r.stdout.trim() === 'RBAC: access denied' ? r : undefined;
    });
    assert.equal(denied.code, 0);
    const v1 = await kubectl([
      'exec',
      'deploy/reviews-v1',
      '--',
      'curl',
      '-s',
      'http://productpage:9080/productpage',
    ]);
    assert.equal(v1.stdout.trim(), 'RBAC: access denied');
    const get = await sh('sh', [
      '-c',
      'kubectl exec deploy/curl -- curl -s http://productpage:9080/productpage | grep -o "<title>.*</title>"',
    ]);
    assert.equal(get.stdout.trim(), '<title>Simple Bookstore App</title>');
    assert.match((await page()).stdout, /<title>Simple Bookstore App<\/title>/);
  });

  void it('3: istio.io/ingress-use-waypoint=true: the gateway reaches productpage through its waypoint', async () => {
    // The waypoint's policy lets only curl GET: through the waypoint the gateway is refused.
    ok(
      await kubectl(['label', 'service', 'productpage', 'istio.io/ingress-use-waypoint=true']),
      'label',
    );
    const denied = await until('the gateway going through the waypoint', async () => {
      const r = await page();
      return r.stdout.trim() === 'RBAC: access denied' ? r.stdout : undefined;
    });
    assert.equal(denied.trim(), 'RBAC: access denied');
    const log = await kubectl(['logs', 'deploy/waypoint']);
    assert.match(
      log.stdout,
      /"GET \/productpage HTTP\/1\.1" 403 RBAC .*src\.identity=spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-gateway-istio/,
    );
    ok(
      await kubectl(['label', 'service', 'productpage', 'istio.io/ingress-use-waypoint-']),
      'unlabel',
    );
    await until('the gateway going direct again', async () =>
      /<title>Simple Bookstore App<\/title>/.test((await page()).stdout) ? true : undefined,
    );
  });

  void it('4: the 90/10 HTTPRoute: reviews v1 and v2, never v3, across 100 requests', async () => {
    ok(
      await kubectl([
        'apply',
        '-f',
        join(samples, 'samples/bookinfo/gateway-api/route-reviews-90-10.yaml'),
      ]),
      'route-reviews-90-10',
    );
    // Wait until the waypoint holds the route (its config dump), then run the guide's loop.
    await until('the waypoint holding HTTPRoute reviews', async () => {
      const r = await kubectl([
        'exec',
        'deploy/waypoint',
        '--',
        'curl',
        '-s',
        'http://127.0.0.1:15000/config_dump',
      ]);
      const dump = JSON.parse(r.stdout) as { config?: { httpRoutes?: { name: string }[] } };
      return dump.config?.httpRoutes?.some((x) => x.name === 'reviews') ? true : undefined;
    });
    const r = await sh(
      'kubectl',
      [
        'exec',
        'deploy/curl',
        '--',
        'sh',
        '-c',
        'for i in $(seq 1 100); do curl -s http://productpage:9080/productpage | grep reviews-v.-; done',
      ],
      undefined,
      300_000,
    );
    ok(r, 'the loop');
    const count = (v: string) => (r.stdout.match(new RegExp(`reviews-${v}-`, 'g')) ?? []).length;
    console.log(
      `# reviews over 100 requests: v1=${count('v1')} v2=${count('v2')} v3=${count('v3')}`,
    );
    assert.ok(count('v1') > 0, 'reviews-v1 answered');
    assert.ok(count('v2') > 0, 'reviews-v2 answered');
    assert.equal(count('v3'), 0, 'reviews-v3 never answers');
    assert.equal(count('v1') + count('v2'), 100);
  });

  void it('5: clean-up in the guide order, ambit uninstall -y --purge: nothing left', async () => {
    forward?.kill('SIGTERM');
    forward = undefined;
    ok(
      await kubectl(['label', 'namespace', 'default', 'istio.io/use-waypoint-']),
      'unlabel use-waypoint',
    );
    const del = await ambit(['waypoint', 'delete', '--all']);
    ok(del, 'ambit waypoint delete --all');
    assert.match(del.stdout, /waypoint default\/waypoint deleted/);
    ok(
      await kubectl(['label', 'namespace', 'default', 'istio.io/dataplane-mode-']),
      'unlabel dataplane-mode',
    );
    ok(await kubectl(['delete', 'httproute', 'reviews']), 'delete httproute');
    ok(
      await kubectl([
        'delete',
        'authorizationpolicy',
        'productpage-ztunnel',
        'productpage-waypoint',
      ]),
      'delete policies',
    );
    for (const f of [
      'samples/bookinfo/platform/kube/bookinfo.yaml',
      'samples/bookinfo/platform/kube/bookinfo-versions.yaml',
      'samples/bookinfo/gateway-api/bookinfo-gateway.yaml',
      'samples/curl/curl.yaml',
    ])
      ok(await kubectl(['delete', '-f', join(samples, f)]), `kubectl delete -f ${f}`);
    ok(await kubectl(['delete', '-f', addons]), 'kubectl delete -f samples/addons/prometheus.yaml');
    const u = await ambit(['uninstall', '-y', '--purge']);
    ok(u, 'ambit uninstall');
    assert.match(u.stdout, /Removed DaemonSet:istio-system:ztunnel\./);
    assert.match(u.stdout, /✔ Uninstall complete/);
    ok(await kubectl(['delete', 'namespace', 'istio-system', '--wait=true']), 'delete namespace');
    await until('default emptied', async () => {
      const r = await kubectl([
        'get',
        'pods,deployments,services,gateways,httproutes,authorizationpolicies',
        '-n',
        'default',
        '-o',
        'name',
      ]);
      const left = r.stdout.split('\n').filter((l) => l && l !== 'service/kubernetes');
      return r.code === 0 && left.length === 0 ? true : undefined;
    });
    assert.notEqual((await kubectl(['get', 'namespace', 'istio-system'])).code, 0);
    assert.notEqual(
      (await kubectl(['get', 'crd', 'authorizationpolicies.security.istio.io'])).code,
      0,
    );
    for (const node of ['control-plane', 'worker', 'worker2'])
      assert.equal(await nodeState(node), 'rules=0 ipsets=[] links=[] iprules=0', node);
  });
});
