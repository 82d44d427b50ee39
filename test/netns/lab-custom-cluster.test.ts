/**
 * A lab from a cluster file that is not the seeds' one, as a user writes it: other node names,
 * addresses, pod CIDRs and Service range, and one more worker. The mesh (manifests, DaemonSets)
 * must come up on it and a meshed curl must reach a 3-replica httpbin spread over the workers,
 * over mTLS. Before: the API server refused the cluster's own kube-dns address ("not in
 * 10.96.0.0/16") and istiod was pinned to a node named control-plane, so it never scheduled.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { externalDir } from '../helpers/external.js';
import { eventually, MeshLab } from '../helpers/mesh-lab.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const name = labName('cc');
const dir = mkdtempSync(join(tmpdir(), 'ambit-custom-cluster-'));
const clusterFile = join(dir, 'cluster.yaml');
writeFileSync(
  clusterFile,
  `name: ${name}
underlay:
  cidr: 192.168.77.0/24
  gateway: 192.168.77.1
serviceCIDR: 10.100.0.0/16
dnsIP: 10.100.0.10
nodes:
  - { name: hub, ip: 192.168.77.10, podCIDR: 10.50.0.0/24, role: control-plane }
  - { name: alpha, ip: 192.168.77.11, podCIDR: 10.50.1.0/24, role: worker }
  - { name: beta, ip: 192.168.77.12, podCIDR: 10.50.2.0/24, role: worker }
  - { name: gamma, ip: 192.168.77.13, podCIDR: 10.50.3.0/24, role: worker }
`,
);

void describe('a lab from a custom cluster file', { skip: skipUnlessRoot }, () => {
  const lab = new MeshLab(name);
  const k = async (args: string[]) => {
    const r = await lab.kubectl(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    const up = await lab.ambit(['lab', 'up', '-f', clusterFile, '--redirect', 'iptables'], 600_000);
    assert.equal(up.code, 0, `lab up: ${up.stdout}\n${up.stderr}`);
  });
  after(async () => {
    await lab.ambit(['lab', 'down', '--name', name], 300_000);
    rmSync(dir, { recursive: true, force: true });
  });

  void it('serves the cluster file Service range', async () => {
    assert.equal(
      await k(['get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}']),
      '10.100.0.1',
    );
    assert.equal(
      await k(['-n', 'kube-system', 'get', 'svc', 'kube-dns', '-o', 'jsonpath={.spec.clusterIP}']),
      '10.100.0.10',
    );
  });

  void it('runs istiod on the control-plane node and a ztunnel on every node', async () => {
    const istiod = await k([
      '-n',
      'istio-system',
      'get',
      'pods',
      '-l',
      'app=istiod',
      '-o',
      'jsonpath={.items[*].spec.nodeName} {.items[*].status.podIP}',
    ]);
    assert.equal(istiod, 'hub 10.50.0.10');
    const zt = await k([
      '-n',
      'istio-system',
      'get',
      'pods',
      '-l',
      'app=ztunnel',
      '-o',
      'jsonpath={.items[*].spec.nodeName}',
    ]);
    assert.deepEqual(zt.split(' ').sort(), ['alpha', 'beta', 'gamma', 'hub']);
  });

  void it('carries a meshed curl to every httpbin replica over mTLS', async () => {
    await k(['create', 'namespace', 'demo']);
    await k(['label', 'namespace', 'demo', 'istio.io/dataplane-mode=ambient']);
    await k([
      '-n',
      'demo',
      'apply',
      '-f',
      join(externalDir(), 'istio/samples/httpbin/httpbin.yaml'),
      '-f',
      join(externalDir(), 'istio/samples/curl/curl.yaml'),
    ]);
    await k(['-n', 'demo', 'scale', 'deploy', 'httpbin', '--replicas=3']);
    await k(['-n', 'demo', 'rollout', 'status', 'deploy/httpbin', '--timeout=240s']);
    await k(['-n', 'demo', 'rollout', 'status', 'deploy/curl', '--timeout=240s']);
    // Enrolment reaches ztunnel by xDS a moment after the pods are Ready.
    const curl = () =>
      lab.kubectl([
        '-n',
        'demo',
        'exec',
        'deploy/curl',
        '--',
        'curl',
        '-sS',
        '-m',
        '5',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        'http://httpbin:8000/get',
      ]);
    await eventually(
      'a first 200 through the mesh',
      async () => (await curl()).stdout === '200',
      120_000,
    );
    const codes: string[] = [];
    for (let i = 0; i < 20; i++) codes.push((await curl()).stdout);
    assert.deepEqual(
      codes.filter((c) => c !== '200'),
      [],
      `codes: ${codes.join(' ')}`,
    );
    // Every replica answered through its node's ztunnel, with both identities verified.
    const pods = (
      await k([
        '-n',
        'demo',
        'get',
        'pods',
        '-l',
        'app=httpbin',
        '-o',
        'jsonpath={.items[*].status.podIP}',
      ])
    ).split(' ');
    const logs = await k(['-n', 'istio-system', 'logs', '-l', 'app=ztunnel', '--tail=-1']);
    const inbound = logs
      .split('\n')
      .filter(
        (l) =>
          l.includes('direction=inbound') &&
          l.includes('src.identity=spiffe://cluster.local/ns/demo/sa/curl') &&
          l.includes('dst.identity=spiffe://cluster.local/ns/demo/sa/httpbin'),
      );
    for (const ip of pods)
      assert.ok(
        inbound.some((l) => l.includes(`dst.addr=${ip}:`)),
        `no mTLS inbound to ${ip}`,
      );
  });
});
