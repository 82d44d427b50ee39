import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kinds, type Kind } from '../../src/lab/apiserver/catalog.js';
import { invalid } from '../../src/lab/apiserver/status.js';
import { defaultAndValidate, type ValidationContext } from '../../src/lab/apiserver/validate.js';
import { ServiceRange } from '../../src/lab/cluster/service-range.js';

const kind = (k: string): Kind => kinds.find((x) => x.kind === k)!;
const taken = new Set(['10.96.0.10']);
const serviceRange = new ServiceRange('10.96.0.0/16');
const ctx: ValidationContext = {
  serviceRange,
  clusterIPInUse: (ip) => taken.has(ip),
  allocateClusterIP: () => '10.96.1.1',
};
const check = (k: string, o: Record<string, unknown>, old?: Record<string, unknown>) =>
  defaultAndValidate(kind(k), o, old, ctx);

void test('a pod needs containers with names; defaults are filled', () => {
  const none = check('Pod', { metadata: { name: 'p' }, spec: { containers: [] } });
  assert.deepEqual(none, [
    { field: 'spec.containers', reason: 'FieldValueRequired', message: 'Required value' },
  ]);
  const noName = check('Pod', { metadata: { name: 'p' }, spec: { containers: [{ image: 'x' }] } });
  assert.equal(noName[0]?.field, 'spec.containers[0].name');
  const dup = check('Pod', {
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'a' }, { name: 'a' }] },
  });
  assert.equal(dup[0]?.reason, 'FieldValueDuplicate');
  const good: Record<string, unknown> = {
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'a' }] },
  };
  assert.deepEqual(check('Pod', good), []);
  const spec = good.spec as Record<string, unknown>;
  assert.equal(spec.serviceAccountName, 'default');
  assert.equal(spec.restartPolicy, 'Always');
  assert.deepEqual(good.status, { phase: 'Pending' });
});

void test('names must be DNS-1123', () => {
  assert.equal(check('ConfigMap', { metadata: { name: 'Bad_Name' } })[0]?.field, 'metadata.name');
  assert.deepEqual(check('ConfigMap', { metadata: { name: 'ok.name-1' } }), []);
  // Namespaces and Services are labels: no dots.
  assert.equal(check('Namespace', { metadata: { name: 'a.b' } })[0]?.field, 'metadata.name');
  assert.equal(check('ConfigMap', { metadata: {} })[0]?.reason, 'FieldValueRequired');
  assert.equal(
    check('ConfigMap', { metadata: { name: 'c', labels: { 'bad key!': 'v' } } })[0]?.field,
    'metadata.labels',
  );
});

void test('services: ports required, targetPort defaults, cluster IPs allocated and checked', () => {
  assert.equal(check('Service', { metadata: { name: 's' }, spec: {} })[0]?.field, 'spec.ports');
  const s: Record<string, unknown> = { metadata: { name: 's' }, spec: { ports: [{ port: 8000 }] } };
  assert.deepEqual(check('Service', s), []);
  const spec = s.spec as { clusterIP: string; ports: { targetPort: number; protocol: string }[] };
  assert.equal(spec.clusterIP, '10.96.1.1');
  assert.equal(spec.ports[0]!.targetPort, 8000);
  assert.equal(spec.ports[0]!.protocol, 'TCP');
  const pinned = {
    metadata: { name: 's' },
    spec: { clusterIP: '10.96.0.105', ports: [{ port: 1 }] },
  };
  assert.deepEqual(check('Service', pinned), []);
  const takenIp = check('Service', {
    metadata: { name: 's' },
    spec: { clusterIP: '10.96.0.10', ports: [{ port: 1 }] },
  });
  assert.match(takenIp[0]!.message, /already allocated/);
  const outside = check('Service', {
    metadata: { name: 's' },
    spec: { clusterIP: '10.0.0.1', ports: [{ port: 1 }] },
  });
  assert.equal(outside[0]?.field, 'spec.clusterIP');
  const badPort = check('Service', { metadata: { name: 's' }, spec: { ports: [{ port: 70000 }] } });
  assert.equal(badPort[0]?.field, 'spec.ports[0].port');
  const unnamed = check('Service', {
    metadata: { name: 's' },
    spec: { ports: [{ port: 1 }, { port: 2 }] },
  });
  assert.equal(unnamed[0]?.field, 'spec.ports[0].name');
  const changed = check(
    'Service',
    { metadata: { name: 's' }, spec: { clusterIP: '10.96.3.3', ports: [{ port: 1 }] } },
    { metadata: { name: 's' }, spec: { clusterIP: '10.96.1.1', ports: [{ port: 1 }] } },
  );
  assert.match(changed[0]!.message, /immutable/);
  assert.equal(serviceRange.contains('10.96.255.254'), true);
  assert.equal(serviceRange.contains('10.96.0.0'), false);
  assert.equal(serviceRange.contains('10.97.0.1'), false);
});

void test('deployments need a selector matching the template', () => {
  const out = check('Deployment', {
    metadata: { name: 'd' },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c' }] } },
    },
  });
  assert.equal(out[0]?.field, 'spec.template.metadata.labels');
  const noSel = check('Deployment', {
    metadata: { name: 'd' },
    spec: { template: { spec: { containers: [] } } },
  });
  assert.deepEqual(
    noSel.map((c) => c.field),
    ['spec.selector', 'spec.template.spec.containers'],
  );
});

void test('Status errors name the fields', () => {
  const causes = check('Pod', { metadata: { name: 'p' }, spec: { containers: [] } });
  const st = invalid(kind('Pod'), 'p', causes).toStatus();
  assert.equal(st.kind, 'Status');
  assert.equal(st.status, 'Failure');
  assert.equal(st.reason, 'Invalid');
  assert.equal(st.code, 422);
  assert.equal(st.message, 'Pod "p" is invalid: spec.containers: Required value');
  assert.deepEqual((st.details as { causes: unknown[] }).causes, causes);
});
