/**
 * ztunnel on the real kernel path: the two-node ip-command fixture (underlay, nodes, ptp pods,
 * kube-proxy DNAT), the iptables node agent backend, and two real ztunnel processes, each in
 * its ztunnel pod's netns behind TPROXY, with nginx as the server and curl/openssl/ss/tcpdump
 * as the witnesses. The state comes from a static xDS snapshot fed on stdin and certificates
 * from the test CA (there is no control plane in the fixture); everything else is production
 * code. This file doubles as that ztunnel harness: run with AMBIT_ZT_HARNESS=<file> it starts a
 * ztunnel instead of tests.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Address, Authorization } from '../../src/api/workload.js';
import type { IssuedCertificate, XdsDelta } from '../../src/xds/types.js';

const HARNESS = process.env.AMBIT_ZT_HARNESS;
const SELF = fileURLToPath(import.meta.url);

interface HarnessInput {
  node: string;
  instanceIp: string;
  certs: Record<string, IssuedCertificate>;
  delta: XdsDelta;
}

/** Child mode: one ztunnel with static state and pre-issued certificates. */
async function harness(file: string): Promise<void> {
  const { Ztunnel } = await import('../../src/ztunnel/app.js');
  const { DEFAULT_PORTS } = await import('../../src/ztunnel/config.js');
  const { createHboneClient } = await import('../../src/hbone/client.js');
  const { createHboneServer } = await import('../../src/hbone/server.js');
  const input = JSON.parse(readFileSync(file, 'utf8')) as HarnessInput;
  const certs = new Map(
    Object.entries(input.certs).map(([id, c]) => [
      id,
      { ...c, notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter) },
    ]),
  );
  const identity = {
    get: (id: string) => {
      const c = certs.get(id);
      return c ? Promise.resolve(c) : Promise.reject(new Error(`no certificate for ${id}`));
    },
    prefetch: () => undefined,
    forget: () => undefined,
    dump: () => [...certs.keys()].map((identity) => ({ identity, state: 'Available' })),
  };
  const z = new Ztunnel(
    {
      podName: `ztunnel-${input.node}`,
      podNamespace: 'istio-system',
      nodeName: input.node,
      instanceIp: input.instanceIp,
      clusterId: 'Kubernetes',
      trustDomain: 'cluster.local',
      xdsAddress: 'static',
      caAddress: 'static',
      rootCa: '',
      dnsCapture: false,
      ports: DEFAULT_PORTS,
      listenHost: '127.0.0.1',
      dnsHost: '0.0.0.0',
      statsHost: '0.0.0.0',
      transparent: true,
      spoof: 'transparent',
      hbonePort: 15008,
      drainDeadlineMs: 2000,
      stateWaitMs: 5000,
    },
    {
      identity,
      hboneClient: createHboneClient({ certificates: identity }),
      hboneServer: (o) => createHboneServer(o),
      onQuit: () => process.exit(0),
    },
  );
  z.applyDelta(input.delta);
  z.markSynced();
  await z.start();
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l.trim()) z.applyDelta(JSON.parse(l) as XdsDelta);
    process.stdout.write('HARNESS APPLIED\n');
  });
  process.once('SIGTERM', () => void z.drain().finally(() => process.exit(0)));
  process.stdout.write('HARNESS READY\n');
}

if (HARNESS) {
  await harness(HARNESS);
} else {
  await suite();
}

