/**
 * An ingress Gateway's HTTPS listeners: certificateRefs → kubernetes.io/tls Secrets (usable
 * pairs, and each way one is refused), the listener status that says so, and the gateway's
 * config that carries only usable listeners.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { listenerCertificates, secretIndex } from '../../src/controlplane/gateway/certificates.js';
import { classOf } from '../../src/controlplane/gateway/classes.js';
import { ReferenceGrants } from '../../src/controlplane/gateway/reference-grants.js';
import { gatewayStatus } from '../../src/controlplane/gateway/status.js';
import { buildWaypointConfigs } from '../../src/controlplane/l7/config.js';
import { buildModel, defaultModelOptions } from '../../src/controlplane/model/index.js';
import type { Gateway } from '../../src/controlplane/model/types.js';
import type { Secret } from '../../src/k8s/types.js';
import { createFakeCa } from '../helpers/fake-ca.js';
import { snapshotOf } from '../helpers/xds-manifests.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
let good: { cert: string; key: string };
let otherKey = '';

before(async () => {
  const ca = await createFakeCa();
  const a = await ca.issue('spiffe://cluster.local/ns/istio-system/sa/a');
  const b = await ca.issue('spiffe://cluster.local/ns/istio-system/sa/b');
  good = { cert: a.certChainPem[0]!, key: a.keyPem };
  otherKey = b.keyPem;
});

const secret = (name: string, data: Record<string, string>, ns = 'istio-system'): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: ns },
  type: 'kubernetes.io/tls',
  data,
});

const gateway = (listeners: NonNullable<Gateway['spec']>['listeners']): Gateway => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'gw', namespace: 'istio-system', uid: 'u1', generation: 1 },
  spec: { gatewayClassName: 'istio', listeners },
});

const https = (name: string, refs: { name: string; namespace?: string; kind?: string }[]) => ({
  name,
  port: 443,
  protocol: 'HTTPS',
  hostname: `${name}.example.com`,
  tls: { mode: 'Terminate', certificateRefs: refs },
});

void test('certificateRefs: a usable pair, and each reason one is refused', () => {
  const secrets = secretIndex([
    secret('ok', { 'tls.crt': b64(good.cert), 'tls.key': b64(good.key) }),
    secret('mismatch', { 'tls.crt': b64(good.cert), 'tls.key': b64(otherKey) }),
    secret('empty', {}),
    secret('garbage', { 'tls.crt': b64('not a cert'), 'tls.key': b64(good.key) }),
    secret('elsewhere', { 'tls.crt': b64(good.cert), 'tls.key': b64(good.key) }, 'default'),
  ]);
  const gw = gateway([]);
  const of = (refs: Parameters<typeof https>[1]) =>
    listenerCertificates(gw, https('l', refs), secrets);
  assert.deepEqual(of([{ name: 'ok' }]), {
    certificates: [{ certPem: good.cert, keyPem: good.key }],
  });
  const problem = (refs: Parameters<typeof https>[1]) => {
    const r = of(refs);
    return 'problem' in r ? `${r.problem.reason}: ${r.problem.message}` : 'usable';
  };
  assert.match(
    problem([{ name: 'nope' }]),
    /^InvalidCertificateRef: .*istio-system\/nope: Secret not found/,
  );
  assert.match(problem([{ name: 'mismatch' }]), /^InvalidCertificateRef: .*not the private key/);
  assert.match(problem([{ name: 'empty' }]), /^InvalidCertificateRef: .*no tls\.crt and tls\.key/);
  assert.match(
    problem([{ name: 'garbage' }]),
    /^InvalidCertificateRef: certificateRef istio-system\/garbage: /,
  );
  assert.match(problem([{ name: 'elsewhere', namespace: 'default' }]), /^RefNotPermitted: /);
  assert.match(
    problem([{ name: 'ok', kind: 'ConfigMap' }]),
    /^InvalidCertificateRef: .*not a Secret/,
  );
  assert.match(problem([]), /^InvalidCertificateRef: an HTTPS listener needs tls\.certificateRefs/);
});

void test('listener status: ResolvedRefs and Programmed False for a bad certificateRef only', () => {
  const gw = gateway([
    { name: 'http', port: 80, protocol: 'HTTP' },
    https('good', [{ name: 'ok' }]),
    https('bad', [{ name: 'nope' }]),
    { name: 'pass', port: 8443, protocol: 'HTTPS', tls: { mode: 'Passthrough' } },
  ]);
  const st = gatewayStatus(gw, classOf('istio')!, {
    clusterIP: '10.96.0.50',
    readyPods: 1,
    certificateProblems: {
      bad: {
        reason: 'InvalidCertificateRef',
        message: 'certificateRef istio-system/nope: Secret not found',
      },
    },
  });
  const conds = (n: string) =>
    st.listeners
      ?.find((l) => l.name === n)
      ?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  assert.deepEqual(conds('good'), [
    'Accepted=True/Accepted',
    'Conflicted=False/NoConflicts',
    'Programmed=True/Programmed',
    'ResolvedRefs=True/ResolvedRefs',
  ]);
  assert.deepEqual(conds('bad'), [
    'Accepted=True/Accepted',
    'Conflicted=False/NoConflicts',
    'Programmed=False/Invalid',
    'ResolvedRefs=False/InvalidCertificateRef',
  ]);
  assert.deepEqual(conds('pass'), [
    'Accepted=False/UnsupportedProtocol',
    'Programmed=False/Invalid',
  ]);
});

void test("the ingress gateway's config carries its usable HTTPS listeners with their certificates", () => {
  const yaml = `
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Secret
metadata: {name: httpbin-credential, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: ${b64(good.cert)}, tls.key: ${b64(good.key)}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: istio-system}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    hostname: httpbin.example.com
    port: 443
    protocol: HTTPS
    tls: {mode: Terminate, certificateRefs: [{name: httpbin-credential}]}
  - name: broken
    port: 8443
    protocol: HTTPS
    tls: {certificateRefs: [{name: missing}]}
`;
  const snap = snapshotOf(yaml);
  const { configs } = buildWaypointConfigs(snap, buildModel(snap), defaultModelOptions);
  const listeners = configs.get('istio-system/mygateway')?.waypoint.listeners;
  assert.deepEqual(
    listeners?.map((l) => `${l.name}:${l.port}:${l.protocol}:${l.tls?.certificates.length ?? 0}`),
    ['http:80:HTTP:0', 'https:443:HTTPS:1'],
  );
  assert.equal(listeners?.[1]?.hostname, 'httpbin.example.com');
  assert.equal(listeners?.[1]?.tls?.certificates[0]?.keyPem, good.key);
});

void test('a Secret in another namespace: used once a ReferenceGrant there allows the Gateway', () => {
  const base = `
apiVersion: v1
kind: Secret
metadata: {name: wildcard, namespace: certs}
type: kubernetes.io/tls
data: {tls.crt: ${b64(good.cert)}, tls.key: ${b64(good.key)}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: istio-system}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    tls: {mode: Terminate, certificateRefs: [{name: wildcard, namespace: certs}]}
`;
  const grant = (toName: string) => `
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: istio-system}]
  to: [{group: "", kind: Secret, name: ${toName}}]
`;
  const listeners = (yaml: string) => {
    const snap = snapshotOf(yaml);
    const { configs } = buildWaypointConfigs(snap, buildModel(snap), defaultModelOptions);
    return configs
      .get('istio-system/mygateway')
      ?.waypoint.listeners?.map((l) => `${l.name}:${l.tls?.certificates.length ?? 0}`);
  };
  assert.deepEqual(listeners(base), [], 'no grant: the listener is left out');
  assert.deepEqual(listeners(base + grant('other')), [], 'a grant for another Secret');
  assert.deepEqual(listeners(base + grant('wildcard')), ['https:1']);
  const gw = snapshotOf(base).gateways[0]!;
  const l = gw.spec!.listeners![0]!;
  const secrets = secretIndex(snapshotOf(base).secrets);
  const refused = listenerCertificates(gw, l, secrets);
  assert.deepEqual(refused, {
    problem: {
      reason: 'RefNotPermitted',
      message:
        'certificateRef certs/wildcard: no ReferenceGrant in namespace certs allows Gateway from namespace istio-system to refer to Secret wildcard',
    },
  });
  const grants = new ReferenceGrants(snapshotOf(base + grant('wildcard')).referenceGrants);
  assert.ok('certificates' in listenerCertificates(gw, l, secrets, grants));
});
