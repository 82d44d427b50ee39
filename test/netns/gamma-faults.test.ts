/**
 * Waypoint faults in one lab (namespace waypoint `namespace` in front of the conformance echo
 * Services). A route only the waypoint applies marks every reply it carried (`X-Gm-Via`), and the
 * backend reports the peer it saw (`IP=`: the waypoint pod's address), so a reply that bypassed
 * the waypoint would show. Each request is its own curl process, so its own connection.
 * - control plane down: istiod scaled to 0; the waypoint keeps its route and policy;
 * - two replicas: the Deployment scaled to 2; connections spread over both pods;
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
import { gammaLab, gammaLabUp } from '../helpers/gamma-lab.js';
import { MESH_NS } from '../helpers/gamma-manifests.js';
import { policy } from '../helpers/gamma-policy-cases.js';
import { route } from '../helpers/gamma-suites.js';
import { skipUnlessRoot } from '../helpers/root.js';

const lab = gammaLab('gf');
const WP = 'gateway.networking.k8s.io/gateway-name=namespace';
let dir = '';
let v1 = '';

const marker = route('gm-marker', `[{group: "", kind: Service, name: echo}]`, [
  `{filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-Gm-Via, value: waypoint}]}}], backendRefs: [{name: echo, port: 8080}]}`,
]);
const deny = policy('gm-deny', 'DENY', ['{to: [{operation: {paths: ["/gm-deny"]}}]}']);

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

const via = (r: Reply) => r.headers.some(([k, v]) => k === 'x-gm-via' && v === 'waypoint');

async function until(what: string, f: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return;
    await sleep(1000);
  }
  assert.fail(`${what} did not happen within ${ms / 1000} s`);
}

async function waypointIPs(): Promise<string[]> {
  const r = await lab.kubectl(['get', 'pods', '-n', MESH_NS, '-l', WP, '-o', 'json']);
  const items = (JSON.parse(r.stdout) as { items: PodJson[] }).items;
  return items
    .filter(
      (p) =>
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    )
    .map((p) => p.status?.podIP ?? '')
    .filter(Boolean);
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
      await until(
        'istiod back',
        async () => (await lab.pods('istio-system', 'app=istiod')).length === 1,
      );
    },
  );

  test('two waypoint replicas share the connections', { timeout: 300_000 }, async () => {
    await scale(MESH_NS, 'namespace', 2);
    try {
      let ips: string[] = [];
      await until('two ready waypoint pods', async () => (ips = await waypointIPs()).length === 2);
      let seen: Record<string, number> = {};
      await until('both replicas carrying requests', async () => {
        const rs = await requests(40);
        seen = {};
        for (const r of rs)
          if (via(r)) seen[field(r.body, 'IP') ?? ''] = (seen[field(r.body, 'IP') ?? ''] ?? 0) + 1;
        return (
          rs.every((r) => r.status === 200 && via(r)) && ips.every((ip) => (seen[ip] ?? 0) >= 5)
        );
      });
      assert.deepEqual(
        Object.keys(seen).sort(),
        [...ips].sort(),
        `peers seen by echo: ${JSON.stringify(seen)}`,
      );
    } finally {
      await scale(MESH_NS, 'namespace', 1);
    }
    await until('one waypoint pod', async () => (await lab.pods(MESH_NS, WP)).length === 1);
  });

  test(
    'waypoint pod deleted mid-traffic: never bypassed, recovers; none at all: fail closed',
    { timeout: 400_000 },
    async (t) => {
      const [oldIP] = await waypointIPs();
      const [pod] = await lab.pods(MESH_NS, WP);
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
        await until('a new waypoint pod', async () => {
          newIP = (await waypointIPs()).find((ip) => ip !== oldIP) ?? '';
          return newIP !== '';
        });
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