async function suite(): Promise<void> {
  const { skipUnlessRoot } = await import('../helpers/root.js');
  const { run } = await import('../../src/sys/exec.js');
  const { IptablesBackend } = await import('../../src/redirect/iptables/backend.js');
  const { buildFixtureTopology } = await import('../helpers/redirect-topology.js');
  type Topo = Awaited<ReturnType<typeof buildFixtureTopology>>;
  type Backend = InstanceType<typeof IptablesBackend>;
  const { createFakeCa } = await import('../helpers/fake-ca.js');
  const { policy, rule, selectedBy, service, workload } =
    await import('../../src/ztunnel/testing.js');

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const SLEEP_ID = 'spiffe://cluster.local/ns/default/sa/sleep';

  class ZtunnelProc {
    readonly lines: string[] = [];
    readonly stderr: string[] = [];
    child!: ChildProcess;
    private waiters: { match: string; from: number; resolve: () => void }[] = [];

    constructor(
      readonly netns: string,
      readonly file: string,
    ) {}

    async start(): Promise<void> {
      const execArgv = process.execArgv.filter((a) => !a.startsWith('--test'));
      this.child = spawn('ip', ['netns', 'exec', this.netns, process.execPath, ...execArgv, SELF], {
        env: { ...process.env, AMBIT_ZT_HARNESS: this.file },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      createInterface({ input: this.child.stdout! }).on('line', (l) => {
        this.lines.push(l);
        for (const w of [...this.waiters]) {
          if (this.lines.slice(w.from).some((x) => x.includes(w.match))) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      });
      createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l));
      await this.waitLine('HARNESS READY', 0, 20_000);
    }

    waitLine(match: string, from = this.lines.length, ms = 5000): Promise<void> {
      if (this.lines.slice(from).some((x) => x.includes(match))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(
                `ztunnel in ${this.netns}: no "${match}"; stderr: ${this.stderr.slice(-5).join(' | ')}`,
              ),
            ),
          ms,
        );
        this.waiters.push({ match, from, resolve: () => (clearTimeout(t), resolve()) });
      });
    }

    async push(delta: Omit<XdsDelta, 'typeUrl' | 'version'>): Promise<void> {
      const from = this.lines.length;
      this.child.stdin!.write(JSON.stringify({ typeUrl: 'test', version: '1', ...delta }) + '\n');
      await this.waitLine('HARNESS APPLIED', from);
    }

    async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return;
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill(signal);
      await Promise.race([exited, sleep(5000)]);
    }
  }

  const curl = async (netns: string, url: string, extra: string[] = [], maxTime = 5) =>
    run('curl', ['-sS', '--max-time', String(maxTime), ...extra, url], {
      netns,
      allowFail: true,
      timeoutMs: (maxTime + 5) * 1000,
    });

  const ss = async (netns: string, filter: string) =>
    (
      await run('ss', ['-Htn', 'state', 'established', ...filter.split(' ')], {
        netns,
        allowFail: true,
      })
    ).stdout
      .split('\n')
      .filter((l) => l.trim());

  void describe(
    'ztunnel on the kernel capture path (fixture + iptables)',
    { skip: skipUnlessRoot, timeout: 300_000 },
    () => {
      let t: Topo;
      let dir: string;
      let bA: Backend;
      let bB: Backend;
      let zA: ZtunnelProc;
      let zB: ZtunnelProc;
      let nginx: ChildProcess | undefined;
      let bigSha = '';
      const url = (path: string) => `http://10.96.0.105:8000${path}`;
      const accessLog = () =>
        readFileSync(join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean);

      before(async () => {
        t = await buildFixtureTopology();
        dir = mkdtempSync(join(tmpdir(), 'ambit-zt-netns-'));
        const ca = await createFakeCa();
        const ids = ['sleep', 'other', 'httpbin'].map(
          (sa) => `spiffe://cluster.local/ns/default/sa/${sa}`,
        );
        const certs = Object.fromEntries(
          await Promise.all(ids.map(async (id) => [id, await ca.issue(id)])),
        );
        writeFileSync(join(dir, 'root.pem'), ca.rootPem);
        writeFileSync(join(dir, 'sleep.pem'), certs[SLEEP_ID].certChainPem.join(''));
        writeFileSync(join(dir, 'sleep.key'), certs[SLEEP_ID].keyPem);
        const otherCa = await createFakeCa();
        const foreign = await otherCa.issue(SLEEP_ID);
        writeFileSync(join(dir, 'foreign.pem'), foreign.certChainPem.join(''));
        writeFileSync(join(dir, 'foreign.key'), foreign.keyPem);
        const otherTd = await ca.issue('spiffe://other.domain/ns/default/sa/sleep');
        writeFileSync(join(dir, 'othertd.pem'), otherTd.certChainPem.join(''));
        writeFileSync(join(dir, 'othertd.key'), otherTd.keyPem);

        const svc = service('httpbin', '10.96.0.105', [[8000, 80]]);
        const addresses: Address[] = [
          { service: svc },
          { workload: selectedBy(workload('httpbin', t.httpbin.ip, 'worker'), svc) },
          { workload: workload('sleep', t.sleep.ip, 'worker2') },
          { workload: workload('other', t.other.ip, 'worker2') },
        ];
        const delta: XdsDelta = {
          typeUrl: 'test',
          version: '1',
          addresses: { added: addresses, removed: [] },
        };
        const input = (node: string, ip: string, own: string[]): HarnessInput => ({
          node,
          instanceIp: ip,
          certs: Object.fromEntries(own.map((id) => [id, certs[id]])),
          delta,
        });
        writeFileSync(
          join(dir, 'a.json'),
          JSON.stringify(input('worker2', t.ztunnelA.ip, [ids[0]!, ids[1]!])),
        );
        writeFileSync(
          join(dir, 'b.json'),
          JSON.stringify(input('worker', t.ztunnelB.ip, [ids[2]!])),
        );

        // nginx as the server pod: its access log is the witness of the client address.
        mkdirSync(join(dir, 'files'));
        const bigFile = join(dir, 'files', 'big');
        await run('sh', ['-c', `head -c 1073741824 /dev/urandom > ${bigFile}`], {
          timeoutMs: 120_000,
        });
        bigSha = (await run('sha256sum', [bigFile], { timeoutMs: 120_000 })).stdout.split(' ')[0]!;
        const tmp = (n: string) => `${n}_temp_path ${join(dir, n)};`;
        writeFileSync(
          join(dir, 'nginx.conf'),
          `worker_processes 1; user root; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')};
events { worker_connections 4096; }
http {
  access_log ${join(dir, 'access.log')};
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp).join(' ')}
  client_header_timeout 60s; keepalive_timeout 60s;
  server {
    listen 80;
    location = /ip { default_type application/json; return 200 '{"origin":"$remote_addr"}\\n'; }
    location /files/ { alias ${join(dir, 'files')}/; }
  }
}
`,
        );
        nginx = spawn(
          'ip',
          [
            'netns',
            'exec',
            t.httpbin.netns,
            'nginx',
            '-c',
            join(dir, 'nginx.conf'),
            '-g',
            'daemon off;',
          ],
          {
            stdio: 'ignore',
          },
        );
        for (let i = 0; i < 50; i++) {
          const r = await curl(t.worker.netns, `http://${t.httpbin.ip}/ip`, [], 1);
          if (r.code === 0) break;
          await sleep(100);
        }

        bA = new IptablesBackend({
          netns: t.worker2.netns,
          stateFile: join(dir, 'worker2.json'),
          hostIp: t.worker2.hostIp,
        });
        bB = new IptablesBackend({
          netns: t.worker.netns,
          stateFile: join(dir, 'worker.json'),
          hostIp: t.worker.hostIp,
        });
        const zt = (p: Topo['ztunnelA']) => ({
          podIp: p.ip,
          hostVeth: p.hostVeth,
          netns: p.netns,
          dnsCapture: false,
        });
        await bA.setZtunnel(zt(t.ztunnelA));
        await bB.setZtunnel(zt(t.ztunnelB));
        await bA.addPod({ ip: t.sleep.ip, uid: t.sleep.uid, hostVeth: t.sleep.hostVeth });
        await bA.addPod({ ip: t.other.ip, uid: t.other.uid, hostVeth: t.other.hostVeth });
        await bB.addPod({ ip: t.httpbin.ip, uid: t.httpbin.uid, hostVeth: t.httpbin.hostVeth });
        zA = new ZtunnelProc(t.ztunnelA.netns, join(dir, 'a.json'));
        zB = new ZtunnelProc(t.ztunnelB.netns, join(dir, 'b.json'));
        await zA.start();
        await zB.start();
      });

      after(async () => {
        await zA?.kill();
        await zB?.kill();
        if (nginx?.pid) {
          const exited = new Promise((r) => nginx!.once('exit', r));
          nginx.kill('SIGTERM');
          await Promise.race([exited, sleep(3000)]);
        }
        await bA?.uninstall().catch(() => undefined);
        await bB?.uninstall().catch(() => undefined);
        await t?.destroy();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      void it("the seeds' request: curl sleep → httpbin VIP; nginx sees 10.244.2.8; B logs sleep's identity", async () => {
        // Count from before the request: B may log the connection before curl has even returned.
        const fromB = zB.lines.length;
        const r = await curl(t.sleep.netns, url('/ip'));
        assert.equal(
          r.code,
          0,
          `curl failed: ${r.stderr}\nA: ${zA.stderr.slice(-5).join('\n')}\nB: ${zB.stderr.slice(-5).join('\n')}`,
        );
        assert.deepEqual(JSON.parse(r.stdout), { origin: t.sleep.ip });
        assert.match(accessLog().at(-1)!, new RegExp(`^${t.sleep.ip.replace(/\./g, '\\.')} `));
        await zB.waitLine('direction=inbound', fromB);
        const line = zB.lines.slice(fromB).find((l) => l.includes('direction=inbound'))!;
        assert.ok(line.includes(`src.identity=${SLEEP_ID}`), line);
        await zA.waitLine('direction=outbound', 0);
        assert.ok(
          zA.lines.some(
            (l) =>
              l.includes('direction=outbound') && l.includes('dst.hbone_addr=10.244.1.7:15008'),
          ),
        );
      });

      void it('three TCP connections, and only TLS to 15008 on the underlay', async () => {
        const underlay = `${t.tag}-underlay`;
        const dump = spawn(
          'ip',
          ['netns', 'exec', underlay, 'tcpdump', '-i', 'br0', '-nn', '-l', '-A', 'tcp'],
          {
            stdio: ['ignore', 'pipe', 'ignore'],
          },
        );
        let captured = '';
        dump.stdout!.on('data', (d: Buffer) => (captured += d.toString('latin1')));
        await sleep(1000);
        // A slow download keeps the connections open while we look at them.
        const slow = curl(
          t.sleep.netns,
          url('/files/big'),
          ['-o', '/dev/null', '--limit-rate', '2M'],
          4,
        );
        await sleep(1500);
        const client = await ss(t.sleep.netns, 'dst 10.96.0.105');
        const tunnel = await ss(t.ztunnelA.netns, 'dst 10.244.1.7');
        const server = await ss(t.httpbin.netns, 'sport = :80');
        const zaApp = await ss(t.ztunnelA.netns, 'dport = :80');
        await slow;
        await sleep(300);
        dump.kill('SIGINT');
        await new Promise((r) => dump.once('exit', r));
        assert.equal(client.length, 1, client.join('\n'));
        assert.match(client[0]!, /10\.244\.2\.8:\d+\s+10\.96\.0\.105:8000/);
        assert.equal(tunnel.length, 1, tunnel.join('\n'));
        assert.match(tunnel[0]!, /10\.244\.2\.3:\d+\s+10\.244\.1\.7:15008/);
        assert.equal(server.length, 1, server.join('\n'));
        assert.match(server[0]!, /10\.244\.1\.7:80\s+10\.244\.2\.8:\d+/);
        assert.equal(zaApp.length, 0, 'ztunnel A made no direct connection to the app');
        const tcpLines = captured
          .split('\n')
          .filter((l) => / IP \d+\.\d+\.\d+\.\d+\.\d+ > /.test(l));
        assert.ok(tcpLines.length > 10, `tcpdump saw traffic: ${tcpLines.length}`);
        for (const l of tcpLines)
          assert.match(l, /\.15008[ :]/, `non-HBONE packet on the underlay: ${l}`);
        assert.ok(!captured.includes('GET /files/big'), 'plaintext HTTP on the underlay');
      });

      void it('bulk transfer of 1 GiB arrives intact (sha256)', async () => {
        const r = await run(
          'sh',
          ['-c', `curl -sS --max-time 150 ${url('/files/big')} | sha256sum`],
          {
            netns: t.sleep.netns,
            timeoutMs: 170_000,
          },
        );
        assert.equal(r.stdout.split(' ')[0], bigSha);
      });

      void it('policies: ALLOW sa/sleep only; DENY by namespace; removal restores; open connections re-checked', async () => {
        const allowSleep: Authorization = policy('allow-sleep', 'ALLOW', [
          rule([{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }]),
        ]);
        await zB.push({ authorizations: { added: [allowSleep], removed: [] } });
        try {
          assert.equal((await curl(t.sleep.netns, url('/ip'))).code, 0);
          const denied = await curl(t.other.netns, url('/ip'), [], 3);
          assert.notEqual(denied.code, 0, 'other service account refused');
          assert.ok(zB.lines.some((l) => l.includes('allow policies exist, but none allowed')));
        } finally {
          await zB.push({ authorizations: { added: [], removed: ['default/allow-sleep'] } });
        }
        assert.equal((await curl(t.other.netns, url('/ip'))).code, 0, 'access restored');

        // An open keep-alive connection is closed when a DENY arrives.
        const script = `
const s = require('node:net').connect(8000, '10.96.0.105', () =>
  s.write('GET /ip HTTP/1.1\\r\\nHost: httpbin\\r\\n\\r\\n'));
let t0 = 0;
s.on('data', () => { if (!t0) { t0 = Date.now(); console.log('RESP'); } });
s.on('error', () => undefined);
s.on('close', () => { console.log('CLOSED'); process.exit(0); });
setTimeout(() => { console.log('TIMEOUT'); process.exit(0); }, 20000);`;
        const held = spawn('ip', ['netns', 'exec', t.sleep.netns, process.execPath, '-e', script], {
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        const out: string[] = [];
        createInterface({ input: held.stdout! }).on('line', (l) => out.push(l));
        const waitOut = async (w: string, ms: number) => {
          for (let i = 0; i < ms / 50 && !out.includes(w); i++) await sleep(50);
          return out.includes(w);
        };
        try {
          assert.ok(await waitOut('RESP', 5000), `keep-alive request answered: ${out.join(',')}`);
          await sleep(300);
          assert.ok(!out.includes('CLOSED'), 'still open before the policy change');
          const denyNs = policy('deny-default', 'DENY', [
            rule([{ namespaces: [{ exact: 'default' }] }]),
          ]);
          await zB.push({ authorizations: { added: [denyNs], removed: [] } });
          assert.ok(await waitOut('CLOSED', 3000), `closed by the policy change: ${out.join(',')}`);
          assert.notEqual(
            (await curl(t.sleep.netns, url('/ip'), [], 3)).code,
            0,
            'DENY by namespace refuses',
          );
        } finally {
          held.kill('SIGKILL');
          await zB.push({ authorizations: { added: [], removed: ['default/deny-default'] } });
        }
        assert.equal((await curl(t.sleep.netns, url('/ip'))).code, 0);
      });

      void it('bad input to 15008 is refused and ztunnel keeps serving', async () => {
        const openssl = (extra: string[]) =>
          run(
            'sh',
            [
              '-c',
              `sleep 2 | timeout 10 openssl s_client -connect ${t.httpbin.ip}:15008 -alpn h2 -tls1_3 -CAfile ${join(dir, 'root.pem')} ${extra.join(' ')} 2>&1`,
            ],
            { netns: t.worker2.netns, allowFail: true, timeoutMs: 15_000 },
          );
        const noCert = await openssl([]);
        assert.match(noCert.stdout, /alert|error/i, noCert.stdout);
        const foreign = await openssl([
          '-cert',
          join(dir, 'foreign.pem'),
          '-key',
          join(dir, 'foreign.key'),
        ]);
        assert.match(foreign.stdout, /alert|error/i, foreign.stdout);
        const otherTd = await openssl([
          '-cert',
          join(dir, 'othertd.pem'),
          '-key',
          join(dir, 'othertd.key'),
        ]);
        assert.match(otherTd.stdout, /alert|error/i, otherTd.stdout);

        // HTTP/2 with a valid mesh certificate, from the node (not captured).
        const script = `
const http2 = require('node:http2'); const fs = require('node:fs');
const d = process.env.D;
const c = http2.connect('https://${t.httpbin.ip}:15008', { ca: fs.readFileSync(d + '/root.pem'),
  cert: fs.readFileSync(d + '/sleep.pem'), key: fs.readFileSync(d + '/sleep.key'),
  ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
c.on('error', () => undefined);
const ask = (h) => new Promise((res) => { const s = c.request(h, { endStream: false });
  s.on('response', (r) => { res(String(r[':status'])); s.close(); });
  s.on('error', (e) => res('error:' + (e.code || e.message)));
  s.on('close', () => res('closed:' + s.rstCode)); });
(async () => { const out = {};
  out.get = await ask({ ':method': 'GET', ':path': '/', ':scheme': 'https', ':authority': '${t.httpbin.ip}:80' });
  out.malformed = await ask({ ':method': 'CONNECT', ':authority': 'httpbin:80' });
  out.nonLocal = await ask({ ':method': 'CONNECT', ':authority': '10.244.1.99:80' });
  out.otherNode = await ask({ ':method': 'CONNECT', ':authority': '${t.sleep.ip}:80' });
  out.ok = await ask({ ':method': 'CONNECT', ':authority': '${t.httpbin.ip}:80' });
  out.huge = await ask({ ':method': 'CONNECT', ':authority': '${t.httpbin.ip}:80', 'x-big': 'a'.repeat(100000) });
  console.log(JSON.stringify(out)); c.close(); setTimeout(() => process.exit(0), 200); })();`;
        const r2 = await run('env', [`D=${dir}`, process.execPath, '-e', script], {
          netns: t.worker2.netns,
          allowFail: true,
          timeoutMs: 20_000,
        });
        const out = JSON.parse(r2.stdout.trim().split('\n').at(-1) ?? '{}') as Record<
          string,
          string
        >;
        assert.equal(out.ok, '200', JSON.stringify(out) + r2.stderr);
        assert.notEqual(out.get, '200', 'non-CONNECT refused');
        assert.equal(out.malformed, '400');
        assert.equal(out.nonLocal, '400', 'never an open relay');
        assert.equal(out.otherNode, '400', 'never an open relay');
        assert.notEqual(out.huge, '200', 'oversized header block refused');

        // A client that stalls mid-handshake does not block others.
        const stall = spawn(
          'ip',
          [
            'netns',
            'exec',
            t.worker2.netns,
            process.execPath,
            '-e',
            `const s=require('net').connect(15008,'${t.httpbin.ip}',()=>s.write(Buffer.from([0x16,3,1,0,200,1])));s.on('error',()=>{});setTimeout(()=>process.exit(0),8000)`,
          ],
          { stdio: 'ignore' },
        );
        await sleep(500);
        assert.equal(
          (await curl(t.sleep.netns, url('/ip'))).code,
          0,
          'still serving during a stalled handshake',
        );
        stall.kill('SIGKILL');
        assert.equal(zB.child.exitCode, null, 'ztunnel B still running');
      });

      void it('200 concurrent connections share at most 2 HTTP/2 connections between the ztunnels', async () => {
        const idle = (await ss(t.ztunnelA.netns, 'dst 10.244.1.7 dport = :15008')).length;
        const script = `
const net = require('node:net'); let open = 0;
for (let i = 0; i < 200; i++) { const s = net.connect(8000, '10.96.0.105', () => { open++;
  s.write('GET /ip HTTP/1.1\\r\\nHost: httpbin\\r\\n'); if (open === 200) console.log('OPEN'); });
  s.on('error', () => undefined); }
setTimeout(() => process.exit(0), 15000);`;
        const holder = spawn(
          'ip',
          ['netns', 'exec', t.sleep.netns, process.execPath, '-e', script],
          {
            stdio: ['ignore', 'pipe', 'ignore'],
          },
        );
        try {
          let atServer = 0;
          for (let i = 0; i < 100 && atServer < 200; i++) {
            await sleep(100);
            atServer = (await ss(t.httpbin.netns, 'sport = :80')).length;
          }
          assert.equal(atServer, 200, 'all 200 reached nginx');
          const tunnels = (await ss(t.ztunnelA.netns, 'dst 10.244.1.7 dport = :15008')).length;
          assert.ok(tunnels - idle <= 2, `new HBONE connections: ${tunnels - idle}`);
          const dump = await run('curl', ['-sS', 'http://127.0.0.1:15000/config_dump'], {
            netns: t.ztunnelA.netns,
          });
          const pool = (
            JSON.parse(dump.stdout) as {
              hbonePool: { byKey: Record<string, { connections: number; streams: number }> };
            }
          ).hbonePool.byKey;
          const key = Object.keys(pool).find(
            (k) => k.startsWith(`${SLEEP_ID}|`) && k.includes('|10.244.2.8|'),
          );
          assert.ok(key, JSON.stringify(pool));
          assert.ok(pool[key]!.streams >= 200, JSON.stringify(pool[key]));
          assert.ok(pool[key]!.connections <= 2, JSON.stringify(pool[key]));
        } finally {
          holder.kill('SIGKILL');
        }
      });

      void it('kill ztunnel A: new connections fail closed; a restarted ztunnel serves again', async () => {
        // The previous case's 200 held connections close after it ends, and nginx logs each as
        // it closes (CI saw ~100 lines land inside this case): count from a quiet server.
        for (let i = 0, lines = -1; i < 50; i++) {
          const quiet = (await ss(t.httpbin.netns, 'sport = :80')).length === 0;
          if (quiet && accessLog().length === lines) break;
          lines = accessLog().length;
          await sleep(300);
        }
        await zA.kill('SIGKILL');
        const before = accessLog().length;
        const r = await curl(t.sleep.netns, url('/ip'), [], 3);
        assert.notEqual(r.code, 0, 'no ztunnel: the connection must fail');
        const direct = await curl(t.sleep.netns, `http://${t.httpbin.ip}/ip`, [], 3);
        assert.notEqual(direct.code, 0, 'pod IP does not bypass either');
        assert.equal(accessLog().length, before, 'nothing reached nginx');
        zA = new ZtunnelProc(t.ztunnelA.netns, join(dir, 'a.json'));
        await zA.start();
        const back = await curl(t.sleep.netns, url('/ip'));
        assert.equal(back.code, 0, back.stderr);
        assert.deepEqual(JSON.parse(back.stdout), { origin: t.sleep.ip });
      });
    },
  );
}
