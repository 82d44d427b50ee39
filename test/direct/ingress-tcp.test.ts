/**
 * An ingress gateway's TCP listener (Gateway `protocol: TCP` + a TCPRoute whose parent is the
 * Gateway), in process on loopback: raw TCP from the listener port to the backend the route
 * picks by weight (the waypoint's TCP path, src/waypoint/tcp.ts), bytes echoed both ways, the
 * access log naming the upstream; HTTP routes stay on the HTTP listener; a TCP listener with no
 * TCPRoute closes connections. The backends are the lab's echo app (TCP echo), plain (NONE).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { WaypointConfig } from '../../src/api/waypoint-config.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { startEcho, type EchoServer } from '../../src/lab/apps/echo.js';
import { createLogger } from '../../src/log.js';
import { run } from '../../src/sys/exec.js';
import { Waypoint } from '../../src/waypoint/app.js';
import { createFakeCa } from '../helpers/fake-ca.js';
import {
  endpoint,
  httpRoute,
  NS,
  service,
  svcKey,
  tcpRoute,
  to,
} from '../helpers/waypoint-fixtures.js';

const HOST = '127.0.0.3';

/** One connection to the listener: what came back before the close. */
const tcpEcho = (port: number, line: string) =>
  new Promise<string>((resolve, reject) => {
    const s = net.connect(port, HOST, () => s.end(line));
    let b = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (b += d));
    s.on('close', () => resolve(b));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(b) : reject(e)));
  });

void describe('ingress gateway TCP listener (TCPRoute)', () => {
  const echoes: EchoServer[] = [];
  let wp: Waypoint;
  const accessLog: string[] = [];
  const log = createLogger('test', () => undefined);
  let cfg: WaypointConfig;
  let tcpPort = 0;
  let httpPort = 0;
  const addr = { v1: '127.0.0.31', v2: '127.0.0.32' };

  before(async () => {
    for (const [v, host] of Object.entries(addr))
      echoes.push(
        await startEcho({ host, httpPorts: [0], tcpPort: 0, hostname: `echo-${v}-abc`, log }),
      );
    const [e1, e2] = echoes as [EchoServer, EchoServer];
    const ep = (v: 'v1' | 'v2', e: EchoServer) =>
      endpoint(
        `echo-${v}-abc`,
        addr[v],
        [
          [80, e.ports.http[0]!],
          [9090, e.ports.tcp!],
        ],
        { tunnel: 'NONE' },
      );
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
      accessLog: (l) => accessLog.push(l),
      ingress: { host: HOST, localPort: () => 0 },
    });
    await wp.start();
    cfg = {
      version: '1',
      waypoint: {
        name: 'gw',
        namespace: NS,
        trustDomain: 'cluster.local',
        identity: id,
        trafficType: 'none',
        role: 'ingress',
        listeners: [
          { name: 'http', port: 80, protocol: 'HTTP' },
          { name: 'tcp-31400', port: 31400, protocol: 'TCP' },
        ],
      },
      services: [
        service('echo-v1', '10.96.100.2', [ep('v1', e1)], { serves: false }),
        service('echo-v2', '10.96.100.3', [ep('v2', e2)], { serves: false }),
      ],
      workloads: [],
      httpRoutes: [
        httpRoute('web', [{ backends: [to('echo-v1', 80)] }], { parents: [{ kind: 'Gateway' }] }),
      ],
      grpcRoutes: [],
      authorizationPolicies: [],
    };
    wp.store.apply(cfg);
    for (let i = 0; i < 100 && !(wp.ingressPorts().get(80) && wp.ingressPorts().get(31400)); i++)
      await new Promise((r) => setTimeout(r, 50));
    httpPort = wp.ingressPorts().get(80)!;
    tcpPort = wp.ingressPorts().get(31400)!;
    assert.ok(httpPort && tcpPort, 'both ports bound');
  });

  after(async () => {
    await wp?.stop(false);
    await Promise.all(echoes.map((e) => e.close()));
  });

  const apply = (v1: number, v2: number, version: string) =>
    wp.store.apply({
      ...cfg,
      version,
      tcpRoutes: [
        tcpRoute('tcp-echo', [to('echo-v1', 9090, v1), to('echo-v2', 9090, v2)], {
          parents: [{ kind: 'Gateway', sectionName: 'tcp-31400' }],
        }),
      ],
    });
  /** `n` connections; the upstream of each, from its access-log line. */
  const upstreams = async (n: number): Promise<string[]> => {
    const from = accessLog.length;
    for (let i = 0; i < n; i++) assert.equal(await tcpEcho(tcpPort, `hello ${i}`), `hello ${i}`);
    // A connection's line is written when the proxy's side of it has closed too.
    const tcpLines = () => accessLog.slice(from).filter((l) => l.includes('"- - TCP"'));
    for (let i = 0; i < 100 && tcpLines().length < n; i++)
      await new Promise((r) => setTimeout(r, 20));
    const lines = tcpLines();
    assert.equal(lines.length, n, lines.join('\n'));
    return lines.map((l) => (l.includes(addr.v1) ? 'v1' : l.includes(addr.v2) ? 'v2' : l));
  };

  it('no TCPRoute: the TCP listener closes connections; HTTP is served on its own listener', async () => {
    assert.equal(await tcpEcho(tcpPort, 'nobody'), '');
    const r = await run('curl', ['-s', '-m', '10', `http://${HOST}:${httpPort}/`], {
      allowFail: true,
      timeoutMs: 20_000,
    });
    assert.match(r.stdout, /Hostname=echo-v1-abc/);
    // The HTTPRoute did not attach to the TCP port: HTTP there is not routed as HTTP.
    const h = await run('curl', ['-s', '-m', '5', `http://${HOST}:${tcpPort}/`], {
      allowFail: true,
      timeoutMs: 20_000,
    });
    assert.doesNotMatch(h.stdout, /Hostname=/);
  });

  it('all to v1, then all to v2: bytes echoed, the upstream follows the weights', async () => {
    apply(1, 0, '2');
    assert.deepEqual(await upstreams(4), ['v1', 'v1', 'v1', 'v1']);
    apply(0, 1, '3');
    const ups = await upstreams(4);
    assert.deepEqual(ups, ['v2', 'v2', 'v2', 'v2']);
    const line = accessLog.filter((l) => l.includes('"- - TCP"')).at(-1) ?? '';
    assert.ok(line.includes('inbound-vip|9090|tcp|echo-v2.'), line);
    assert.ok(line.includes(svcKey('echo-v2').split('/')[1]!), line);
  });

  it('80/20: both backends get connections, v1 the most', async () => {
    apply(80, 20, '4');
    const ups = await upstreams(40);
    const v1 = ups.filter((u) => u === 'v1').length;
    const v2 = ups.filter((u) => u === 'v2').length;
    // P(no v2 in 40) = 0.8^40 ≈ 1e-4; P(v2 ≥ v1) is far smaller.
    assert.equal(v1 + v2, 40);
    assert.ok(v2 > 0 && v1 > v2, `v1=${v1} v2=${v2}`);
  });
});
