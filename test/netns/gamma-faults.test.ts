/**
 * Waypoint behaviour beyond the conformance suites, in one lab (namespace waypoint `namespace`
 * in front of the conformance echo Services):
 * - TCP traffic shifting (Istio's tcp-traffic-shifting task, ambient): the experimental TCPRoute
 *   CRD as the Gateway API release ships it, Istio's tcp-echo sample (v1 answers `one …`, v2
 *   `two …`), a TCPRoute on the tcp-echo Service moving connections from v1 to v2 by weight;
 * - ReferenceGrant: an HTTPRoute's backend in the consumer namespace is answered 500 with
 *   `ResolvedRefs=False RefNotPermitted` until a ReferenceGrant there permits it, and again
 *   once the grant is deleted;
 * and faults. A route only the waypoint applies marks every reply it carried (`X-Gm-Via`), and the
 * backend reports the peer it saw (`IP=`: the waypoint pod's address), so a reply that bypassed
 * the waypoint would show. Each request is its own curl process, so its own connection.
 * - control plane down: istiod scaled to 0; the waypoint keeps its route and policy;
 * - two replicas: the Deployment scaled to 2; new connections spread over both pods (ztunnel
 *   balances per connection), and the requests of one keep-alive connection over both echo
 *   pods (the waypoint balances per request);
 * - waypoint pod deleted mid-traffic: no reply ever bypasses it, traffic recovers on the pod the
 *   Deployment recreates; with no waypoint pod at all requests fail (ztunnels fail closed).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { field, parseReply, type Reply } from '../helpers/gamma-client.js';
import { externalDir } from '../helpers/external.js';
import { gammaLab, gammaLabUp } from '../helpers/gamma-lab.js';
import { CONSUMER_NS, MESH_NS } from '../helpers/gamma-manifests.js';
import { policy } from '../helpers/gamma-policy-cases.js';
import { route } from '../helpers/gamma-suites.js';
import { skipUnlessRoot } from '../helpers/root.js';
import { tcpEchoManifests, tcpEchoRoute } from '../helpers/tcp-echo.js';

const lab = gammaLab('gf');
const WP = 'gateway.networking.k8s.io/gateway-name=namespace';
let dir = '';
let v1 = '';

const marker = route('gm-marker', `[{group: "", kind: Service, name: echo}]`, [
  `{filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-Gm-Via, value: waypoint}]}}], backendRefs: [{name: echo, port: 8080}]}`,
]);
// On the echo Service only: on the waypoint as a whole this HTTP-only DENY would refuse every
// TCP connection through it (Istio widens such a rule to all TCP), tcp-echo's too.
const deny = policy(
  'gm-deny',
  'DENY',
  ['{to: [{operation: {paths: ["/gm-deny"]}}]}'],
  '[{kind: Service, group: "", name: echo}]',
);

const tcpEcho = tcpEchoManifests(MESH_NS);

/** The task's TCPRoute (the ambient version: its parent is the tcp-echo Service). */
const tcpShift = (v1Weight: number, v2Weight: number) =>
  tcpEchoRoute(
    MESH_NS,
    '{group: "", kind: Service, name: tcp-echo, port: 9000}',
    v1Weight,
    v2Weight,
  );

let lastEchoes = '';
/** `n` TCP connections to tcp-echo:9000 from the client pod, one line each: the prefixes seen. */
async function tcpEchoes(n: number): Promise<string[]> {
  const one = `(exec 3<>/dev/tcp/tcp-echo.${MESH_NS}/9000 && echo hello >&3 && timeout 5 head -1 <&3) 2>&1`;
  const script = `for i in $(seq 1 ${n}); do echo "ECHO=$(${one})"; done`;
  const r = await lab.sh(MESH_NS, v1, `bash -c '${script}'`, 180_000);
  lastEchoes = `${r.stdout}${r.stderr}`.slice(-2000);
  return [...r.stdout.matchAll(/^ECHO=(.*)$/gm)].map((m) => m[1]!.split(' ')[0] || '(none)');
}

const CURL = `curl -sS -m 3 -D - -o - -w '\\n@@STATUS %{http_code}\\n'`;

function parse(out: string): Reply[] {
  return out
    .split('\n@@BEGIN\n')
    .slice(1)
    .map((c) => parseReply(c, false));
}

/** `n` requests, one curl (one connection) each. */
async function requests(n: number, path = '/'): Promise<Reply[]> {
  const one = `printf '\\n@@BEGIN\\n'; ${CURL} http://echo${path}`;
  const r = await lab.sh(MESH_NS, v1, Array.from({ length: n }, () => one).join('\n'), 180_000);
  return parse(r.stdout);
}

