/**
 * The incremental model against its definition, the full rebuild: after random sequences of
 * object adds, updates and deletes (pods, Services, EndpointSlices, AuthorizationPolicies,
 * PeerAuthentications, namespaces, waypoint Gateways) flushed at random points, the model kept
 * incrementally equals buildModel of the same objects, and the deltas each flush returned,
 * applied in order to an empty subscriber view, give exactly the full model's resources.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  addressResourceName,
  authorizationResourceName,
  type Address,
  type Authorization,
} from '../../src/api/workload.js';
import { IncrementalModel, type ModelKind } from '../../src/controlplane/model/incremental.js';
import { addressesOf, buildModel } from '../../src/controlplane/model/index.js';
import type { KubeObject } from '../../src/k8s/types.js';

const NAMESPACES = ['a', 'b', 'istio-system'];
const APPS = ['x', 'y', 'z'];
const ns = fc.constantFrom(...NAMESPACES);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const labelsOf = (entries: [string, string | undefined][]) =>
  Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as Record<string, string>;

const useWaypoint = maybe(fc.constantFrom('wp', 'wp2', 'none'));

const namespace = fc
  .record({ name: ns, mode: maybe(fc.constantFrom('ambient', 'none')), wp: useWaypoint })
  .map(({ name, mode, wp }) => ({
    kind: 'namespaces' as const,
    key: name,
    obj: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name,
        labels: labelsOf([
          ['istio.io/dataplane-mode', mode],
          ['istio.io/use-waypoint', wp],
          ['team', mode ? 'one' : undefined],
        ]),
      },
    },
  }));

const pod = fc
  .record({
    i: fc.integer({ min: 0, max: 7 }),
    ns: fc.constantFrom('a', 'b'),
    app: fc.constantFrom(...APPS),
    mode: maybe(fc.constantFrom('ambient', 'none')),
    wp: useWaypoint,
    ip: fc.constantFrom('10.0.0.1', '10.0.0.2', 'bogus', ''),
    phase: fc.constantFrom('Running', 'Running', 'Pending', 'Succeeded'),
    ready: fc.boolean(),
    uid: fc.boolean(),
    sa: fc.constantFrom('default', 'sa1'),
  })
  .map((p) => ({
    kind: 'pods' as const,
    key: `${p.ns}/p${p.i}`,
    obj: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `p${p.i}`,
        namespace: p.ns,
        ...(p.uid ? { uid: `u${p.i}` } : {}),
        labels: labelsOf([
          ['app', p.app],
          ['istio.io/dataplane-mode', p.mode],
          ['istio.io/use-waypoint', p.wp],
        ]),
      },
      spec: {
        nodeName: 'n1',
        serviceAccountName: p.sa,
        containers: [{ name: 'c', image: 'i', ports: [{ name: 'web', containerPort: 8080 }] }],
      },
      status: {
        phase: p.phase,
        ...(p.ip ? { podIP: p.ip } : {}),
        conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }],
      },
    },
  }));

const service = fc
  .record({
    i: fc.integer({ min: 0, max: 3 }),
    ns: fc.constantFrom('a', 'b'),
    app: maybe(fc.constantFrom(...APPS)),
    target: fc.constantFrom<number | string | undefined>(8080, 'web', 'nope', undefined),
    wp: useWaypoint,
  })
  .map((s) => ({
    kind: 'services' as const,
    key: `${s.ns}/s${s.i}`,
    obj: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: `s${s.i}`,
        namespace: s.ns,
        labels: labelsOf([['istio.io/use-waypoint', s.wp]]),
      },
      spec: {
        clusterIP: `10.96.0.${s.i + 1}`,
        ...(s.app ? { selector: { app: s.app } } : {}),
        ports: [{ name: 'http', port: 80, ...(s.target ? { targetPort: s.target } : {}) }],
      },
    },
  }));

const slice = fc
  .record({
    i: fc.integer({ min: 0, max: 2 }),
    ns: fc.constantFrom('a', 'b'),
    svc: fc.integer({ min: 0, max: 3 }),
    uids: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }),
    port: fc.constantFrom(9000, 9001),
  })
  .map((e) => ({
    kind: 'endpointSlices' as const,
    key: `${e.ns}/e${e.i}`,
    obj: {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `e${e.i}`,
        namespace: e.ns,
        labels: { 'kubernetes.io/service-name': `s${e.svc}` },
      },
      endpoints: e.uids.map((u) => ({
        addresses: ['10.0.0.9'],
        targetRef: { kind: 'Pod', uid: `u${u}`, name: `p${u}` },
      })),
      ports: [{ name: 'http', port: e.port }],
    },
  }));

const policy = fc
  .record({
    i: fc.integer({ min: 0, max: 2 }),
    ns,
    app: maybe(fc.constantFrom(...APPS)),
    action: fc.constantFrom('ALLOW', 'DENY', 'AUDIT'),
    target: fc.boolean(),
  })
  .map((p) => ({
    kind: 'policies' as const,
    key: `${p.ns}/ap${p.i}`,
    obj: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `ap${p.i}`, namespace: p.ns, uid: `ap-${p.ns}-${p.i}` },
      spec: {
        action: p.action,
        ...(p.app ? { selector: { matchLabels: { app: p.app } } } : {}),
        ...(p.target ? { targetRefs: [{ kind: 'Service', group: '', name: 's0' }] } : {}),
        rules: [{ from: [{ source: { principals: ['cluster.local/ns/a/sa/sa1'] } }] }],
      },
    },
  }));

const peerAuthentication = fc
  .record({
    i: fc.integer({ min: 0, max: 1 }),
    ns,
    app: maybe(fc.constantFrom(...APPS)),
    mode: fc.constantFrom('STRICT', 'PERMISSIVE', 'UNSET', 'DISABLE'),
    port: maybe(fc.constantFrom('STRICT', 'PERMISSIVE')),
    created: fc.integer({ min: 1, max: 3 }),
  })
  .map((p) => ({
    kind: 'peerAuthentications' as const,
    key: `${p.ns}/pa${p.i}`,
    obj: {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: {
        name: `pa${p.i}`,
        namespace: p.ns,
        creationTimestamp: `2026-01-0${p.created}T00:00:00Z`,
      },
      spec: {
        mtls: { mode: p.mode },
        ...(p.app ? { selector: { matchLabels: { app: p.app } } } : {}),
        ...(p.port && p.app ? { portLevelMtls: { '8080': { mode: p.port } } } : {}),
      },
    },
  }));

const gateway = fc
  .record({
    name: fc.constantFrom('wp', 'wp2'),
    ns: fc.constantFrom('a', 'b'),
    ready: fc.boolean(),
    for: maybe(fc.constantFrom('service', 'workload', 'all')),
    from: maybe(fc.constantFrom('All', 'Same', 'Selector')),
  })
  .map((g) => ({
    kind: 'gateways' as const,
    key: `${g.ns}/${g.name}`,
    obj: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: {
        name: g.name,
        namespace: g.ns,
        labels: labelsOf([['istio.io/waypoint-for', g.for]]),
      },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [
          {
            name: 'mesh',
            port: 15008,
            protocol: 'HBONE',
            ...(g.from
              ? {
                  allowedRoutes: {
                    namespaces: { from: g.from, selector: { matchLabels: { team: 'one' } } },
                  },
                }
              : {}),
          },
        ],
      },
      status: g.ready ? { addresses: [{ type: 'IPAddress', value: '10.0.9.9' }] } : {},
    },
  }));

interface Op {
  kind: ModelKind;
  key: string;
  obj: KubeObject | undefined;
  flush: boolean;
}

const anyObject = fc.oneof(
  { arbitrary: pod, weight: 4 },
  { arbitrary: service, weight: 3 },
  { arbitrary: slice, weight: 2 },
  { arbitrary: namespace, weight: 2 },
  { arbitrary: policy, weight: 2 },
  { arbitrary: peerAuthentication, weight: 1 },
  { arbitrary: gateway, weight: 1 },
);
const op: fc.Arbitrary<Op> = fc
  .record({ o: anyObject, del: fc.integer({ min: 0, max: 9 }), flush: fc.boolean() })
  .map(({ o, del, flush }) => ({
    kind: o.kind,
    key: o.key,
    obj: del < 3 ? undefined : (o.obj as KubeObject),
    flush,
  }));

function check(ops: Op[]): void {
  const m = new IncrementalModel();
  const view = { addresses: new Map<string, Address>(), authz: new Map<string, Authorization>() };
  const flush = () => {
    const d = m.flush();
    for (const n of d.addresses.removed) view.addresses.delete(n);
    for (const a of d.addresses.upserted) view.addresses.set(addressResourceName(a), a);
    for (const n of d.authorizations.removed) view.authz.delete(n);
    for (const a of d.authorizations.upserted) view.authz.set(authorizationResourceName(a), a);
  };
  for (const o of ops) {
    m.set(o.kind, o.key, o.obj);
    if (!o.flush) continue;
    flush();
    const full = buildModel(m.snapshot());
    assert.deepEqual(m.model, full);
    assert.deepEqual(
      view.addresses,
      new Map(addressesOf(full).map((a) => [addressResourceName(a), a])),
    );
    assert.deepEqual(
      view.authz,
      new Map(full.authorizations.map((a) => [authorizationResourceName(a), a])),
    );
  }
}

test('incremental model = full rebuild after random event sequences, deltas included', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 5, maxLength: 60, size: 'max' }), (ops) => {
      check([...ops, { ...ops[0]!, flush: true }]);
    }),
    { numRuns: 300 },
  );
});

test('a pod event recomputes one workload: the delta is that workload alone', () => {
  const m = new IncrementalModel();
  const ambient = { 'istio.io/dataplane-mode': 'ambient' };
  m.set('namespaces', 'a', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'a', labels: ambient },
  });
  const podOf = (i: number, app: string): KubeObject =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${i}`, namespace: 'a', labels: { app } },
      spec: { nodeName: 'n1' },
      status: { phase: 'Running', podIP: `10.1.${i >> 8}.${i & 255}` },
    }) as KubeObject;
  for (let i = 0; i < 500; i++) m.set('pods', `a/p${i}`, podOf(i, `app${i % 50}`));
  for (let s = 0; s < 50; s++)
    m.set('services', `a/s${s}`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `s${s}`, namespace: 'a' },
      spec: { clusterIP: `10.96.0.${s + 1}`, selector: { app: `app${s}` }, ports: [{ port: 80 }] },
    } as KubeObject);
  const first = m.flush();
  assert.equal(first.addresses.upserted.length, 550);
  m.set('pods', 'a/p7', podOf(7, 'moved'));
  const d = m.flush();
  assert.deepEqual(
    d.addresses.upserted.map((a) => addressResourceName(a)),
    ['Kubernetes//Pod/a/p7'],
  );
  assert.deepEqual(d.addresses.removed, []);
  assert.deepEqual(m.model, buildModel(m.snapshot()));
});
