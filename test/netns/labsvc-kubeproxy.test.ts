import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Endpoints, Service } from '../../src/k8s/types.js';
import { RuleApplier } from '../../src/lab/kubeproxy/apply.js';
import { endpointChain, renderProxyRules, serviceChain } from '../../src/lab/kubeproxy/render.js';
import { run } from '../../src/sys/exec.js';
import { skipUnlessRoot } from '../helpers/root.js';

const tag = randomBytes(3).toString('hex');
const NODE = `lsk${tag}n`;
const SRV = `lsk${tag}s`;
const servers: ChildProcess[] = [];

const sh = (netns: string, cmd: string, args: string[]) => run(cmd, args, { netns });

function service(name: string, ip: string, port: number, protocol: 'TCP' | 'UDP' = 'TCP'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP: ip, ports: [{ name: 'p', port, protocol }] },
  };
}

function endpoints(name: string, eps: { ip: string; port: number }[], protocol = 'TCP'): Endpoints {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'default' },
    subsets: eps.map((e) => ({
      addresses: [{ ip: e.ip }],
      ports: [{ name: 'p', port: e.port, protocol }],
    })),
  };
}

/** An HTTP server in the server netns answering with its own port, so we see which endpoint served. */
async function httpServer(port: number): Promise<void> {
  const code = `require('http').createServer((q,r)=>r.end('served-by-${port}')).listen(${port},'0.0.0.0',()=>console.log('up'))`;
  const child = spawn('ip', ['netns', 'exec', SRV, process.execPath, '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(child);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 10_000);
    child.stdout!.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
}

async function curl(url: string): Promise<{ code: number; body: string }> {
  const r = await run('curl', ['-sS', '--max-time', '5', url], { netns: NODE, allowFail: true });
  return { code: r.code, body: r.stdout };
}

async function save(): Promise<string> {
  return (await sh(NODE, 'iptables-save', [])).stdout;
}

before(async () => {
  if (skipUnlessRoot) return;
  await run('ip', ['netns', 'add', NODE]);
  await run('ip', ['netns', 'add', SRV]);
  await run('ip', [
    'link',
    'add',
    'veth0',
    'netns',
    NODE,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    SRV,
  ]);
  await sh(NODE, 'ip', ['addr', 'add', '192.168.250.1/30', 'dev', 'veth0']);
  await sh(NODE, 'ip', ['link', 'set', 'veth0', 'up']);
  await sh(NODE, 'ip', ['link', 'set', 'lo', 'up']);
  // ClusterIPs belong to no device, as on a node; a route just lets the first packet leave
  // (this kernel has no dummy device type). Without the DNAT nobody would answer.
  await sh(NODE, 'ip', ['route', 'add', '10.96.0.0/16', 'dev', 'veth0']);
  await sh(SRV, 'ip', ['addr', 'add', '192.168.250.2/30', 'dev', 'eth0']);
  await sh(SRV, 'ip', ['link', 'set', 'eth0', 'up']);
  await sh(SRV, 'ip', ['link', 'set', 'lo', 'up']);
  await httpServer(80);
  await httpServer(8080);
});

after(async () => {
  for (const s of servers) if (s.exitCode === null) s.kill('SIGKILL');
  await run('ip', ['netns', 'del', NODE], { allowFail: true });
  await run('ip', ['netns', 'del', SRV], { allowFail: true });
});

void test(
  'kube-proxy rules in a netns: DNAT to another netns, stale chains removed',
  { skip: skipUnlessRoot },
  async () => {
    const applier = new RuleApplier({ netns: NODE });
    // The node agent's own jump, inserted on top before kube-proxy runs: it must stay first.
    await sh(NODE, 'iptables', ['-t', 'nat', '-N', 'ztunnel-PREROUTING']);
    await sh(NODE, 'iptables', ['-t', 'nat', '-I', 'PREROUTING', '-j', 'ztunnel-PREROUTING']);

    const services = [service('web', '10.96.0.105', 8000), service('dns', '10.96.0.10', 53, 'UDP')];
    let eps = [
      endpoints('web', [{ ip: '192.168.250.2', port: 80 }]),
      endpoints('dns', [{ ip: '192.168.250.2', port: 53 }], 'UDP'),
    ];
    const first = await applier.apply(renderProxyRules(services, eps));
    assert.equal(first.applied, true);

    const webChain = serviceChain('default/web:p', 'TCP');
    const sep80 = endpointChain('default/web:p', 'TCP', '192.168.250.2:80');
    let text = await save();
    assert.match(
      text,
      new RegExp(
        `-A KUBE-SERVICES -d 10.96.0.105/32 -p tcp -m comment --comment "default/web:p cluster IP" -m tcp --dport 8000 -j ${webChain}`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `-A ${sep80} -p tcp -m comment --comment "default/web:p" -m tcp -j DNAT --to-destination 192.168.250.2:80`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `-A KUBE-SERVICES -d 10.96.0.10/32 -p udp .* -j ${serviceChain('default/dns:p', 'UDP')}`,
      ),
    );
    const pre = text.split('\n').filter((l) => l.startsWith('-A PREROUTING'));
    assert.deepEqual(pre, [
      '-A PREROUTING -j ztunnel-PREROUTING',
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]);

    const hit = await curl('http://10.96.0.105:8000/');
    assert.equal(hit.code, 0);
    assert.equal(hit.body, 'served-by-80');

    // Unchanged input: nothing is re-applied and the jumps are not duplicated.
    assert.equal((await applier.apply(renderProxyRules(services, eps))).applied, false);

    // Someone removes our PREROUTING jump: the next (periodic) apply puts it back, appended.
    await sh(NODE, 'iptables', [
      '-t',
      'nat',
      '-D',
      'PREROUTING',
      '-m',
      'comment',
      '--comment',
      'kubernetes service portals',
      '-j',
      'KUBE-SERVICES',
    ]);
    assert.equal((await applier.apply(renderProxyRules(services, eps))).applied, true);
    assert.deepEqual(
      (await save()).split('\n').filter((l) => l.startsWith('-A PREROUTING')),
      pre,
    );

    // Endpoint moves to port 8080: the old SEP chain is gone, traffic follows.
    eps = [endpoints('web', [{ ip: '192.168.250.2', port: 8080 }]), eps[1]!];
    assert.equal((await applier.apply(renderProxyRules(services, eps))).applied, true);
    text = await save();
    assert.ok(!text.includes(sep80), 'stale endpoint chain deleted');
    assert.ok(text.includes(endpointChain('default/web:p', 'TCP', '192.168.250.2:8080')));
    assert.equal((await curl('http://10.96.0.105:8000/')).body, 'served-by-8080');
    assert.equal(
      text.split('\n').filter((l) => l.includes('"kubernetes service portals" -j KUBE-SERVICES'))
        .length,
      4,
    );

    // The service loses its endpoints: REJECTed at once (curl: connection refused), chains gone.
    eps = [endpoints('web', []), eps[1]!];
    await applier.apply(renderProxyRules(services, eps));
    text = await save();
    assert.ok(!text.includes(webChain), 'service chain deleted');
    assert.match(text, /"default\/web:p has no endpoints" -m tcp --dport 8000 -j REJECT/);
    const refused = await curl('http://10.96.0.105:8000/');
    assert.equal(refused.code, 7, `curl exit ${refused.code}: connection refused expected`);

    // Service deleted: nothing of it remains.
    await applier.apply(renderProxyRules([services[1]!], [eps[1]!]));
    text = await save();
    assert.ok(!text.includes('10.96.0.105'));
    assert.match(text, /:KUBE-SVC-/, 'the other service is still there');
    assert.ok(text.includes('-A PREROUTING -j ztunnel-PREROUTING'), 'foreign rules untouched');
  },
);