/**
 * `n` requests on ONE curl, so one HTTP/1.1 keep-alive connection (URL globbing); each reply
 * says how many connections curl opened for it (0 = reused).
 */
async function keepAlive(n: number): Promise<(Reply & { connects: number })[]> {
  const fmt = `\\n@@CONNECTS %{num_connects}\\n@@STATUS %{http_code}\\n@@BEGIN\\n`;
  const r = await lab.sh(
    MESH_NS,
    v1,
    `curl -sS -m 120 -i -w '${fmt}' 'http://echo/ka?k=[1-${n}]'`,
    180_000,
  );
  return r.stdout
    .split('\n@@BEGIN\n')
    .filter((c) => c.includes('@@STATUS'))
    .map((c) => ({
      ...parseReply(c, false),
      connects: Number(/@@CONNECTS (\d+)/.exec(c)?.[1] ?? NaN),
    }));
}

function count<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

const via = (r: Reply) => r.headers.some(([k, v]) => k === 'x-gm-via' && v === 'waypoint');

async function until(
  what: string,
  f: () => Promise<boolean>,
  ms = 120_000,
  report?: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return;
    await sleep(1000);
  }
  assert.fail(`${what} did not happen within ${ms / 1000} s${report ? `\n${await report()}` : ''}`);
}

/** The Ready pods of a selector that are not being deleted. */
async function readyPods(ns: string, selector: string): Promise<PodJson[]> {
  const r = await lab.kubectl(['get', 'pods', '-n', ns, '-l', selector, '-o', 'json']);
  if (r.code !== 0) return [];
  const items = (JSON.parse(r.stdout) as { items: PodJson[] }).items;
  return items.filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
}

async function waypointIPs(): Promise<string[]> {
  return (await readyPods(MESH_NS, WP)).map((p) => p.status?.podIP ?? '').filter(Boolean);
}

/**
 * What a failed wait leaves for the reader: every pod of the mesh namespaces with its phase and
 * conditions, and the last log lines of the waypoint pods (why one is not Ready).
 */
async function podReport(): Promise<string> {
  const out: string[] = [];
  for (const ns of [MESH_NS, 'istio-system']) {
    const r = await lab.kubectl(['get', 'pods', '-n', ns, '-o', 'wide']);
    out.push(`$ kubectl get pods -n ${ns} -o wide\n${r.stdout}${r.stderr}`);
  }
  const r = await lab.kubectl(['get', 'pods', '-n', MESH_NS, '-l', WP, '-o', 'json']);
  const items = r.code === 0 ? (JSON.parse(r.stdout) as { items: PodJson[] }).items : [];
  for (const p of items) {
    const c = JSON.stringify(p.status?.conditions ?? []);
    const logs = await lab.kubectl(['logs', '-n', MESH_NS, p.metadata.name, '--tail=15']);
    out.push(`${p.metadata.name} conditions ${c}\n${logs.stdout}${logs.stderr}`);
  }
  return out.join('\n');
}

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

const scale = async (ns: string, deploy: string, n: number) => {
  const r = await lab.kubectl(['scale', '-n', ns, `deployment/${deploy}`, `--replicas=${n}`]);
  assert.equal(r.code, 0, r.stderr);
};

