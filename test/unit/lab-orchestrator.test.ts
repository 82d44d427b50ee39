import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AmbitError } from '../../src/errors.js';
import { parseFlags } from '../../src/cli/lab.js';
import { defaultCluster } from '../../src/lab/cluster/cluster.js';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { daemonSpecs } from '../../src/lab/orchestrator/up.js';
import { adaptBase, parseManifests, resourceFor } from '../../src/lab/orchestrator/manifests.js';

const code = (c: string) => (e: unknown) => e instanceof AmbitError && e.code === c;

void describe('lab orchestration', () => {
  void it('parses manifests and names the broken document', () => {
    const objs = parseManifests(
      'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n',
      'm.yaml',
    );
    assert.deepEqual(
      objs.map((o) => o.kind),
      ['Service', 'Deployment'],
    );
    assert.throws(
      () => parseManifests('kind: Pod\nmetadata: {name: x}\n', 'm.yaml'),
      code('LAB_BAD_MANIFEST'),
    );
    assert.throws(() => parseManifests('a: [', 'm.yaml'), /m\.yaml/);
    assert.equal(resourceFor('apps/v1', 'DaemonSet').plural, 'daemonsets');
    assert.throws(() => resourceFor('v1', 'Widget'), code('LAB_UNKNOWN_KIND'));
  });

  void it('adapts the base manifests to another control-plane node and DNS address', () => {
    const c = defaultCluster('x');
    c.nodes[0]!.name = 'master';
    c.dnsIP = '10.96.0.53';
    const objs = adaptBase(
      parseManifests(
        `apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec: {template: {spec: {nodeSelector: {kubernetes.io/hostname: control-plane}, containers: []}}}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {clusterIP: 10.96.0.10, ports: [{port: 53}]}
`,
        'base.yaml',
      ),
      c,
    );
    assert.equal(
      (objs[0]!.spec as { template: { spec: { nodeSelector: Record<string, string> } } }).template
        .spec.nodeSelector['kubernetes.io/hostname'],
      'master',
    );
    assert.equal((objs[1]!.spec as { clusterIP: string }).clusterIP, '10.96.0.53');
  });

  void it('plans one kubelet and kube-proxy per node, in the node netns, talking to the in-lab API', () => {
    const specs = daemonSpecs(defaultCluster('lab1'), 'http://127.0.0.1:9');
    assert.deepEqual(
      specs.map((s) => s.name),
      [
        'controller-manager',
        'kubelet-control-plane',
        'kube-proxy-control-plane',
        'kubelet-worker',
        'kube-proxy-worker',
        'kubelet-worker2',
        'kube-proxy-worker2',
      ],
    );
    const k = specs.find((s) => s.name === 'kubelet-worker2')!;
    assert.equal(k.netns, 'lab1-worker2');
    assert.deepEqual(k.args, ['lab', 'kubelet', '--lab', 'lab1', '--node', 'worker2']);
    assert.equal(k.env.AMBIT_KUBE_SERVER, 'https://172.18.0.2:6443');
    assert.equal(specs[0]!.env.AMBIT_KUBE_SERVER, 'http://127.0.0.1:9');
    assert.equal(specs[0]!.netns, undefined);
  });

  void it('parses CLI flags and rejects bad lab names', () => {
    const f = parseFlags(['--name', 'lab2', '-n', 'kube-system', 'pod-a', '--', 'curl', '-s']);
    assert.equal(f.name, 'lab2');
    assert.equal(f.namespace, 'kube-system');
    assert.deepEqual(f.rest, ['pod-a', 'curl', '-s']);
    assert.throws(() => parseFlags(['--name', 'Bad-Name']), code('LAB_BAD_CLUSTER'));
    assert.throws(() => parseFlags(['--bogus']), code('CLI_USAGE'));
    assert.throws(() => parseFlags(['--name']), code('CLI_USAGE'));
    // up --redirect: the mesh too, on that backend; an unknown backend is named.
    assert.equal(parseFlags(['--redirect', 'ebpf']).redirect, 'ebpf');
    assert.equal(parseFlags([]).redirect, undefined);
    assert.throws(() => parseFlags(['--redirect', 'nft']), code('REDIRECT_BAD_MODE'));
  });

  void it('keeps lab state under AMBIT_STATE_DIR/labs/<name>', () => {
    const p = labPaths('lab3', { AMBIT_STATE_DIR: '/tmp/st' });
    assert.equal(p.dir, '/tmp/st/labs/lab3');
    assert.equal(p.kubeconfig, '/tmp/st/labs/lab3/kubeconfig');
    assert.equal(labPaths('lab3', {}).dir, '/var/lib/ambit/labs/lab3');
  });
});
