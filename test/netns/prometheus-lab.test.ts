/**
 * Istio's Prometheus addon in a real lab, as the getting-started guide's "visualize" step uses
 * it: `ambit demo` (mesh, default enrolled), a namespace waypoint, `kubectl apply -f
 * samples/addons/prometheus.yaml`, meshed traffic sleep → waypoint → httpbin, then Prometheus'
 * own HTTP API (queried with curl inside its pod through `kubectl exec`) shows that traffic:
 * `istio_tcp_connections_opened_total` from the ztunnels (reporter source on sleep's node for
 * sleep → httpbin's service, destination on httpbin's node for waypoint → httpbin) and
 * `istio_requests_total` plus the duration histogram from the waypoint (reporter waypoint),
 * with sleep as source and httpbin as destination. The 418 responses are this test's own, so a
 * series that existed before cannot satisfy the assertions. Debian's /usr/bin/prometheus runs in
 * the pod's network namespace; the test checks its process there and its TSDB in the pod's
 * directory, gone after `kubectl delete`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../../src/repo.js';
import { run } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const lab = labName('pm');
const ambit = join(repoRoot(), 'bin', 'ambit');
const env = { ...process.env, ...(import.meta.url.endsWith('.ts') ? { AMBIT_TSX: '1' } : {}) };
const cli = (args: string[]) => run(ambit, args, { allowFail: true, timeoutMs: 300_000, env });
const labDir = `/var/lib/ambit/labs/${lab}`;
const kubectl = (args: string[]) =>
  run('kubectl', ['--kubeconfig', `${labDir}/kubeconfig`, ...args], {
    allowFail: true,
    timeoutMs: 60_000,
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
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    `http://httpbin:8000${path}`,
  ]);

async function eventually<T>(
  what: string,
  seconds: number,
  f: () => Promise<T | undefined>,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < seconds; i++) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.fail(`${what} did not happen within ${seconds} s${last ? `: ${String(last)}` : ''}`);
}

async function nodeOf(selector: string): Promise<string> {
  const r = await kubectl([
    'get',
    'pods',
    '-l',
    selector,
    '-o',
    'jsonpath={.items[0].spec.nodeName}',
  ]);
  return r.stdout.trim();
}

type Sample = { metric: Record<string, string>; value: [number, string] };

async function prometheusPod(): Promise<string> {
  const r = await kubectl([
    '-n',
    'istio-system',
    'get',
    'pods',
    '-l',
    'app.kubernetes.io/name=prometheus',
    '-o',
    'jsonpath={.items[0].metadata.name}',
  ]);
  return r.stdout.trim();
}

/** An instant query through Prometheus' HTTP API, from inside its pod. */
async function query(pod: string, promql: string): Promise<Sample[]> {
  const r = await kubectl([
    '-n',
    'istio-system',
    'exec',
    pod,
    '--',
    'curl',
    '-sS',
    '-G',
    'http://localhost:9090/api/v1/query',
    '--data-urlencode',
    `query=${promql}`,
  ]);
  assert.equal(r.code, 0, `query failed: ${r.stderr}`);
  const body = JSON.parse(r.stdout) as { status: string; data: { result: Sample[] } };
  assert.equal(body.status, 'success', r.stdout);
  return body.data.result;
}

after(async () => {
  await cli(['demo', '--down', '--name', lab]);
});

