import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from '../../src/k8s/types.js';
import { daemonPod, daemonSetFits } from '../../src/lab/controllers/daemonset.js';
import { deploymentStatus, podFromTemplate } from '../../src/lab/controllers/deployment.js';
import { computeSubsets } from '../../src/lab/controllers/endpoints.js';
import { deploymentPodName, randomSuffix, templateHash } from '../../src/lab/controllers/naming.js';
import { chooseNode } from '../../src/lab/controllers/scheduler.js';
import type { DaemonSet, Deployment, LabNode, LabPod } from '../../src/lab/controllers/types.js';

function node(
  name: string,
  cidr: string,
  extra: Partial<LabNode['spec']> = {},
  labels: Record<string, string> = {},
): LabNode {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: { podCIDR: cidr, ...extra },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

const nodes = [
  node('control-plane', '10.244.0.0/24', {}, { 'node-role.kubernetes.io/control-plane': '' }),
  node('worker', '10.244.1.0/24'),
  node('worker2', '10.244.2.0/24'),
];

function pod(
  name: string,
  spec: Partial<LabPod['spec']> = {},
  meta: Partial<LabPod['metadata']> = {},
  status?: LabPod['status'],
): LabPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...meta },
    spec: {
      containers: [{ name: 'c', ports: [{ name: 'http-web', containerPort: 8080 }] }],
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

void test('scheduler: worker with fewest pods, never the control plane without toleration', () => {
  const placed = [pod('a', { nodeName: 'worker' }), pod('b', { nodeName: 'worker' })];
  assert.equal(chooseNode(pod('x'), nodes, placed).node, 'worker2');
  assert.equal(chooseNode(pod('x'), nodes, []).node, 'worker', 'ties broken by name');
  // control-plane idle but untolerated
  assert.notEqual(
    chooseNode(pod('x'), nodes, [pod('c', { nodeName: 'worker2' }), ...placed]).node,
    'control-plane',
  );
  const onCp = chooseNode(
    pod('x', { nodeSelector: { 'kubernetes.io/hostname': 'control-plane' } }),
    nodes,
    [],
  );
  assert.equal(onCp.node, undefined);
  assert.match(
    onCp.reason!,
    /control-plane: untolerated taint node-role.kubernetes.io\/control-plane/,
  );
  const tolerated = pod('x', {
    nodeSelector: { 'kubernetes.io/hostname': 'control-plane' },
    tolerations: [
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
    ],
  });
  assert.equal(chooseNode(tolerated, nodes, []).node, 'control-plane');
});

void test('scheduler: nodeSelector, pinned IP and not-ready nodes', () => {
  assert.equal(
    chooseNode(pod('x', { nodeSelector: { 'kubernetes.io/hostname': 'worker2' } }), nodes, []).node,
    'worker2',
  );
  assert.equal(
    chooseNode(pod('x', {}, { annotations: { 'lab.ambit.dev/ip': '10.244.2.8' } }), nodes, []).node,
    'worker2',
  );
  const down = [
    nodes[0]!,
    { ...nodes[1]!, status: { conditions: [{ type: 'Ready', status: 'False' }] } },
    nodes[2]!,
  ];
  assert.equal(chooseNode(pod('x'), down, []).node, 'worker2');
  assert.match(chooseNode(pod('x'), [], []).reason!, /no nodes/);
  // a node without the hostname label is still selected by name
  const bare = { ...nodes[1]!, metadata: { name: 'worker' } };
  assert.equal(
    chooseNode(pod('x', { nodeSelector: { 'kubernetes.io/hostname': 'worker' } }), [bare], []).node,
    'worker',
  );
});

void test('endpoints: ready and not-ready addresses, targetRef, named and numeric target ports', () => {
  const svc: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, targetPort: 'http-web' },
        { name: 'metrics', port: 9090, targetPort: 9091, protocol: 'TCP' },
      ],
    },
  };
  const ready = { conditions: [{ type: 'Ready', status: 'True' as const }] };
  const pods = [
    pod(
      'w2',
      { nodeName: 'worker2' },
      { labels: { app: 'web' } },
      { podIP: '10.244.2.10', ...ready },
    ),
    pod(
      'w1',
      { nodeName: 'worker' },
      { labels: { app: 'web' } },
      { podIP: '10.244.1.10', ...ready },
    ),
    pod(
      'w3',
      { nodeName: 'worker' },
      { labels: { app: 'web' } },
      { podIP: '10.244.1.11', conditions: [{ type: 'Ready', status: 'False' }] },
    ),
    pod(
      'nolabel',
      { nodeName: 'worker' },
      { labels: { app: 'other' } },
      { podIP: '10.244.1.12', ...ready },
    ),
    pod('noip', { nodeName: 'worker' }, { labels: { app: 'web' } }),
    pod(
      'gone',
      { nodeName: 'worker' },
      { labels: { app: 'web' }, deletionTimestamp: '2026-01-01T00:00:00Z' },
      { podIP: '10.244.1.13', ...ready },
    ),
  ];
  const subsets = computeSubsets(svc, pods)!;
  assert.equal(subsets.length, 1);
  assert.deepEqual(
    subsets[0]!.addresses!.map((a) => a.ip),
    ['10.244.1.10', '10.244.2.10'],
  );
  assert.deepEqual(subsets[0]!.addresses![0], {
    ip: '10.244.1.10',
    nodeName: 'worker',
    targetRef: { kind: 'Pod', name: 'w1', namespace: 'default', uid: 'uid-w1' },
  });
  assert.deepEqual(
    subsets[0]!.notReadyAddresses!.map((a) => a.ip),
    ['10.244.1.11'],
  );
  assert.deepEqual(subsets[0]!.ports, [
    { name: 'http', port: 8080, protocol: 'TCP' },
    { name: 'metrics', port: 9091, protocol: 'TCP' },
  ]);
  assert.equal(
    computeSubsets({ ...svc, spec: { ports: svc.spec!.ports } }, pods),
    undefined,
    'no selector: not managed',
  );
});

