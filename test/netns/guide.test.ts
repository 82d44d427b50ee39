/**
 * Istio's ambient getting-started guide (../shared/reference/istio-getting-started.md), step by
 * step, on a fresh lab with no mesh: every command line of test/helpers/guide.ts (the README's
 * command block, exactly) runs through bash as a user would type it, in order, with the
 * unmodified manifests of test/external/istio; each step's real output goes into a transcript
 * (AMBIT_GUIDE_RECORD=1 writes it to docs/guide-transcript.txt and the README). It asserts what
 * the guide says the user sees:
 *   0 install: `ambit install --set profile=ambient --skip-confirmation` prints istioctl's lines;
 *   1 bookinfo + its Gateway: `kubectl get gateway` shows class istio, the gateway's hostname
 *     as address and PROGRAMMED True; through `kubectl port-forward svc/bookinfo-gateway-istio`
 *     the productpage title; headless Chromium renders the page with the book's details and
 *     reviews v2's stars; beyond the guide, an HTTPRoute with `hostnames` on the same Gateway
 *     takes only its Host (curl --resolve: its host 200, another 404);
 *   2 `kubectl label namespace default istio.io/dataplane-mode=ambient`: no pod restarts; the
 *     visualize step with the Prometheus addon (samples/addons/prometheus.yaml, ambit's copy in
 *     Istio's shape) after the guide's 100-request loop: istio_requests_total (the gateway's,
 *     reporter source) and istio_tcp_connections_opened_total (ztunnel's) through its HTTP API;
 *   3 L4 policy: curl's request fails with exit code 56, the gateway still works; waypoint via
 *     `ambit waypoint apply --enroll-namespace --wait`; L7 policy: DELETE and reviews-v1 get
 *     `RBAC: access denied`, GET works; beyond the guide, `istio.io/ingress-use-waypoint=true`
 *     on productpage sends the gateway's requests through the waypoint (its L7 policy then
 *     refuses them, and its access log names the gateway's identity);
 *   4 the 90/10 HTTPRoute: 100 requests show reviews-v1 and v2, never v3; beyond the guide, Istio's
 *     secure-gateway task on the same Gateway: an HTTPS listener whose certificate is a
 *     `kubectl create secret tls` Secret, the productpage over curl --resolve --cacert; and
 *     Istio's TCP traffic shifting through it: a TCP listener, the tcp-echo sample, a TCPRoute
 *     all to v1 then 80/20, bash /dev/tcp through the gateway's Service;
 *   5 clean-up in the guide's order, `ambit uninstall -y --purge`: no rule, ipset, link or
 *     object left.
 * Checks that are not guide steps (pod uids, Chromium, Prometheus readiness of the config,
 * the nodes' rules) run as separate commands and are not in the transcript.
 * One difference from the README: the port-forward takes a free local port instead of 8080, as
 * tests run in parallel on one machine (the transcript shows it as 8080, as the README's lines).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { repoRoot } from '../../src/repo.js';
import { run, type RunResult } from '../../src/sys/exec.js';
import {
  GUIDE,
  GUIDE_STEPS,
  readme,
  renderTranscript,
  TRANSCRIPT_FILE,
  withTranscript,
  type GuideStep,
  type TranscriptEntry,
} from '../helpers/guide.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';
import { tcpEchoManifests, tcpEchoRoute } from '../helpers/tcp-echo.js';

const root = repoRoot();
const bin = join(root, 'bin', 'ambit');
const N = labName('gd');
const kubeconfig = labPaths(N).kubeconfig;
const samples = join(root, 'test', 'external', 'istio');
const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig };
delete env.AMBIT_LAB;
// The README's setup: bin/ on PATH (`ambit` for istioctl), $S the Istio checkout.
const guideEnv: NodeJS.ProcessEnv = {
  ...env,
  PATH: `${join(root, 'bin')}:${process.env.PATH ?? ''}`,
  S: 'test/external/istio',
};
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

/** The guide's steps, run in GUIDE's order only, each recorded with its output (stderr merged, as a terminal shows it). */
class Guide {
  readonly transcript: TranscriptEntry[] = [];
  private next = 0;
  port = 0;
  forward: ChildProcess | undefined;

