/**
 * An ingress gateway's HTTPS listeners (src/waypoint/ingress/tls.ts), in process on loopback,
 * with real curl (`--resolve`, `--cacert`) and certificates made by openssl: two listeners on
 * one port, `bookinfo.example.com` (CA A) and `*.example.com` (CA B); SNI picks the
 * certificate, Host the route; an SNI no listener takes fails the handshake; a listener whose
 * certificate does not load is disabled alone, and the gateway keeps serving the others.
 * The backend is the lab's echo app, reached as a plain (NONE) endpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IngressListener, WaypointConfig } from '../../src/api/waypoint-config.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { startEcho, type EchoServer } from '../../src/lab/apps/echo.js';
import { createLogger } from '../../src/log.js';
import { run } from '../../src/sys/exec.js';
import { Waypoint } from '../../src/waypoint/app.js';
import { createFakeCa } from '../helpers/fake-ca.js';
import { endpoint, httpRoute, NS, service, svcKey } from '../helpers/waypoint-fixtures.js';

const HOST = '127.0.0.2';
const dir = mkdtempSync(join(tmpdir(), 'ingress-tls-'));
const f = (n: string) => join(dir, n);

const openssl = (args: string[]) => run('openssl', args, { timeoutMs: 30_000 });

/** A CA (`<name>-ca.pem`) and a leaf for `dns` it signs. */
async function issue(name: string, dns: string): Promise<{ certPem: string; keyPem: string }> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = [f(`${name}-ca.pem`), f(`${name}-ca.key`)] as const;
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    ca[1],
    '-out',
    ca[0],
    '-days',
    '1',
    '-subj',
    `/CN=${name} CA`,
  ]);
  await openssl([
    'req',
    ...ec,
    '-keyout',
    f(`${name}.key`),
    '-out',
    f(`${name}.csr`),
    '-subj',
    `/CN=${dns}`,
  ]);
  writeFileSync(f(`${name}.ext`), `subjectAltName=DNS:${dns}\n`);
  await openssl([
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    ca[0],
    '-CAkey',
    ca[1],
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    f(`${name}.pem`),
    '-extfile',
    f(`${name}.ext`),
  ]);
  return {
    certPem: readFileSync(f(`${name}.pem`), 'utf8'),
    keyPem: readFileSync(f(`${name}.key`), 'utf8'),
  };
}

void describe('ingress gateway HTTPS listeners (tls.mode Terminate)', () => {
  let echo: EchoServer;
  let wp: Waypoint;
  let port = 0;
  let badPort = 0;
  const log = createLogger('test', () => undefined);

  before(async () => {
    const a = await issue('a', 'bookinfo.example.com');
    const b = await issue('b', '*.example.com');
    echo = await startEcho({ host: '127.0.0.21', httpPorts: [0], hostname: 'echo-v1-abc', log });
    const ca = await createFakeCa();
    const id = `spiffe://cluster.local/ns/${NS}/sa/gw-istio`;
    const certs = { get: () => ca.issue(id) };
    wp = new Waypoint({
      identity: id,
      trustDomain: 'cluster.local',
      ip: HOST,
      certificates: certs,
      hboneClient: createHboneClient({ certificates: certs, log }),
      listen: {
        hbone: { host: HOST, port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        metrics: { host: '127.0.0.1', port: 0 },
        readiness: { host: '127.0.0.1', port: 0 },
      },
      log,
      accessLog: () => undefined,
      ingress: { host: HOST, localPort: () => 0 },
    });
    await wp.start();
    const listeners: IngressListener[] = [
      {
        name: 'bookinfo',
        port: 443,
        protocol: 'HTTPS',
        hostname: 'bookinfo.example.com',
        tls: { certificates: [a] },
      },
      {
        name: 'wild',
        port: 443,
        protocol: 'HTTPS',
        hostname: '*.example.com',
        tls: { certificates: [b] },
      },
      {
        name: 'broken',
        port: 8443,
        protocol: 'HTTPS',
        tls: { certificates: [{ certPem: 'not a certificate', keyPem: a.keyPem }] },
      },
    ];
    const cfg: WaypointConfig = {
      version: '1',
      waypoint: {
        name: 'gw',
        namespace: NS,
        trustDomain: 'cluster.local',
        identity: id,
        trafficType: 'none',
        role: 'ingress',
        listeners,
      },
      services: [
        service('echo', '10.96.100.1', [
          endpoint('echo-v1-abc', '127.0.0.21', [[80, echo.ports.http[0]!]], { tunnel: 'NONE' }),
        ]),
      ],
      workloads: [],
      httpRoutes: [
        httpRoute(
          'echo',
          [{ backends: [{ kind: 'service', service: svcKey('echo'), port: 80, weight: 1 }] }],
          {
            parents: [{ kind: 'Gateway' }],
            hostnames: ['bookinfo.example.com', 'reviews.example.com'],
          },
        ),
      ],
      grpcRoutes: [],
      authorizationPolicies: [],
    };
    wp.store.apply(cfg);
    for (let i = 0; i < 100 && !(wp.ingressPorts().get(443) && wp.ingressPorts().get(8443)); i++)
      await new Promise((r) => setTimeout(r, 50));
    port = wp.ingressPorts().get(443)!;
    badPort = wp.ingressPorts().get(8443)!;
    assert.ok(port && badPort, 'both ports bound');
  });

  after(async () => {
    await wp?.stop(false);
    await echo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const curl = (host: string, ca: string, p = port, path = '/') =>
    run(
      'curl',
      [
        '-s',
        '-m',
        '10',
        '-w',
        '\n%{http_code}',
        '--cacert',
        f(`${ca}-ca.pem`),
        '--resolve',
        `${host}:${p}:${HOST}`,
        `https://${host}:${p}${path}`,
      ],
      { allowFail: true, timeoutMs: 20_000 },
    );

  void it("SNI picks the listener's certificate; Host picks the route", async () => {
    const r = await curl('bookinfo.example.com', 'a');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Hostname=echo-v1-abc/);
    assert.match(r.stdout, /\n200$/);
    const w = await curl('reviews.example.com', 'b');
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /\n200$/);
  });

  void it('a certificate from the other listener does not verify (curl exit 60)', async () => {
    assert.equal((await curl('reviews.example.com', 'a')).code, 60);
    assert.equal((await curl('bookinfo.example.com', 'b')).code, 60);
  });

  void it('a host the listener takes but no route does: 404; an SNI no listener takes: no handshake', async () => {
    const r = await curl('ratings.example.com', 'b');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n404$/);
    const none = await curl('shop.example.org', 'a');
    assert.equal(none.code, 35, `curl exit ${none.code}: ${none.stderr}`);
  });

  void it('a listener whose certificate does not load is disabled alone; the gateway keeps serving', async () => {
    const bad = await curl('bookinfo.example.com', 'a', badPort);
    assert.equal(bad.code, 35, `curl exit ${bad.code}`);
    assert.match((await curl('bookinfo.example.com', 'a')).stdout, /\n200$/);
  });
});
