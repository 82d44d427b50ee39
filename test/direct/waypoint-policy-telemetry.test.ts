/**
 * L7 policy and telemetry through a real in-process waypoint (real HBONE TLS, real curl):
 * 403 `RBAC: access denied` from DENY/ALLOW policies seen with the client's peer identity,
 * TCP connections closed by a policy with HTTP fields, Istio's request metrics with
 * reporter="waypoint", traceparent with a new span id, the access log and /config_dump.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { L7AuthorizationPolicy } from '../../src/api/waypoint-config.js';
import { svcKey } from '../helpers/waypoint-fixtures.js';
import { startHarness, SLEEP_ID, VIP, type Harness } from '../helpers/waypoint-harness.js';

const exec = promisify(execFile);

async function curl(
  port: number,
  path: string,
  ...args: string[]
): Promise<{ status: number; body: string }> {
  const { stdout } = await exec('curl', [
    '-sS',
    '--max-time',
    '20',
    '-w',
    '\n%{http_code}',
    ...args,
    `http://127.0.0.1:${port}${path}`,
  ]);
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
}

async function get(url: string): Promise<string> {
  return (await exec('curl', ['-sS', '--max-time', '10', url])).stdout;
}

const policy = (p: Partial<L7AuthorizationPolicy>): L7AuthorizationPolicy => ({
  name: 'p',
  namespace: 'gateway-conformance-mesh',
  action: 'DENY',
  target: { kind: 'Gateway' },
  rules: [],
  ...p,
});

void describe('waypoint policy and telemetry', () => {
  let h: Harness;
  let echo80 = 0;
  before(async () => {
    h = await startHarness();
    echo80 = await h.tunnel(`${VIP.echo}:80`);
  });
  after(async () => {
    await h?.close();
  });

  test('DENY on a path: 403 RBAC: access denied, other paths pass', async () => {
    h.apply({ authorizationPolicies: [policy({ rules: [{ to: [{ paths: ['/admin/*'] }] }] })] });
    const denied = await curl(echo80, '/admin/x');
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'RBAC: access denied');
    assert.equal((await curl(echo80, '/public')).status, 200);
    assert.match(
      h.accessLog.find((l) => l.includes('/admin/x')) ?? '',
      / 403 RBAC rbac_access_denied_matched_policy\[gateway-conformance-mesh\/p\]/,
    );
  });

  test('ALLOW by the client principal from the HBONE certificate, Service-targeted', async () => {
    const allowSleep = policy({
      action: 'ALLOW',
      target: { kind: 'Service', service: svcKey('echo') },
      rules: [
        { from: [{ principals: [SLEEP_ID.replace('spiffe://', '')] }], to: [{ methods: ['GET'] }] },
      ],
    });
    h.apply({ authorizationPolicies: [allowSleep] });
    assert.equal((await curl(echo80, '/')).status, 200);
    assert.equal((await curl(echo80, '/', '-X', 'POST')).status, 403);
    const other = policy({
      ...allowSleep,
      rules: [{ from: [{ principals: ['cluster.local/ns/default/sa/other'] }] }],
    });
    h.apply({ authorizationPolicies: [other] });
    assert.equal((await curl(echo80, '/')).status, 403);
    // Another service's policy does not touch echo-v1.
    const v1 = await h.tunnel(`${VIP.v1}:80`);
    assert.equal((await curl(v1, '/')).status, 200);
  });

  test('TCP traffic: an ALLOW with HTTP fields never matches, so the connection is closed', async () => {
    h.apply({
      authorizationPolicies: [policy({ action: 'ALLOW', rules: [{ to: [{ methods: ['GET'] }] }] })],
    });
    const port = await h.tunnel(`${VIP.echo}:9090`);
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('hello'));
      let b = '';
      s.on('data', (d: Buffer) => (b += d.toString()));
      s.on('close', () => resolve(b));
      s.on('error', () => undefined);
    });
    assert.equal(got, '');
    assert.ok(
      h.accessLog.some((l) => l.includes('"- - TCP" 0 RBAC')),
      h.accessLog.at(-1),
    );
  });

  test('metrics: istio_requests_total with reporter="waypoint" and Istio labels', async () => {
    h.apply();
    assert.equal((await curl(echo80, '/metrics-probe')).status, 200);
    const m = await get(`http://127.0.0.1:${h.waypoint.bound.metrics!.port}/stats/prometheus`);
    const line = m
      .split('\n')
      .find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'));
    assert.ok(line, m.slice(0, 2000));
    for (const want of [
      'reporter="waypoint"',
      'source_workload="sleep"',
      'source_workload_namespace="default"',
      `source_principal="${SLEEP_ID}"`,
      'destination_workload="echo-v1"',
      'destination_service="echo.gateway-conformance-mesh.svc.cluster.local"',
      'destination_service_name="echo"',
      'destination_principal="spiffe://cluster.local/ns/gateway-conformance-mesh/sa/default"',
      'request_protocol="http"',
      'response_flags="-"',
      'connection_security_policy="mutual_tls"',
    ])
      assert.ok(
        line.includes(want) ||
          (want.startsWith('destination_workload') &&
            line.includes('destination_workload="echo-v2"')),
        `${want} in ${line}`,
      );
    assert.match(m, /istio_request_duration_milliseconds_bucket\{reporter="waypoint"/);
    assert.match(m, /istio_response_bytes_sum\{reporter="waypoint"/);
    const ready = await exec('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${h.waypoint.bound.readiness!.port}/healthz/ready`,
    ]);
    assert.equal(ready.stdout, '200');
  });

  test('traceparent: the trace id is kept, the waypoint adds its own span id', async () => {
    h.apply();
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await curl(echo80, '/trace', '-H', `traceparent: ${tp}`);
    const seen = /RequestHeader=Traceparent:(\S+)/.exec(r.body)?.[1] ?? '';
    const [, trace, span, flags] = seen.split('-');
    assert.equal(trace, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.notEqual(span, '00f067aa0ba902b7');
    assert.equal(flags, '01');
    assert.ok(
      h.accessLog.some(
        (l) =>
          l.includes('/trace') && l.includes(`trace_id=${trace}`) && l.includes(`span_id=${span}`),
      ),
    );
  });

  test('/config_dump on the admin port shows the config, its status and warnings', async () => {
    h.apply({
      httpRoutes: [
        {
          name: 'bad',
          namespace: 'gateway-conformance-mesh',
          parents: [{ kind: 'Service', service: svcKey('echo') }],
          creationTimestampMs: 1,
          rules: [
            {
              matches: [{ path: { type: 'RegularExpression', value: '(' } }],
              filters: [],
              backends: [],
            },
          ],
        },
      ],
    });
    const d = JSON.parse(
      await get(`http://127.0.0.1:${h.waypoint.bound.admin!.port}/config_dump`),
    ) as {
      config: { services: unknown[] };
      status: { warnings: string[] };
      identity: string;
    };
    assert.equal(d.config.services.length, 5);
    assert.match(d.status.warnings.join('\n'), /WAYPOINT_ROUTE_REGEX/);
    assert.match(d.identity, /sa\/namespace$/);
  });
});