describe('waypoint faults', { skip: skipUnlessRoot }, () => {
  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ambit-gm-'));
      await gammaLabUp(lab);
      [v1 = ''] = await lab.pods(MESH_NS, 'app=echo,version=v1');
      const a = await lab.kubectl(['apply', '-f', '-'], marker + '---\n' + deny);
      assert.equal(a.code, 0, a.stderr);
      await until('the marker route and the DENY policy', async () => {
        const [r, d] = [await requests(3), await requests(1, '/gm-deny')];
        return r.every((x) => x.status === 200 && via(x)) && d[0]?.status === 403;
      });
    },
    { timeout: 600_000 },
  );
  after(
    async () => {
      await lab.down();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 300_000 },
  );

  test(
    'TCP traffic shifting: a TCPRoute moves tcp-echo connections from v1 to v2 by weight',
    { timeout: 400_000 },
    async (t) => {
      const crd = join(externalDir(), 'gateway-api', 'experimental-tcproute.yaml');
      const c = await lab.kubectl(['apply', '-f', crd]);
      assert.equal(c.code, 0, c.stderr);
      const a = await lab.kubectl(['apply', '-f', '-'], tcpEcho);
      assert.equal(a.code, 0, a.stderr);
      try {
        await until(
          'tcp-echo v1 and v2 Ready',
          async () => (await readyPods(MESH_NS, 'app=tcp-echo')).length === 2,
          180_000,
          podReport,
        );
        const apply = async (v1w: number, v2w: number) => {
          const r = await lab.kubectl(['apply', '-f', '-'], tcpShift(v1w, v2w));
          assert.equal(r.code, 0, r.stderr);
        };
        // All to v1 first (the task's tcp-echo-all-v1), then all to v2: each until every
        // connection of a sample says so (the waypoint gets the route over xDS).
        for (const [w1, w2, want] of [
          [100, 0, 'one'],
          [0, 100, 'two'],
        ] as const) {
          await apply(w1, w2);
          await until(
            `every connection to ${want}`,
            async () => (await tcpEchoes(6)).every((p) => p === want),
            120_000,
            async () => `last sample:\n${lastEchoes}\n${await podReport()}`,
          );
        }
        const st = await lab.kubectl([
          'get',
          'tcproute',
          '-n',
          MESH_NS,
          'tcp-echo',
          '-o',
          'jsonpath={range .status.parents[*].conditions[*]}{.type}={.status} {end}',
        ]);
        assert.match(st.stdout, /Accepted=True/, st.stdout + st.stderr);
        assert.match(st.stdout, /ResolvedRefs=True/, st.stdout + st.stderr);
        // 80/20, the task's tcp-echo-20-v2: 40 connections see both, v1 the most. P(no v2)
        // = 0.8^40 ≈ 1e-4; P(v2 ≥ v1) is far smaller.
        await apply(80, 20);
        await until('some connection to v1 again', async () =>
          (await tcpEchoes(6)).includes('one'),
        );
        const seen = count(await tcpEchoes(40), (p) => p);
        t.diagnostic(`80/20: ${JSON.stringify(seen)}`);
        assert.equal((seen.one ?? 0) + (seen.two ?? 0), 40, JSON.stringify(seen));
        assert.ok((seen.two ?? 0) > 0 && (seen.one ?? 0) > (seen.two ?? 0), JSON.stringify(seen));
      } finally {
        await lab.kubectl(['delete', 'tcproute', '-n', MESH_NS, 'tcp-echo', '--ignore-not-found']);
        await lab.kubectl(['delete', '-f', '-', '--ignore-not-found'], tcpEcho);
      }
    },
  );

  test(
    'ReferenceGrant: a backend in another namespace is refused (500, RefNotPermitted) until a grant there permits it, and again once it is deleted',
    { timeout: 300_000 },
    async () => {
      // A Service in the consumer namespace in front of its echo pod, and a route on echo (in
      // the mesh namespace) sending /gm-xns there: a cross-namespace backendRef.
      const xns = `apiVersion: v1
kind: Service
metadata: {name: gm-backend, namespace: ${CONSUMER_NS}}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080, targetPort: 8080, appProtocol: http}]
---
${route('gm-xns', `[{group: "", kind: Service, name: echo}]`, [
  `{matches: [{path: {type: PathPrefix, value: /gm-xns}}], backendRefs: [{name: gm-backend, namespace: ${CONSUMER_NS}, port: 8080}]}`,
])}`;
      const grant = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gm-mesh-routes, namespace: ${CONSUMER_NS}}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${MESH_NS}}]
  to: [{group: "", kind: Service}]
