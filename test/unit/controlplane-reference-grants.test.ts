/**
 * ReferenceGrants: the matching as the CRD's text defines it (from: group, kind, namespace of
 * the referring object; to: group, kind and optional name in the grant's own namespace), and
 * what it changes: a route's cross-namespace backend, a Gateway's cross-namespace certificate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReferenceGrants } from '../../src/controlplane/gateway/reference-grants.js';
import { translateHttpRoute } from '../../src/controlplane/l7/routes.js';
import { routeParentStatuses } from '../../src/controlplane/l7/route-status.js';
import { translateTcpRoute } from '../../src/controlplane/l7/tcp-routes.js';
import type {
  HTTPRoute,
  ReferenceGrant,
  TCPRoute,
} from '../../src/controlplane/model/routes-types.js';
import type { Gateway } from '../../src/controlplane/model/types.js';
import type { Service } from '../../src/k8s/types.js';
import { objects } from '../helpers/xds-manifests.js';

const GW = 'gateway.networking.k8s.io';
const grant = (
  ns: string,
  from: { group: string; kind: string; namespace: string }[],
  to: { group: string; kind: string; name?: string }[],
): ReferenceGrant => ({
  apiVersion: `${GW}/v1beta1`,
  kind: 'ReferenceGrant',
  metadata: { name: `g-${ns}`, namespace: ns },
  spec: { from, to },
});
const routeFrom = (namespace: string, kind = 'HTTPRoute') => ({ group: GW, kind, namespace });
const svc = (namespace: string, name: string) => ({ group: '', kind: 'Service', namespace, name });

void test('matching: from (group, kind, namespace) and to (group, kind, optional name)', () => {
  const g = new ReferenceGrants([
    grant('backends', [routeFrom('apps')], [{ group: '', kind: 'Service' }]),
    grant(
      'certs',
      [{ group: GW, kind: 'Gateway', namespace: 'istio-ingress' }],
      [{ group: '', kind: 'Secret', name: 'wildcard' }],
    ),
  ]);
  // Any Service of the namespace (no name), for HTTPRoutes of `apps` only.
  assert.equal(g.permits(routeFrom('apps'), svc('backends', 'a')), true);
  assert.equal(g.permits(routeFrom('apps'), svc('backends', 'b')), true);
  assert.equal(g.permits(routeFrom('other'), svc('backends', 'a')), false, 'wrong from-namespace');
  assert.equal(g.permits(routeFrom('apps', 'GRPCRoute'), svc('backends', 'a')), false, 'from-kind');
  assert.equal(
    g.permits(routeFrom('apps'), svc('elsewhere', 'a')),
    false,
    'grant is per namespace',
  );
  assert.equal(
    g.permits(routeFrom('apps'), { group: '', kind: 'Secret', namespace: 'backends', name: 'a' }),
    false,
    'to-kind',
  );
  // `core` and "" are the same (core) group; another group is not.
  assert.equal(g.permits(routeFrom('apps'), { ...svc('backends', 'a'), group: 'core' }), true);
  assert.equal(
    g.permits({ group: 'example.com', kind: 'HTTPRoute', namespace: 'apps' }, svc('backends', 'a')),
    false,
    'from-group',
  );
  // A named Secret only.
  const gwFrom = { group: GW, kind: 'Gateway', namespace: 'istio-ingress' };
  const secret = (name: string) => ({ group: '', kind: 'Secret', namespace: 'certs', name });
  assert.equal(g.permits(gwFrom, secret('wildcard')), true);
  assert.equal(g.permits(gwFrom, secret('other')), false, 'to-name');
  assert.equal(g.permits({ ...gwFrom, kind: 'HTTPRoute' }, secret('wildcard')), false);
  // The same namespace needs no grant; no grant at all refuses every other.
  assert.equal(new ReferenceGrants().permits(routeFrom('x'), svc('x', 'a')), true);
  assert.equal(new ReferenceGrants().permits(routeFrom('x'), svc('y', 'a')), false);
  // Entries are ORed; a grant being deleted grants nothing.
  const many = new ReferenceGrants([
    grant(
      'b',
      [routeFrom('one'), routeFrom('two', 'TCPRoute')],
      [
        { group: '', kind: 'Secret' },
        { group: '', kind: 'Service', name: 's' },
      ],
    ),
    {
      ...grant('c', [routeFrom('one')], [{ group: '', kind: 'Service' }]),
      metadata: { name: 'gone', namespace: 'c', deletionTimestamp: '2026-12-02T00:00:00Z' },
    },
  ]);
  assert.equal(many.permits(routeFrom('two', 'TCPRoute'), svc('b', 's')), true);
  assert.equal(many.permits(routeFrom('one'), svc('b', 's')), true);
  assert.equal(many.permits(routeFrom('one'), svc('b', 't')), false);
  assert.equal(many.permits(routeFrom('one'), svc('c', 's')), false, 'deleting');
});

const services = new Map(
  (
    objects(`
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: mesh}
spec: {clusterIP: 10.96.5.1, ports: [{name: http, port: 80}, {name: tcp, port: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: other}
spec: {clusterIP: 10.96.6.1, ports: [{name: http, port: 8080}, {name: tcp, port: 9000}]}
`) as Service[]
  ).map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]),
);
const gws = new Map<string, Gateway>();

void test('a cross-namespace backendRef: RefNotPermitted without a grant, resolved with one', () => {
  const r = objects(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: xns, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules:
  - backendRefs: [{name: backend, namespace: other, port: 8080}]
`)[0] as HTTPRoute;
  const ctx = { domainSuffix: 'cluster.local', services };
  const refused = translateHttpRoute(r, ctx, gws);
  const b = refused.route.rules[0]!.backends[0]!;
  assert.equal(b.kind, 'invalid');
  assert.match(
    b.kind === 'invalid' ? b.reason : '',
    /backendRef to other\/backend is not permitted: no ReferenceGrant in namespace other allows HTTPRoute from namespace mesh to refer to Service backend/,
  );
  assert.deepEqual(
    routeParentStatuses(refused, undefined)[0]?.conditions.map(
      (c) => `${c.type}=${c.status}/${c.reason}`,
    ),
    ['Accepted=True/Accepted', 'ResolvedRefs=False/RefNotPermitted'],
  );
  assert.deepEqual(refused.referenced, []);

  const grants = new ReferenceGrants([
    grant('other', [routeFrom('mesh')], [{ group: '', kind: 'Service', name: 'backend' }]),
  ]);
  const ok = translateHttpRoute(r, { ...ctx, grants }, gws);
  assert.deepEqual(ok.route.rules[0]!.backends[0], {
    kind: 'service',
    service: 'other/backend.other.svc.cluster.local',
    port: 8080,
    weight: 1,
  });
  assert.deepEqual(
    routeParentStatuses(ok, undefined)[0]?.conditions.map(
      (c) => `${c.type}=${c.status}/${c.reason}`,
    ),
    ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'],
  );
  assert.deepEqual(ok.referenced, ['other/backend.other.svc.cluster.local']);

  // The grant names HTTPRoute: a TCPRoute of the same namespace stays refused.
  const tcp = objects(`
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: xns-tcp, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 9000}]
  rules:
  - backendRefs: [{name: backend, namespace: other, port: 9000}]
`)[0] as TCPRoute;
  assert.equal(
    translateTcpRoute(tcp, { ...ctx, grants }, gws).problems.refs?.reason,
    'RefNotPermitted',
  );
});