  get done(): boolean {
    return this.next === GUIDE_STEPS.length;
  }

  private take(step: GuideStep): string {
    const cmd = GUIDE[step];
    assert.equal(cmd, GUIDE_STEPS[this.next], `step ${step} is not the README's next line`);
    this.next++;
    return cmd;
  }

  /** The line as run: the port-forward's free port for 8080. */
  private live(cmd: string): string {
    return cmd
      .replaceAll('localhost:8080', `localhost:${this.port}`)
      .replace(' 8080:80', ` ${this.port}:80`);
  }

  private exec(cmd: string, timeoutMs: number): Promise<RunResult> {
    return run('bash', ['-c', `cd '${root}' && exec 2>&1\n${this.live(cmd)}`], {
      allowFail: true,
      env: guideEnv,
      timeoutMs,
    });
  }

  /**
   * Runs a step; with `until`, again (bounded) until its output satisfies it, as a user
   * re-runs a command while the cluster settles. Only the last run is recorded.
   */
  async step(
    name: GuideStep,
    o: { until?: (r: RunResult) => boolean; ms?: number; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    const cmd = this.take(name);
    const deadline = Date.now() + (o.ms ?? 90_000);
    let r: RunResult;
    for (;;) {
      r = await this.exec(cmd, o.timeoutMs ?? 240_000);
      if (!o.until || o.until(r) || Date.now() > deadline) break;
      await sleep(1000);
    }
    this.transcript.push({ command: cmd, output: r.stdout });
    if (o.until) assert.ok(o.until(r), `${cmd}: never as expected; last output:\n${r.stdout}`);
    return r;
  }

  /** `… &`: starts the line in the background; its output so far goes into the transcript when `flush`ed. */
  background(name: GuideStep): { flush: () => void } {
    const cmd = this.take(name);
    let out = '';
    const child = spawn(
      'bash',
      ['-c', `cd '${root}' && exec ${this.live(cmd.replace(/\s*&$/, ''))}`],
      {
        env: guideEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    this.forward = child;
    const entry: TranscriptEntry = { command: cmd, output: '' };
    this.transcript.push(entry);
    const port = String(this.port);
    return {
      flush: () => {
        entry.output = out.replace(new RegExp(`(?<=[:\\s])${port}\\b`, 'g'), '8080');
      },
    };
  }

  stopForward(): void {
    this.forward?.kill('SIGTERM');
    this.forward = undefined;
  }

  /** The transcript to a temporary file; with AMBIT_GUIDE_RECORD=1 and every step run, to docs/ and the README. */
  save(): string {
    const full = renderTranscript(this.transcript);
    const tmp = join(tmpdir(), `${N}-guide-transcript.txt`);
    writeFileSync(tmp, full);
    if (process.env.AMBIT_GUIDE_RECORD === '1' && this.done) {
      writeFileSync(join(root, TRANSCRIPT_FILE), full);
      writeFileSync(
        join(root, 'README.md'),
        withTranscript(readme(), renderTranscript(this.transcript, 12)),
      );
      return `${tmp}, ${TRANSCRIPT_FILE} and README.md`;
    }
    return tmp;
  }
}

const titleOf = (r: RunResult) => r.stdout.trim() === '<title>Simple Bookstore App</title>';
/** The value of a Prometheus instant query's single sample (0 when there is none). */
function promValue(r: RunResult): number {
  const body = JSON.parse(r.stdout) as { data?: { result?: { value: [number, string] }[] } };
  return body.data?.result?.reduce((n, x) => n + Number(x.value[1]), 0) ?? 0;
}
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

const skip = skipUnlessRoot || (existsSync(samples) ? false : `no Istio samples at ${samples}`);

void describe("Istio's ambient getting-started guide on ambit", { skip, timeout: 900_000 }, () => {
  const g = new Guide();
  const page = (path = '/productpage') =>
    sh('curl', ['-s', '-m', '20', `http://127.0.0.1:${g.port}${path}`]);

  before(async () => {
    const r = await ambit(['lab', 'up', '--name', N, '--no-scenario', '--timeout', '120'], 180_000);
    ok(r, 'lab up');
    g.port = await freePort();
  });

  after(async () => {
    g.stopForward();
    console.log(`# guide transcript: ${g.save()}`);
    const r = await ambit(['lab', 'down', '--name', N], 120_000);
    assert.equal(r.code, 0, r.stderr);
  });

  void it('0: ambit install --set profile=ambient --skip-confirmation; the Gateway API CRDs', async () => {
    const r = await g.step('install');
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
    ok(await g.step('crds'), 'Gateway API CRDs');
  });

  void it('1: bookinfo and its gateway; the productpage through kubectl port-forward', async () => {
    for (const s of ['bookinfo', 'versions', 'gateway', 'annotate'] as const)
      ok(await g.step(s), GUIDE[s]);
    ok(await g.step('waitPods', { timeoutMs: 330_000 }), 'bookinfo pods ready');
    const row = /^bookinfo-gateway\s.*$/m;
    const get = await g.step('getGateway', {
      until: (r) => /\sTrue\s/.test(row.exec(r.stdout)?.[0] ?? ''),
    });
    assert.match(
      get.stdout,
      /^bookinfo-gateway\s+istio\s+bookinfo-gateway-istio\.default\.svc\.cluster\.local\s+True\s/m,
    );
    const forward = g.background('portForward');
    const title = await g.step('title', { until: titleOf });
    forward.flush();
    assert.ok(titleOf(title));
    const missing = await sh('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${g.port}/nothing`,
    ]);
    assert.equal(missing.stdout, '404');

    // Beyond the guide: HTTPRoute hostnames against Host, with real curl --resolve to the
    // port-forward. A route for reviews.example.com only; bookinfo's route takes any host.
    const probe = [
      'apiVersion: gateway.networking.k8s.io/v1',
      'kind: HTTPRoute',
      'metadata: {name: hosts-probe, namespace: default}',
      'spec:',
      '  parentRefs: [{name: bookinfo-gateway}]',
      '  hostnames: ["reviews.example.com"]',
      '  rules:',
      '  - matches: [{path: {type: PathPrefix, value: /reviews}}]',
      '    backendRefs: [{name: reviews-v1, port: 9080}]',
      '',
    ].join('\n');
    ok(await kubectl(['apply', '-f', '-'], probe), 'HTTPRoute hosts-probe');
    const at = (host: string, path: string) =>
      sh('curl', [
        '-s',
        '-m',
        '20',
        '-w',
        ' %{http_code}',
        '--resolve',
        `${host}:${g.port}:127.0.0.1`,
        `http://${host}:${g.port}${path}`,
      ]);
    const reviews = await until('reviews.example.com routed', async () => {
      const r = await at('reviews.example.com', '/reviews/0');
      return r.stdout.endsWith(' 200') ? r.stdout : undefined;
    });
    assert.match(reviews, /Reviewer1/);
    assert.match((await at('ratings.example.com', '/reviews/0')).stdout, / 404$/);
    assert.match(
      (await at('reviews.example.com', '/productpage')).stdout,
      /Simple Bookstore App[\s\S]* 200$/,
    );
    ok(await kubectl(['delete', 'httproute', 'hosts-probe']), 'delete hosts-probe');
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
              `http://127.0.0.1:${g.port}/productpage`,
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
    ok(await g.step('enrol'), 'label');
    await g.step('titleEnrolled', { until: titleOf });
    const list = await g.step('getPods');
    ok(list, 'kubectl get pods');
    for (const line of list.stdout.trim().split('\n').slice(1))
      assert.match(line, /\sRunning\s+0\s/, `a pod restarted: ${line}`);
    const now = await pods();
    assert.deepEqual([...now.keys()].sort(), [...before.keys()].sort());
    for (const [name, p] of now) {
      assert.equal(p.uid, before.get(name)?.uid, `${name} was replaced`);
      assert.equal(p.restarts, 0, `${name} restarted`);
    }
  });

  void it('2: visualize: the Prometheus addon shows istio_requests_total and istio_tcp_connections_opened_total', async () => {
    ok(await g.step('prometheus'), GUIDE.prometheus);
    ok(await g.step('waitPrometheus', { timeoutMs: 210_000 }), 'prometheus ready');
    ok(await g.step('traffic', { timeoutMs: 300_000 }), 'the traffic loop');
    // Prometheus scrapes every 15 s: the user re-runs the query until the loop shows.
    const requests = await g.step('requestsTotal', {
      until: (r) => promValue(r) >= 100,
      ms: 150_000,
    });
    const tcp = await g.step('tcpOpened', { until: (r) => promValue(r) > 0, ms: 150_000 });
    console.log(
      `# prometheus: istio_requests_total (gateway → productpage) ${promValue(requests)}, istio_tcp_connections_opened_total (→ productpage-v1) ${promValue(tcp)}`,
    );
  });

  void it('3: L4 policy: curl is denied (exit 56), the gateway is allowed', async () => {
    ok(await g.step('l4Policy'), GUIDE.l4Policy);
    ok(await g.step('curl'), GUIDE.curl);
    ok(await g.step('waitCurl', { timeoutMs: 210_000 }), 'curl ready');
    const denied = await g.step('l4Denied', { until: (r) => r.stdout.trim().endsWith('\n56') });
    assert.match(denied.stdout, /command terminated with exit code 56\n56\n?$/);
    assert.ok(titleOf(await g.step('titleL4')));
  });

  void it('3: ambit waypoint apply --enroll-namespace --wait; L7 policy denies DELETE and reviews-v1', async () => {
    const w = await g.step('waypoint');
    ok(w, 'ambit waypoint apply');
    assert.match(w.stdout, /waypoint default\/waypoint applied/);
    assert.match(w.stdout, /namespace default labeled with "istio.io\/use-waypoint: waypoint"/);
    const gtw = await g.step('getWaypoint');
    assert.match(gtw.stdout, /^waypoint\s+istio-waypoint\s+\S+\s+True\s/m);
    ok(await g.step('l7Policy'), 'L7 policies');
    const denied = await g.step('l7Delete', {
      until: (r) => r.stdout.trim() === 'RBAC: access denied',
    });
    assert.equal(denied.code, 0);
    assert.equal((await g.step('l7ReviewsV1')).stdout.trim(), 'RBAC: access denied');
    assert.ok(titleOf(await g.step('l7Get')));
    assert.match((await page()).stdout, /<title>Simple Bookstore App<\/title>/);
  });

  void it('3: istio.io/ingress-use-waypoint=true: the gateway reaches productpage through its waypoint', async () => {
    // Beyond the guide. The waypoint's policy lets only curl GET: through it the gateway is refused.
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
    ok(await g.step('route9010'), 'route-reviews-90-10');
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
    const r = await g.step('split', { timeoutMs: 300_000 });
    ok(r, 'the loop');
    // `uniq -c` lines: "     90 <dl>…reviews-v1-…</u></dl></div>".
    const count = (v: string) =>
      r.stdout
        .split('\n')
        .filter((l) => l.includes(`reviews-${v}-`))
        .reduce((n, l) => n + Number(/^\s*(\d+)\s/.exec(l)?.[1] ?? 0), 0);
    console.log(
      `# reviews over 100 requests: v1=${count('v1')} v2=${count('v2')} v3=${count('v3')}`,
    );
    assert.ok(count('v1') > 0, 'reviews-v1 answered');
    assert.ok(count('v2') > 0, 'reviews-v2 answered');
    assert.equal(count('v3'), 0, 'reviews-v3 never answers');
    assert.equal(count('v1') + count('v2'), 100);
  });

  void it("beyond the guide: Istio's secure gateway, an HTTPS listener with a kubernetes.io/tls Secret", async () => {
    // The secure-gateways task's steps: openssl certificates, `kubectl create secret tls`, an
    // HTTPS listener (tls.mode Terminate) on the guide's Gateway, curl --resolve --cacert.
    const dir = mkdtempSync(join(tmpdir(), 'ambit-guide-tls-'));
    const f = (n: string) => join(dir, n);
    const openssl = async (args: string[]) => ok(await sh('openssl', args), `openssl ${args[0]}`);
    const ec = [
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
    ];
    const http = {
      name: 'http',
      port: 80,
      protocol: 'HTTP',
      allowedRoutes: { namespaces: { from: 'Same' } },
    };
    let forward: ChildProcess | undefined;
    const listeners = (ls: object[]) =>
      kubectl([
        'patch',
        'gateway',
        'bookinfo-gateway',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { listeners: ls } }),
      ]);
    try {
      await openssl([
        'req',
        '-x509',
        ...ec,
        '-subj',
        '/O=example Inc./CN=example.com',
        '-keyout',
        f('ca.key'),
        '-out',
        f('ca.crt'),
      ]);
      await openssl([
        'req',
        ...ec.slice(0, -2),
        '-subj',
        '/CN=bookinfo.example.com/O=bookinfo organization',
        '-keyout',
        f('tls.key'),
        '-out',
        f('tls.csr'),
      ]);
      writeFileSync(f('san.ext'), 'subjectAltName=DNS:bookinfo.example.com\n');
      await openssl([
        'x509',
        '-req',
        '-days',
        '1',
        '-CA',
        f('ca.crt'),
        '-CAkey',
        f('ca.key'),
        '-set_serial',
        '1',
        '-in',
        f('tls.csr'),
        '-out',
        f('tls.crt'),
        '-extfile',
        f('san.ext'),
      ]);
      ok(
        await kubectl([
          'create',
          'secret',
          'tls',
          'bookinfo-credential',
          '--key',
          f('tls.key'),
          '--cert',
          f('tls.crt'),
        ]),
        'create secret tls',
      );
      const https = {
        name: 'https',
        hostname: 'bookinfo.example.com',
        port: 443,
        protocol: 'HTTPS',
        tls: { mode: 'Terminate', certificateRefs: [{ name: 'bookinfo-credential' }] },
        allowedRoutes: { namespaces: { from: 'Same' } },
      };
      ok(await listeners([http, https]), 'add the HTTPS listener');
      await until('the https listener ResolvedRefs and Programmed', async () => {
        const r = await kubectl([
          'get',
          'gateway',
          'bookinfo-gateway',
          '-o',
          'jsonpath={.status.listeners[?(@.name=="https")].conditions[*].status}',
        ]);
        return r.stdout.trim() === 'True False True True' ? true : undefined;
      });
      const port = await freePort();
      forward = spawn('kubectl', ['port-forward', 'svc/bookinfo-gateway-istio', `${port}:443`], {
        env,
        stdio: 'ignore',
      });
      const secure = (...trust: string[]) =>
        sh('curl', [
          '-s',
          '-m',
          '20',
          '--resolve',
          `bookinfo.example.com:${port}:127.0.0.1`,
          ...trust,
          `https://bookinfo.example.com:${port}/productpage`,
        ]);
      const body = await until('the productpage over HTTPS', async () => {
        const r = await secure('--cacert', f('ca.crt'));
        return /<title>Simple Bookstore App<\/title>/.test(r.stdout) ? r.stdout : undefined;
      });
      assert.match(body, /Simple Bookstore App/);
      // The certificate is the Secret's: a client that trusts another CA refuses the handshake.
      const other = await secure();
      assert.equal(
        other.code,
        60,
        `curl without --cacert: exit ${other.code} (60: certificate not trusted)`,
      );
    } finally {
      forward?.kill();
      await listeners([http]);
      await kubectl(['delete', 'secret', 'bookinfo-credential', '--ignore-not-found']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it("beyond the guide: Istio's TCP traffic shifting through the ingress gateway (a TCP listener, a TCPRoute)", async () => {
    // The task's Gateway API variant on the guide's Gateway: a `tcp-31400` listener, the
    // experimental TCPRoute CRD as released, the tcp-echo sample (v1 answers `one …`, v2
    // `two …`), a TCPRoute all to v1, then 80/20; connections through the gateway's Service
    // (kubectl port-forward), each one a bash /dev/tcp round trip.
    const crd = join(root, 'test', 'external', 'gateway-api', 'experimental-tcproute.yaml');
    const tcpEcho = tcpEchoManifests('default');
    const route = (v1: number, v2: number) =>
      tcpEchoRoute('default', '{name: bookinfo-gateway, sectionName: tcp-31400}', v1, v2);
    const http = {
      name: 'http',
      port: 80,
      protocol: 'HTTP',
      allowedRoutes: { namespaces: { from: 'Same' } },
    };
    const tcp = {
      name: 'tcp-31400',
      port: 31400,
      protocol: 'TCP',
      allowedRoutes: { namespaces: { from: 'Same' } },
    };
    const listeners = (ls: object[]) =>
      kubectl([
        'patch',
        'gateway',
        'bookinfo-gateway',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { listeners: ls } }),
      ]);
    let forward: ChildProcess | undefined;
    try {
      ok(await kubectl(['apply', '-f', crd]), 'the TCPRoute CRD');
      ok(await kubectl(['apply', '-f', '-'], tcpEcho), 'tcp-echo');
      ok(
        await sh(
          'kubectl',
          ['wait', '--for=condition=Ready', 'pod', '-l', 'app=tcp-echo', '--timeout=180s'],
          undefined,
          200_000,
        ),
        'tcp-echo Ready',
      );
      ok(await listeners([http, tcp]), 'add the TCP listener');
      ok(await kubectl(['apply', '-f', '-'], route(100, 0)), 'TCPRoute all to v1');
      const port = await freePort();
      forward = spawn('kubectl', ['port-forward', 'svc/bookinfo-gateway-istio', `${port}:31400`], {
        env,
        stdio: 'ignore',
      });
      const one = `(exec 3<>/dev/tcp/127.0.0.1/${port} && echo hello >&3 && timeout 5 head -1 <&3) 2>&1`;
      let last = '';
      /** `n` connections through the gateway: the prefix each got back. */
      const echoes = async (n: number): Promise<string[]> => {
        const r = await sh(
          'bash',
          ['-c', `for i in $(seq 1 ${n}); do echo "ECHO=$(${one})"; done`],
          undefined,
          180_000,
        );
        last = r.stdout.slice(-1000);
        return [...r.stdout.matchAll(/^ECHO=(.*)$/gm)].map((m) => m[1]!.split(' ')[0] || '(none)');
      };
      await until(
        'every connection to v1',
        async () => {
          const got = await echoes(6);
          return got.every((p) => p === 'one') ? true : undefined;
        },
        120_000,
      ).catch((err: unknown) => assert.fail(`${String(err)}; last sample:\n${last}`));
      const jp = async (kind: string, name: string, path: string) =>
        (await kubectl(['get', kind, name, '-o', `jsonpath=${path}`])).stdout.trim();
      await until('the TCPRoute and the listener report it', async () => {
        const route = await jp(
          'tcproute',
          'tcp-echo',
          '{range .status.parents[*].conditions[*]}{.type}={.status} {end}',
        );
        const l = await jp(
          'gateway',
          'bookinfo-gateway',
          '{.status.listeners[?(@.name=="tcp-31400")].attachedRoutes} {.status.listeners[?(@.name=="tcp-31400")].supportedKinds[*].kind}',
        );
        return route === 'Accepted=True ResolvedRefs=True' && l === '1 TCPRoute' ? true : undefined;
      });
      // 80/20, the task's tcp-echo-20-v2: 40 connections see both, v1 the most. P(no v2)
      // = 0.8^40 ≈ 1e-4; P(v2 ≥ v1) is far smaller.
      ok(await kubectl(['apply', '-f', '-'], route(80, 20)), 'TCPRoute 80/20');
      await until('some connection to v2', async () =>
        (await echoes(6)).includes('two') ? true : undefined,
      );
      const seen = await echoes(40);
      const v1 = seen.filter((p) => p === 'one').length;
      const v2 = seen.filter((p) => p === 'two').length;
      console.log(`# tcp-echo through the gateway, 80/20 over 40 connections: one=${v1} two=${v2}`);
      assert.equal(v1 + v2, 40, `${seen.join(' ')}\n${last}`);
      assert.ok(v2 > 0 && v1 > v2, `one=${v1} two=${v2}`);
    } finally {
      forward?.kill();
      await kubectl(['delete', 'tcproute', 'tcp-echo', '--ignore-not-found']);
      await listeners([http]);
      await kubectl(['delete', '-f', '-', '--ignore-not-found'], tcpEcho);
      // Its pods gone too, so clean-up (step 5) finds only what the guide made.
      await sh(
        'kubectl',
        ['wait', '--for=delete', 'pod', '-l', 'app=tcp-echo', '--timeout=120s'],
        undefined,
        150_000,
      );
    }
  });

  void it('5: clean-up in the guide order, ambit uninstall -y --purge: nothing left', async () => {
    g.stopForward();
    ok(await g.step('unlabelWaypoint'), 'unlabel use-waypoint');
    const del = await g.step('deleteWaypoint');
    ok(del, 'ambit waypoint delete --all');
    assert.match(del.stdout, /waypoint default\/waypoint deleted/);
    for (const s of ['unlabelAmbient', 'deleteRoute', 'deletePolicies', 'deleteSamples'] as const)
      ok(await g.step(s), GUIDE[s]);
    const u = await g.step('uninstall');
    ok(u, 'ambit uninstall');
    assert.match(u.stdout, /Removed DaemonSet:istio-system:ztunnel\./);
    assert.match(u.stdout, /✔ Uninstall complete/);
    ok(await g.step('deleteNamespace', { timeoutMs: 180_000 }), 'delete namespace');
    assert.ok(g.done, 'every README step ran');
    let left: string[] = [];
    await until('default emptied', async () => {
      const r = await kubectl([
        'get',
        'pods,deployments,services,gateways,httproutes,authorizationpolicies',
        '-n',
        'default',
        '-o',
        'name',
      ]);
      left = r.stdout.split('\n').filter((l) => l && l !== 'service/kubernetes');
      return r.code === 0 && left.length === 0 ? true : undefined;
    }).catch((err: unknown) => assert.fail(`${String(err)}; still there: ${left.join(' ')}`));
    assert.notEqual((await kubectl(['get', 'namespace', 'istio-system'])).code, 0);
    assert.notEqual(
      (await kubectl(['get', 'crd', 'authorizationpolicies.security.istio.io'])).code,
      0,
    );
    for (const node of ['control-plane', 'worker', 'worker2'])
      assert.equal(await nodeState(node), 'rules=0 ipsets=[] links=[] iprules=0', node);
  });
});