void test('deployment pods: <name>-<10 hex>-<5 k8s alphabet>, template labels + hash, owner', () => {
  const d: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'httpbin', namespace: 'default', uid: 'd-uid', generation: 2 },
    spec: {
      replicas: 1,
      template: {
        metadata: {
          labels: { app: 'httpbin', version: 'v1' },
          annotations: { 'lab.ambit.dev/ip': '10.244.1.7' },
        },
        spec: {
          serviceAccountName: 'httpbin',
          containers: [{ name: 'httpbin', image: 'ambit/httpbin' }],
        },
      },
    },
  };
  const hash = templateHash(d.spec!.template);
  assert.match(hash, /^[0-9a-f]{10}$/);
  assert.equal(hash, templateHash(JSON.parse(JSON.stringify(d.spec!.template))), 'stable');
  const changed = structuredClone(d.spec!.template);
  changed.spec.containers[0]!.image = 'ambit/other';
  assert.notEqual(templateHash(changed), hash);
  const p = podFromTemplate(d, hash);
  assert.match(p.metadata.name, new RegExp(`^httpbin-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
  assert.deepEqual(p.metadata.labels, { app: 'httpbin', version: 'v1', 'pod-template-hash': hash });
  assert.equal(p.metadata.annotations?.['lab.ambit.dev/ip'], '10.244.1.7');
  assert.deepEqual(p.metadata.ownerReferences, [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'httpbin',
      uid: 'd-uid',
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  assert.equal(p.spec?.serviceAccountName, 'httpbin');
  assert.equal(deploymentPodName('web', 'abcdef0123', 'xyz22'), 'web-abcdef0123-xyz22');
  assert.equal(
    randomSuffix(5, () => 0),
    'bbbbb',
  );

  const ready = { conditions: [{ type: 'Ready', status: 'True' as const }] };
  const st = deploymentStatus(
    d,
    [
      pod('a', {}, { labels: { 'pod-template-hash': hash } }, ready),
      pod('b', {}, { labels: { 'pod-template-hash': 'old' } }),
      pod('c', {}, { labels: { 'pod-template-hash': hash }, deletionTimestamp: 'x' }, ready),
    ],
    hash,
    2,
  );
  assert.equal(st.replicas, 2);
  assert.equal(st.readyReplicas, 1);
  assert.equal(st.availableReplicas, 1);
  assert.equal(st.updatedReplicas, 1);
  assert.equal(st.observedGeneration, 2);
  assert.equal(st.conditions?.[0]?.status, 'False');
});

void test('daemonset pods: node-pinned, IP offset inside the node pod CIDR, taints honoured', () => {
  const ds: DaemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'ztunnel', namespace: 'istio-system', uid: 'ds-uid' },
    spec: {
      template: {
        metadata: { labels: { app: 'ztunnel' }, annotations: { 'lab.ambit.dev/ip-offset': '3' } },
        spec: { containers: [{ name: 'istio-proxy', image: 'ambit/ztunnel' }] },
      },
    },
  };
  const { pod: p } = daemonPod(ds, nodes[2]!, 'h');
  assert.equal(p?.spec?.nodeName, 'worker2');
  assert.equal(p?.metadata.annotations?.['lab.ambit.dev/ip'], '10.244.2.3');
  assert.match(p!.metadata.name, /^ztunnel-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.match(daemonPod(ds, node('x', 'bad'), 'h').error!, /does not fit/);
  const byNode = structuredClone(ds);
  byNode.spec!.template.metadata!.annotations!['lab.ambit.dev/pod-name'] = 'node';
  assert.equal(daemonPod(byNode, nodes[2]!, 'h').pod?.metadata.name, 'ztunnel-worker2');
  assert.equal(daemonSetFits(ds, nodes[0]!), true, 'role label alone does not repel daemons');
  const tainted = node('cp', '10.244.0.0/24', {
    taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }],
  });
  assert.equal(daemonSetFits(ds, tainted), false);
  ds.spec!.template.spec.tolerations = [{ operator: 'Exists' }];
  assert.equal(daemonSetFits(ds, tainted), true);
});