test(
  'the Prometheus addon scrapes ztunnels and the waypoint: Istio metrics of meshed traffic',
  { skip: skipUnlessRoot, timeout: 900_000 },
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

    const a = await kubectl(['apply', '-f', join(repoRoot(), 'samples/addons/prometheus.yaml')]);
    assert.equal(a.code, 0, `kubectl apply failed:\n${a.stdout}\n${a.stderr}`);
    const wait = await kubectl([
      '-n',
      'istio-system',
      'wait',
      '--for=condition=Available',
      'deployment/prometheus',
      '--timeout=120s',
    ]);
    assert.equal(wait.code, 0, wait.stderr);
    const pod = await prometheusPod();
    assert.ok(pod, 'no prometheus pod');

    // The real binary, in the pod's network namespace, its TSDB in the pod's directory.
    const podDir = join(labDir, 'pods', `istio-system_${pod}`);
    const pidOf = (await run('pgrep', ['-x', 'prometheus'], { allowFail: true })).stdout
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .find((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(podDir);
        } catch {
          return false;
        }
      });
    assert.ok(pidOf, 'no /usr/bin/prometheus process of this pod');
    assert.equal(readlinkSync(`/proc/${pidOf}/exe`), '/usr/bin/prometheus');
    const netns = JSON.parse(
      (
        await kubectl([
          '-n',
          'istio-system',
          'get',
          'pod',
          pod,
          '-o',
          'jsonpath={.metadata.annotations}',
        ])
      ).stdout,
    ) as Record<string, string>;
    const nsName = netns['lab.ambit.dev/netns'];
    assert.ok(nsName, 'the pod has no netns annotation');
    const inode = (p: string) => run('stat', ['-L', '-c', '%i', p]).then((r) => r.stdout.trim());
    assert.equal(await inode(`/proc/${pidOf}/ns/net`), await inode(`/run/netns/${nsName}`));
    assert.ok(
      existsSync(join(podDir, 'volumes', 'storage-volume', 'wal')),
      'no TSDB in the pod dir',
    );

    // Meshed traffic through the waypoint, with responses only this test makes.
    await eventually('a 200 through the waypoint', 60, async () =>
      (await curl('/get')).stdout === '200' ? true : undefined,
    );
    for (let i = 0; i < 5; i++) assert.equal((await curl('/status/418')).stdout, '418');

    const httpbin = 'httpbin.default.svc.cluster.local';
    // Counters are read as last scraped: wait for a scrape after the five requests.
    const req = await eventually('istio_requests_total from the waypoint', 120, async () => {
      const r = await query(pod, `istio_requests_total{reporter="waypoint",response_code="418"}`);
      return r.length > 0 && Number(r[0]!.value[1]) >= 5 ? r : undefined;
    });
    assert.equal(req.length, 1, JSON.stringify(req));
    const m = req[0]!.metric;
    assert.equal(m.source_workload, 'sleep');
    assert.equal(m.source_workload_namespace, 'default');
    assert.equal(m.source_principal, 'spiffe://cluster.local/ns/default/sa/sleep');
    assert.equal(m.destination_service, httpbin);
    assert.equal(m.destination_workload, 'httpbin');
    assert.equal(m.destination_principal, 'spiffe://cluster.local/ns/default/sa/httpbin');
    assert.equal(m.connection_security_policy, 'mutual_tls');
    assert.equal(m.request_protocol, 'http');
    assert.equal(m.job, 'kubernetes-pods');
    assert.match(m.pod ?? '', /^waypoint-/);
    assert.ok(Number(req[0]!.value[1]) >= 5, `expected ≥ 5 requests: ${req[0]!.value[1]}`);
    const dur = await query(
      pod,
      `istio_request_duration_milliseconds_count{reporter="waypoint",response_code="418"}`,
    );
    assert.ok(Number(dur[0]?.value[1]) >= 5, JSON.stringify(dur));

    // ztunnels, each reporting the connection it saw: sleep's node the one sleep opened
    // (source: sleep → httpbin's service, through the waypoint), httpbin's node the one it
    // accepted (destination: httpbin, whose client on that hop is the waypoint).
    const sa = (n: string) => `spiffe://cluster.local/ns/default/sa/${n}`;
    const tcp = await eventually(
      'istio_tcp_connections_opened_total from both ztunnels',
      120,
      async () => {
        const s = await query(pod, `istio_tcp_connections_opened_total{app="ztunnel"}`);
        const src = s.find(
          (x) =>
            x.metric.reporter === 'source' &&
            x.metric.source_workload === 'sleep' &&
            x.metric.destination_service === httpbin,
        );
        const dst = s.find(
          (x) =>
            x.metric.reporter === 'destination' &&
            x.metric.destination_workload === 'httpbin' &&
            x.metric.source_principal === sa('waypoint'),
        );
        return src && dst ? { src, dst } : undefined;
      },
    );
    assert.equal(tcp.src.metric.source_principal, sa('sleep'));
    assert.equal(tcp.src.metric.source_workload_namespace, 'default');
    assert.equal(tcp.src.metric.connection_security_policy, 'mutual_tls');
    assert.equal(tcp.src.metric.pod, `ztunnel-${await nodeOf('app=sleep')}`);
    assert.equal(tcp.dst.metric.destination_principal, sa('httpbin'));
    assert.equal(tcp.dst.metric.source_workload, 'waypoint');
    assert.equal(tcp.dst.metric.destination_service, httpbin);
    assert.equal(tcp.dst.metric.pod, `ztunnel-${await nodeOf('app=httpbin')}`);
    for (const s of [tcp.src, tcp.dst]) assert.ok(Number(s.value[1]) >= 1);

    // Deleting the addon stops the process and removes its directory, TSDB included.
    const del = await kubectl([
      'delete',
      '-f',
      join(repoRoot(), 'samples/addons/prometheus.yaml'),
      '--wait=true',
      '--timeout=120s',
    ]);
    assert.equal(del.code, 0, del.stderr);
    await eventually('the prometheus process to stop and its pod dir to go', 120, async () =>
      !existsSync(`/proc/${pidOf}`) && !existsSync(podDir) ? true : undefined,
    );
  },
);
