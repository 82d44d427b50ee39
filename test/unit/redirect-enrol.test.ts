import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace, Pod } from '../../src/k8s/types.js';
import {
  activeZtunnel,
  annotationPatch,
  podEnrolled,
  ztunnelTarget,
} from '../../src/redirect/enrol.js';
import { cniEvent } from '../../src/redirect/plugin.js';

const ns = (labels?: Record<string, string>): Namespace => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'default', labels },
});
const ambient = ns({ 'istio.io/dataplane-mode': 'ambient' });

function pod(over: Partial<Pod['metadata']> = {}, status: Pod['status'] = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u1', ...over },
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIP: '10.244.2.8', ...status },
  };
}

void test('enrolment: ambient namespace, no opt-out, no sidecar, not ztunnel, own network', () => {
  assert.equal(podEnrolled(pod(), ambient), true);
  assert.equal(podEnrolled(pod(), ns()), false);
  assert.equal(podEnrolled(pod(), ns({ 'istio.io/dataplane-mode': 'none' })), false);
  assert.equal(podEnrolled(pod(), undefined), false);
  assert.equal(podEnrolled(pod({ labels: { 'istio.io/dataplane-mode': 'none' } }), ambient), false);
  const optOut = pod({ annotations: { 'ambient.istio.io/redirection': 'disabled' } });
  assert.equal(podEnrolled(optOut, ambient), false);
  const marked = pod({ annotations: { 'ambient.istio.io/redirection': 'enabled' } });
  assert.equal(podEnrolled(marked, ambient), true, 'our own marker is not an opt-out');
  assert.equal(
    podEnrolled(pod({ annotations: { 'sidecar.istio.io/status': '{}' } }), ambient),
    false,
  );
  assert.equal(podEnrolled(pod({ labels: { app: 'ztunnel' } }), ambient), false);
  const host = pod();
  host.spec!.hostNetwork = true;
  assert.equal(podEnrolled(host, ambient), false);
  assert.equal(podEnrolled(pod({ deletionTimestamp: '2026-01-01T00:00:00Z' }), ambient), false);
  assert.equal(podEnrolled(pod({}, { phase: 'Succeeded' }), ambient), false);
});

void test('annotation: set when enrolled, removed on opt-out only if it is ours', () => {
  assert.deepEqual(annotationPatch(pod(), true), {
    metadata: { annotations: { 'ambient.istio.io/redirection': 'enabled' } },
  });
  const marked = pod({ annotations: { 'ambient.istio.io/redirection': 'enabled' } });
  assert.equal(annotationPatch(marked, true), undefined);
  assert.deepEqual(annotationPatch(marked, false), {
    metadata: { annotations: { 'ambient.istio.io/redirection': null } },
  });
  assert.equal(podEnrolled(pod({ labels: { 'istio.io/dataplane-mode': 'none' } }), ambient), false);
  const optOut = pod({ annotations: { 'ambient.istio.io/redirection': 'disabled' } });
  assert.equal(annotationPatch(optOut, false), undefined);
});

void test('active ztunnel: the newest ready app=ztunnel pod; DNS capture from its env', () => {
  const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } as const;
  const z = (name: string, created: string, st: Pod['status']) =>
    pod(
      {
        name,
        labels: { app: 'ztunnel' },
        creationTimestamp: created,
      },
      { ...st, podIP: name === 'old' ? '10.244.2.3' : '10.244.2.4' },
    );
  const old = z('old', '2026-01-01T00:00:00Z', { ...ready, conditions: [...ready.conditions] });
  const young = z('new', '2026-01-02T00:00:00Z', { ...ready, conditions: [...ready.conditions] });
  const notReady = z('nr', '2026-01-03T00:00:00Z', { phase: 'Running', conditions: [] });
  assert.equal(activeZtunnel([old, young, notReady, pod()])?.metadata.name, 'new');
  assert.equal(activeZtunnel([notReady, pod()]), undefined);
  young.spec!.containers[0]!.env = [{ name: 'DNS_CAPTURE', value: 'true' }];
  assert.deepEqual(ztunnelTarget(young, 'veth1', '/proc/42/ns/net'), {
    podIp: '10.244.2.4',
    hostVeth: 'veth1',
    netns: '/proc/42/ns/net',
    dnsCapture: true,
  });
  assert.equal(
    ztunnelTarget(pod({}, { podIP: undefined }), 'veth1', '/proc/42/ns/net'),
    undefined,
    'no pod IP yet',
  );
});

void test('CNI plugin event from the kubelet environment and prevResult', () => {
  const ev = cniEvent(
    {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'uid-1',
      CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=sleep;K8S_POD_UID=uid-1',
    },
    {
      prevResult: {
        interfaces: [{ name: 'veth12345678' }, { name: 'eth0', sandbox: '/run/netns/x' }],
        ips: [{ address: '10.244.2.8/32', interface: 1 }],
      },
    },
  );
  assert.deepEqual(ev, {
    command: 'ADD',
    uid: 'uid-1',
    namespace: 'default',
    name: 'sleep',
    ip: '10.244.2.8',
    hostVeth: 'veth12345678',
    netns: '/run/netns/x',
  });
  assert.throws(() => cniEvent({ CNI_COMMAND: 'CHECK' }, {}), /CNI_COMMAND CHECK/);
});