`;
      const [consumer = ''] = await lab.pods(CONSUMER_NS, 'app=echo');
      assert.ok(consumer, 'the consumer namespace has its echo pod');
      const resolvedRefs = async () =>
        (
          await lab.kubectl([
            'get',
            'httproute',
            '-n',
            MESH_NS,
            'gm-xns',
            '-o',
            'jsonpath={.status.parents[0].conditions[?(@.type=="ResolvedRefs")].reason}',
          ])
        ).stdout.trim();
      let last = '';
      const state = async (status: number, reason: string, host?: string) => {
        const [r] = await requests(1, '/gm-xns');
        const why = await resolvedRefs();
        last = `status ${r?.status}, ResolvedRefs ${why}, Hostname ${field(r?.body ?? '', 'Hostname')}`;
        return (
          r?.status === status &&
          why === reason &&
          (host === undefined || field(r.body, 'Hostname') === host)
        );
      };
      const report = () => Promise.resolve(`last: ${last}`);
      try {
        const a = await lab.kubectl(['apply', '-f', '-'], xns);
        assert.equal(a.code, 0, a.stderr);
        await until('refused without a grant', () => state(500, 'RefNotPermitted'), 60_000, report);
        const g = await lab.kubectl(['apply', '-f', '-'], grant);
        assert.equal(g.code, 0, g.stderr);
        await until(
          "the consumer namespace's echo answers once granted",
          () => state(200, 'ResolvedRefs', consumer),
          60_000,
          report,
        );
        const d = await lab.kubectl(['delete', '-f', '-'], grant);
        assert.equal(d.code, 0, d.stderr);
        await until(
          'refused again once the grant is gone',
          () => state(500, 'RefNotPermitted'),
          60_000,
          report,
        );
      } finally {
        await lab.kubectl(['delete', '-f', '-', '--ignore-not-found'], `${xns}---\n${grant}`);
      }
    },
  );

  test(
    'control plane down: the waypoint keeps serving its last config',
    { timeout: 300_000 },
    async () => {
      await scale('istio-system', 'istiod', 0);
      try {
        await until(
          'istiod gone',
          async () => (await lab.pods('istio-system', 'app=istiod')).length === 0,
        );
        const ok = await requests(10);
        assert.equal(ok.filter((r) => r.status === 200 && via(r)).length, 10, 'routed replies');
        const denied = await requests(3, '/gm-deny');
        assert.deepEqual(
          denied.map((r) => r.status),
          [403, 403, 403],
          'the DENY policy still holds',
        );
      } finally {
        await scale('istio-system', 'istiod', 1);
      }
      // Ready, not only present: a pod that starts while istiod is not serving yet backs off
      // its certificate and xDS retries (up to minutes, as Istio's), and the next test scales
      // the waypoint.
      await until(
        'istiod back and Ready',
        async () => (await readyPods('istio-system', 'app=istiod')).length === 1,
        180_000,
        podReport,
      );
    },
  );

  test(
    'two waypoint replicas: new connections spread over both; one keep-alive connection is balanced per request',
    { timeout: 400_000 },
    async (t) => {
      await scale(MESH_NS, 'namespace', 2);
      try {
        let ips: string[] = [];
        await until(
          'two ready waypoint pods',
          async () => (ips = await waypointIPs()).length === 2,
          180_000,
          podReport,
        );
        // Converged once every ztunnel knows both pods: both answer within one small sample.
        // Requests may fail while they learn (fail closed), so this wait asks nothing else.
        await until('both replicas answering', async () => {
          const seen = new Set((await requests(20)).filter(via).map((r) => field(r.body, 'IP')));
          return ips.every((ip) => seen.has(ip));
        });

        // (a) Each request its own connection: ztunnel picks a replica per connection (as
        // Istio's ztunnel does), uniformly at random. 120 requests: a share outside 30–70 %
        // is 4.4 standard deviations off (p < 1e-5).
        const rs = await requests(120);
        const answered = rs.filter((r) => r.status === 200);
        const byPod = count(answered, (r) => field(r.body, 'IP') ?? '?');
        t.diagnostic(
          `new connections: ${rs.length} sent, per waypoint pod ${JSON.stringify(byPod)}`,
        );
        assert.equal(rs.length, 120);
        assert.ok(answered.length >= 114, `only ${answered.length} of 120 answered`);
        assert.deepEqual(
          answered.filter((r) => !via(r)),
          [],
          'replies that bypassed the waypoint',
        );
        assert.deepEqual(Object.keys(byPod).sort(), [...ips].sort(), 'peers seen by echo');
        for (const ip of ips)
          assert.ok(
            byPod[ip]! >= 0.3 * answered.length && byPod[ip]! <= 0.7 * answered.length,
            `waypoint ${ip} carried ${byPod[ip]} of ${answered.length}`,
          );

        // (b) One HTTP/1.1 keep-alive connection, 100 requests: one waypoint pod carries them
        // all, and it picks echo's endpoint per request (Envoy's per-request LB), so both
        // pods behind `echo` answer. A share outside 30–70 % is 4 standard deviations off.
        const ka = await keepAlive(100);
        const kaOk = ka.filter((r) => r.status === 200);
        const connects = ka.reduce((n, r) => n + r.connects, 0);
        const byBackend = count(kaOk, (r) => (field(r.body, 'Hostname') ?? '?').split('-')[1]!);
        const kaPods = count(kaOk, (r) => field(r.body, 'IP') ?? '?');
        t.diagnostic(
          `one keep-alive connection (${connects} connect): per echo version ${JSON.stringify(byBackend)}, per waypoint pod ${JSON.stringify(kaPods)}`,
        );
        assert.equal(ka.length, 100);
        assert.equal(connects, 1, 'curl opened exactly one connection for the 100 requests');
        assert.equal(kaOk.length, 100, `answered: ${kaOk.length}`);
        assert.ok(kaOk.every(via), 'every reply passed the waypoint');
        assert.equal(Object.keys(kaPods).length, 1, 'one connection, one waypoint pod');
        assert.ok(ips.includes(Object.keys(kaPods)[0]!));
        assert.deepEqual(Object.keys(byBackend).sort(), ['v1', 'v2']);
        for (const v of ['v1', 'v2'])
          assert.ok(
            byBackend[v]! >= 30 && byBackend[v]! <= 70,
            `echo-${v} answered ${byBackend[v]} of 100`,
          );
      } finally {
        await scale(MESH_NS, 'namespace', 1);
      }
      await until('one waypoint pod', async () => (await lab.pods(MESH_NS, WP)).length === 1);
    },
  );

  test(
    'waypoint pod deleted mid-traffic: never bypassed, recovers; none at all: fail closed',
    { timeout: 400_000 },
    async (t) => {
      // One Ready waypoint pod to replace, whatever the test before left (a replica of its
      // scale-down may still be terminating).
      let current: PodJson[] = [];
      await until(
        'exactly one Ready waypoint pod',
        async () =>
          (current = await readyPods(MESH_NS, WP)).length === 1 &&
          (await lab.pods(MESH_NS, WP)).length === 1,
        180_000,
        podReport,
      );
      const oldIP = current[0]?.status?.podIP;
      const pod = current[0]?.metadata.name;
      assert.ok(oldIP && pod);
      const out = join(dir, 'traffic.out');
      const stop = join(dir, 'stop');
      writeFileSync(out, '');
      const loop = lab.sh(
        MESH_NS,
        v1,
        `i=0; while [ ! -e ${stop} ] && [ $i -lt 1500 ]; do i=$((i+1)); printf '\\n@@BEGIN\\n' >> ${out}; ${CURL} http://echo/ >> ${out} 2>/dev/null; done`,
        400_000,
      );
      const replies = () => parse(existsSync(out) ? readFileSync(out, 'utf8') : '');
      try {
        await until('traffic flowing', async () =>
          Promise.resolve(replies().filter((r) => r.status === 200).length >= 5),
        );
        const del = await lab.kubectl(['delete', 'pod', '-n', MESH_NS, pod, '--wait=false']);
        assert.equal(del.code, 0, del.stderr);
        let newIP = '';
        await until(
          'a new waypoint pod',
          async () => {
            newIP = (await waypointIPs()).find((ip) => ip !== oldIP) ?? '';
            return newIP !== '';
          },
          180_000,
          podReport,
        );
        await until('traffic through the new pod', async () =>
          Promise.resolve(
            replies()
              .slice(-3)
              .every((r) => r.status === 200 && field(r.body, 'IP') === newIP),
          ),
        );
        writeFileSync(stop, '');
        await loop;
        const all = replies();
        const answered = all.filter((r) => field(r.body, 'Hostname') !== undefined);
        const bypassed = answered.filter(
          (r) => !via(r) || ![oldIP, newIP].includes(field(r.body, 'IP') ?? ''),
        );
        assert.equal(
          bypassed.length,
          0,
          `${bypassed.length} of ${answered.length} replies did not pass the waypoint`,
        );
        t.diagnostic(
          `${all.length} requests while the pod was replaced: ${answered.length} answered via the waypoint, ${all.length - answered.length} failed`,
        );
      } finally {
        writeFileSync(stop, '');
        await loop;
      }

      await scale(MESH_NS, 'namespace', 0);
      try {
        await until('no waypoint pod', async () => (await lab.pods(MESH_NS, WP)).length === 0);
        const rs = await requests(10);
        const answered = rs.filter(
          (r) => field(r.body, 'Hostname') !== undefined || r.status === 200,
        );
        assert.equal(rs.length, 10);
        assert.equal(
          answered.length,
          0,
          `with no waypoint ${answered.length} of 10 requests reached echo`,
        );
      } finally {
        await scale(MESH_NS, 'namespace', 1);
      }
      await until('traffic back through the waypoint', async () =>
        (await requests(3)).every((r) => r.status === 200 && via(r)),
      );
    },
  );
});
