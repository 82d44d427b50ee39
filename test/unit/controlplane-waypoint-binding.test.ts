/** Which waypoint each Service and Workload gets: Istio's label precedence (docs/istio/waypoint.md §1.2, §1.4). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildModel } from '../../src/controlplane/model/index.js';
import { snapshotOf } from '../helpers/xds-manifests.js';

const gw = (name: string, ns: string, ip: string | undefined, extra = '') => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: ${ns}${extra ? `, labels: {${extra}}` : ''}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
${ip ? `status: {addresses: [{type: IPAddress, value: ${ip}}]}` : ''}
---`;

const ns = (name: string, labels = '') => `
apiVersion: v1
kind: Namespace
metadata: {name: ${name}, labels: {istio.io/dataplane-mode: ambient${labels ? ', ' + labels : ''}}}
---`;

const app = (name: string, namespace: string, ip: string, vip: string, labels = '') => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${namespace}, uid: uid-${name}, labels: {app: ${name}${labels ? ', ' + labels : ''}}}
spec: {nodeName: worker, containers: [{name: c, image: ambit/httpbin}]}
status: {phase: Running, podIP: ${ip}, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${namespace}${labels ? `, labels: {${labels}}` : ''}}
spec: {clusterIP: ${vip}, selector: {app: ${name}}, ports: [{port: 80}]}
---`;

function bound(yaml: string) {
  const m = buildModel(snapshotOf(yaml));
  const svc = (n: string) => m.services.find((s) => s.name === n)?.waypoint?.address?.address;
  const wl = (n: string) => m.workloads.find((w) => w.name === n)?.waypoint?.address?.address;
  return { svc, wl };
}

void test('namespace label binds services; waypoint-for decides services vs workloads', () => {
  const b = bound(
    ns('a', 'istio.io/use-waypoint: wp') +
      gw('wp', 'a', '10.96.9.1') +
      app('x', 'a', '10.244.1.10', '10.96.1.10'),
  );
  assert.equal(b.svc('x'), '10.96.9.1');
  assert.equal(b.wl('x'), undefined, 'a service waypoint (the default) takes no workload traffic');

  const all = bound(
    ns('a', 'istio.io/use-waypoint: wp') +
      gw('wp', 'a', '10.96.9.1', 'istio.io/waypoint-for: all') +
      app('x', 'a', '10.244.1.10', '10.96.1.10'),
  );
  assert.equal(all.svc('x'), '10.96.9.1');
  assert.equal(all.wl('x'), '10.96.9.1');

  const wlOnly = bound(
    ns('a', 'istio.io/use-waypoint: wp') +
      gw('wp', 'a', '10.96.9.1', 'istio.io/waypoint-for: workload') +
      app('x', 'a', '10.244.1.10', '10.96.1.10'),
  );
  assert.equal(wlOnly.svc('x'), undefined);
  assert.equal(wlOnly.wl('x'), '10.96.9.1');

  const none = bound(
    ns('a', 'istio.io/use-waypoint: wp') +
      gw('wp', 'a', '10.96.9.1', 'istio.io/waypoint-for: none') +
      app('x', 'a', '10.244.1.10', '10.96.1.10'),
  );
  assert.equal(none.svc('x'), undefined);
  assert.equal(none.wl('x'), undefined);
});

void test("the object's own label beats the namespace's; none opts out", () => {
  const b = bound(
    ns('a', 'istio.io/use-waypoint: wp') +
      gw('wp', 'a', '10.96.9.1', 'istio.io/waypoint-for: all') +
      gw('other', 'a', '10.96.9.2', 'istio.io/waypoint-for: all') +
      app('x', 'a', '10.244.1.10', '10.96.1.10', 'istio.io/use-waypoint: other') +
      app('y', 'a', '10.244.1.11', '10.96.1.11', 'istio.io/use-waypoint: none') +
      app('z', 'a', '10.244.1.12', '10.96.1.12'),
  );
  assert.equal(b.svc('x'), '10.96.9.2');
  assert.equal(b.wl('x'), '10.96.9.2');
  assert.equal(b.svc('y'), undefined);
  assert.equal(b.wl('y'), undefined);
  assert.equal(b.svc('z'), '10.96.9.1');
});

void test('a Gateway without a status address (not ready) binds nothing', () => {
  const b = bound(
    ns('a', 'istio.io/use-waypoint: wp') +
      gw('wp', 'a', undefined) +
      app('x', 'a', '10.244.1.10', '10.96.1.10'),
  );
  assert.equal(b.svc('x'), undefined);
});

void test('a label naming an unknown waypoint binds nothing', () => {
  const b = bound(
    ns('a', 'istio.io/use-waypoint: nope') + app('x', 'a', '10.244.1.10', '10.96.1.10'),
  );
  assert.equal(b.svc('x'), undefined);
});

void test("the waypoint's own pods and Service never get a waypoint", () => {
  const b = bound(
    ns('a', 'istio.io/use-waypoint: wp') +
      gw('wp', 'a', '10.96.9.1', 'istio.io/waypoint-for: all') +
      app('wp', 'a', '10.244.1.20', '10.96.9.1', 'gateway.networking.k8s.io/gateway-name: wp'),
  );
  assert.equal(b.svc('wp'), undefined);
  assert.equal(b.wl('wp'), undefined);
});

void test('use-waypoint-namespace: cross-namespace only when the HBONE listener allows it', () => {
  const labels = 'istio.io/use-waypoint: shared, istio.io/use-waypoint-namespace: infra';
  const base = ns('a', labels) + ns('infra') + app('x', 'a', '10.244.1.10', '10.96.1.10');
  const same = bound(base + gw('shared', 'infra', '10.96.9.9'));
  assert.equal(same.svc('x'), undefined, 'allowedRoutes defaults to Same');

  const allowAll = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}]
status: {addresses: [{type: IPAddress, value: 10.96.9.9}]}
---`;
  assert.equal(bound(base + allowAll).svc('x'), '10.96.9.9');

  const selector = allowAll.replace(
    '{from: All}',
    '{from: Selector, selector: {matchLabels: {mesh: "yes"}}}',
  );
  assert.equal(bound(base + selector).svc('x'), undefined, 'namespace a lacks mesh=yes');
  const labelled =
    ns('a', `${labels}, mesh: "yes"`) + ns('infra') + app('x', 'a', '10.244.1.10', '10.96.1.10');
  assert.equal(bound(labelled + selector).svc('x'), '10.96.9.9');

  // The namespace label on the object itself also works (pod/service level).
  const objLevel =
    ns('a') + ns('infra') + app('x', 'a', '10.244.1.10', '10.96.1.10', labels) + allowAll;
  assert.equal(bound(objLevel).svc('x'), '10.96.9.9');
});
