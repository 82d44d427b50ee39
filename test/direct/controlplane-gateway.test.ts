/**
 * The Gateway controller against an in-process API server: applying a waypoint Gateway makes the
 * control plane create its ServiceAccount, Deployment and Service (owned by the Gateway) and write
 * its status; once a waypoint pod is ready the status gets addresses and Programmed=True, and the
 * bound Service and Workloads pushed to a ztunnel carry the waypoint; labels change that within
 * a push; the waypoint subscribes with its own token and gets only its own WaypointConfig (ACKed,
 * NACK keeps state), updated within a push when a route or policy changes, with route and policy
 * status written; a bad listener is reported with Istio's reason; deleting the Gateway takes
 * the objects.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Gateway } from '../../src/controlplane/model/types.js';
import { startControlPlane, type ControlPlane } from '../../src/controlplane/server.js';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject, Service } from '../../src/k8s/types.js';
import { createLogger } from '../../src/log.js';
import type { WaypointConfig } from '../../src/api/waypoint-config.js';
import { TYPE_WAYPOINT_CONFIG } from '../../src/api/waypoint-resource.js';
import type { AuthorizationPolicy } from '../../src/controlplane/model/types.js';
import type { HTTPRoute } from '../../src/controlplane/model/routes-types.js';
import type { Pod } from '../../src/k8s/types.js';
import { createXdsClient, type DeltaXdsClient } from '../../src/xds/client.js';
import { bearerMetadata, openChannel } from '../../src/xds/transport.js';
import { subscribe } from '../../src/xds/resource-type.js';
import { XdsSubscriber } from '../../src/xds/subscriber.js';
import { decodeWaypointConfig, WAYPOINT_CONFIG_TYPE } from '../../src/xds/waypoint-codec.js';
import {
  ADS_PATH,
  decodeDeltaResponse,
  encodeDeltaRequest,
  type DeltaRequest,
  type DeltaResponse,
} from '../../src/xds/wire.js';
import {
  createPod,
  ensureNamespace,
  podToken,
  seedMesh,
  startTestCluster,
  until,
  type TestCluster,
} from '../helpers/xds-cluster.js';

let cluster: TestCluster;
let cp: ControlPlane;
let client: DeltaXdsClient;
let waypointPod: Pod;
const quiet = createLogger('test', () => undefined);

before(async () => {
  cluster = await startTestCluster();
  const mesh = await seedMesh(cluster.kube);
  const ztToken = await podToken(cluster.kube, mesh.ztunnelWorker2, cluster.dir);
  cp = await startControlPlane({
    kube: cluster.kube,
    log: createLogger('cp', () => undefined),
    stateDir: join(cluster.dir, 'controlplane'),
    host: '127.0.0.1',
    port: 0,
    debugHost: '127.0.0.1',
    debugPort: 0,
    trustedAccounts: ['istio-system/ztunnel'],
  });
  client = createXdsClient({
    address: `127.0.0.1:${cp.grpcPort}`,
    rootCa: cp.ca.rootPem,
    tokenFile: ztToken,
    node: {
      id: 'ztunnel~10.244.2.3~ztunnel-w2.istio-system~istio-system.svc.cluster.local',
      nodeName: 'worker2',
      podName: 'ztunnel-w2',
      podNamespace: 'istio-system',
      podIp: '10.244.2.3',
    },
    logger: quiet,
  });
  client.start();
  await until('the first full state', () => client.ready().then(() => true), 10_000);
});

after(async () => {
  await client?.stop();
  await cp?.close();
  await cluster?.close();
});

const httpbinSvc = () => client.addresses.get('default/httpbin.default.svc.cluster.local')?.service;
const httpbinPod = () => client.addresses.get('Kubernetes//Pod/default/httpbin-7d4b9-y2')?.workload;

void test('a waypoint Gateway is deployed, programmed, and bound services get it', async () => {
  const kube = cluster.kube;
  const gw = await kube.create<Gateway>(resources.gateways, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'default' },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  });
  const owned = (o: KubeObject | undefined) =>
    o?.metadata.ownerReferences?.some((r) => r.kind === 'Gateway' && r.uid === gw.metadata.uid);
  const sa = await until('the ServiceAccount', () =>
    kube.tryGet(resources.serviceaccounts, 'waypoint', 'default'),
  );
  const dep = await until('the Deployment', () =>
    kube.tryGet(resources.deployments, 'waypoint', 'default'),
  );
  const svc = await until('the Service', () =>
    kube.tryGet<Service>(resources.services, 'waypoint', 'default'),
  );
  assert.ok(owned(sa) && owned(dep) && owned(svc), 'all three are owned by the Gateway');
  const tmpl = (
    dep.spec as {
      template: { spec: { containers: { image: string }[]; serviceAccountName: string } };
    }
  ).template.spec;
  assert.equal(tmpl.containers[0]?.image, 'ambit/waypoint');
  assert.equal(tmpl.serviceAccountName, 'waypoint');
  const vip = svc.spec?.clusterIP;
  assert.ok(vip);

  // No ready pod yet: Accepted, not Programmed, no address, nothing bound.
  const pending = await until('a pending status', async () => {
    const g = await kube.get<Gateway>(resources.gateways, 'waypoint', 'default');
    return g.status?.conditions?.length ? g : undefined;
  });
  assert.equal(pending.status?.conditions?.find((c) => c.type === 'Accepted')?.status, 'True');
  assert.equal(pending.status?.conditions?.find((c) => c.type === 'Programmed')?.status, 'False');
  assert.equal(pending.status?.addresses, undefined);
  await ensureNamespace(kube, 'default', { 'istio.io/use-waypoint': 'waypoint' });
  assert.equal(httpbinSvc()?.waypoint, undefined, 'a waypoint without a ready pod binds nothing');

  // The pod the lab's Deployment controller and kubelet would make, ready.
  waypointPod = await createPod(kube, {
    name: 'waypoint-6d9f-abcde',
    namespace: 'default',
    node: 'worker',
    sa: 'waypoint',
    ip: '10.244.1.20',
    labels: {
      'gateway.networking.k8s.io/gateway-name': 'waypoint',
      'istio.io/dataplane-mode': 'none',
    },
    image: 'ambit/waypoint',
  });
  const programmed = await until('Programmed=True', async () => {
    const g = await kube.get<Gateway>(resources.gateways, 'waypoint', 'default');
    return g.status?.conditions?.find((c) => c.type === 'Programmed')?.status === 'True'
      ? g
      : undefined;
  });
  assert.deepEqual(programmed.status?.addresses, [
    { type: 'IPAddress', value: vip },
    { type: 'Hostname', value: 'waypoint.default.svc.cluster.local' },
  ]);
  const bound = await until('httpbin bound to the waypoint', () => httpbinSvc()?.waypoint);
  assert.deepEqual(bound, { address: { network: '', address: vip }, hboneMtlsPort: 15008 });
  assert.equal(httpbinPod()?.waypoint, undefined, 'service waypoint: the workload is not bound');
  const wpPod = client.addresses.get('Kubernetes//Pod/default/waypoint-6d9f-abcde')?.workload;
  assert.equal(wpPod?.waypoint, undefined, 'the waypoint itself never gets a waypoint');

  // waypoint-for: all binds the workload too; use-waypoint=none on the service opts it out.
  await kube.patch(
    resources.gateways,
    'waypoint',
    { metadata: { labels: { 'istio.io/waypoint-for': 'all' } } },
    { namespace: 'default', type: 'merge' },
  );
  await until('the workload bound', () => httpbinPod()?.waypoint);
  await kube.patch(
    resources.services,
    'httpbin',
    { metadata: { labels: { 'istio.io/use-waypoint': 'none' } } },
    { namespace: 'default', type: 'merge' },
  );
  await until('the service unbound', () =>
    httpbinSvc() && !httpbinSvc()?.waypoint ? true : false,
  );
  assert.ok(httpbinPod()?.waypoint, 'the pod keeps the namespace binding');
});

/** A raw delta-ADS subscription to the waypoint type, ACKing (or NACKing) each response. */
function subscribeWaypoint(tokenFile: string, nack = () => false) {
  const channel = openChannel({ address: `127.0.0.1:${cp.grpcPort}`, rootCa: cp.ca.rootPem });
  const stream = channel.makeBidiStreamRequest<DeltaRequest, DeltaResponse>(
    ADS_PATH,
    encodeDeltaRequest,
    decodeDeltaResponse,
    bearerMetadata(tokenFile),
  );
  const responses: DeltaResponse[] = [];
  let error: Error | undefined;
  stream.on('data', (res: DeltaResponse) => {
    responses.push(res);
    const reject = nack();
    stream.write({
      typeUrl: res.typeUrl,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: res.nonce,
      ...(reject ? { errorDetail: { code: 3, message: 'rejected by the test' } } : {}),
    });
  });
  stream.on('error', (e: Error) => (error = e));
  stream.write({
    node: {
      id: 'waypoint~10.244.1.20~waypoint-6d9f-abcde.default~default.svc.cluster.local',
      cluster: 'Kubernetes',
      metadata: { NODE_NAME: 'worker', NAME: 'waypoint-6d9f-abcde', NAMESPACE: 'default' },
    },
    typeUrl: TYPE_WAYPOINT_CONFIG,
    resourceNamesSubscribe: [],
    resourceNamesUnsubscribe: [],
    initialResourceVersions: {},
    responseNonce: '',
  });
  const latest = (): WaypointConfig | undefined => {
    for (let i = responses.length - 1; i >= 0; i--) {
      const r = responses[i]!.resources.find((x) => x.name === 'default/waypoint');
      if (r) return decodeWaypointConfig(r.value);
    }
    return undefined;
  };
  return {
    responses,
    latest,
    error: () => error,
    close: () => {
      stream.cancel();
      channel.close();
    },
  };
}

void test('the waypoint gets only its own config over xDS; routes and policies update it', async () => {
  const kube = cluster.kube;
  // A second waypoint in the namespace: its config must never reach the first one.
  await kube.create<Gateway>(resources.gateways, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'second', namespace: 'default' },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  });
  await kube.patch(
    resources.services,
    'httpbin',
    { metadata: { labels: { 'istio.io/use-waypoint': null } } },
    { namespace: 'default', type: 'merge' },
  );
  const token = await podToken(kube, waypointPod, cluster.dir);
  const sub = subscribeWaypoint(token);
  try {
    const first = await until(
      'a config serving httpbin',
      () => {
        const c = sub.latest();
        return c?.services.some((x) => x.serves && x.name === 'httpbin') ? c : undefined;
      },
      10_000,
    );
    assert.equal(first.waypoint.name, 'waypoint');
    assert.equal(first.waypoint.identity, 'spiffe://cluster.local/ns/default/sa/waypoint');
    assert.deepEqual(
      first.services.filter((s) => s.serves).map((s) => s.name),
      ['httpbin'],
    );
    assert.ok(
      sub.responses.every((r) => r.resources.every((x) => x.name === 'default/waypoint')),
      "never another waypoint's config",
    );
    await until('the ACK recorded', () =>
      cp.ads
        .connections()
        .some(
          (c) =>
            c.caller === 'system:serviceaccount:default:waypoint' &&
            c.types[TYPE_WAYPOINT_CONFIG]?.lastAck,
        ),
    );

    // An HTTPRoute on httpbin and a Gateway-targeted DENY arrive as a new version.
    await kube.create<HTTPRoute>(resources.httproutes, {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'httpbin-route', namespace: 'default' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'httpbin', port: 8000 }],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/get' } }],
            backendRefs: [
              { name: 'httpbin', port: 8000, weight: 90 },
              { name: 'missing', port: 80, weight: 10 },
            ],
          },
        ],
      },
    });
    await kube.create<AuthorizationPolicy>(resources.authorizationpolicies, {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'deny-delete', namespace: 'default' },
      spec: {
        targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }],
        action: 'DENY',
        rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }],
      },
    });
    const updated = await until('routes and policy in the config', () => {
      const c = sub.latest();
      return c && c.httpRoutes.length === 1 && c.authorizationPolicies.length === 1 ? c : undefined;
    });
    assert.notEqual(updated.version, first.version);
    assert.deepEqual(
      updated.httpRoutes[0]?.rules[0]?.backends.map((b) => b.kind),
      ['service', 'invalid'],
    );
    const route = await until('route status', async () => {
      const r = await kube.get<HTTPRoute>(resources.httproutes, 'httpbin-route', 'default');
      return r.status?.parents?.length ? r : undefined;
    });
    assert.deepEqual(
      route.status!.parents![0]!.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound'],
    );
    const pol = await until('policy status', async () => {
      const p = await kube.get<AuthorizationPolicy>(
        resources.authorizationpolicies,
        'deny-delete',
        'default',
      );
      return p.status?.conditions?.find((c) => c.type === 'WaypointAccepted') ? p : undefined;
    });
    const wc = pol.status!.conditions!.find((c) => c.type === 'WaypointAccepted')!;
    assert.equal(wc.status, 'True');
    assert.equal(
      pol.status!.conditions!.find((c) => c.type === 'ZtunnelAccepted'),
      undefined,
      'a targetRefs policy is not reported as ztunnel’s',
    );
  } finally {
    sub.close();
  }
});

void test('a waypoint that NACKs keeps being offered the config; others are refused', async () => {
  const token = await podToken(cluster.kube, waypointPod, cluster.dir);
  let n = 0;
  const sub = subscribeWaypoint(token, () => ++n === 1);
  try {
    await until('a NACK recorded', () =>
      cp.ads.connections().some((c) => c.types[TYPE_WAYPOINT_CONFIG]?.lastNack),
    );
    // The next change resends what was NACKed.
    await cluster.kube.patch(
      resources.authorizationpolicies,
      'deny-delete',
      { spec: { rules: [{ to: [{ operation: { methods: ['DELETE', 'PUT'] } }] }] } },
      { namespace: 'default', type: 'merge' },
    );
    const c = await until('the resend after the NACK', () => {
      const x = sub.responses.length > 1 ? sub.latest() : undefined;
      return x?.authorizationPolicies[0]?.rules[0]?.to?.[0]?.methods?.includes('PUT')
        ? x
        : undefined;
    });
    assert.equal(c.waypoint.name, 'waypoint');
  } finally {
    sub.close();
  }
  // httpbin's token is no waypoint's: refused.
  const httpbin = await cluster.kube.get<Pod>(resources.pods, 'httpbin-7d4b9-y2', 'default');
  const other = subscribeWaypoint(await podToken(cluster.kube, httpbin, cluster.dir));
  try {
    const e = await until('the refusal', () => other.error());
    assert.match(e.message, /PERMISSION_DENIED|may not subscribe/);
    assert.equal(other.responses.length, 0);
  } finally {
    other.close();
  }
});

void test('the generic xDS subscriber with WAYPOINT_CONFIG_TYPE gets the config (what a waypoint runs)', async () => {
  const token = await podToken(cluster.kube, waypointPod, cluster.dir);
  const sub = new XdsSubscriber({
    address: `127.0.0.1:${cp.grpcPort}`,
    rootCa: cp.ca.rootPem,
    tokenFile: token,
    node: {
      id: 'waypoint~10.244.1.20~waypoint-6d9f-abcde.default~default.svc.cluster.local',
      nodeName: 'worker',
      podName: 'waypoint-6d9f-abcde',
      podNamespace: 'default',
      podIp: '10.244.1.20',
    },
    subscriptions: [subscribe(WAYPOINT_CONFIG_TYPE)],
    logger: quiet,
  });
  sub.start();
  try {
    const cfg = await until('the config', () =>
      sub.resources.get(WAYPOINT_CONFIG_TYPE.typeUrl)?.get('default/waypoint'),
    );
    assert.equal((cfg as WaypointConfig).waypoint.name, 'waypoint');
    assert.deepEqual(
      [...sub.resources.get(WAYPOINT_CONFIG_TYPE.typeUrl)!.keys()],
      ['default/waypoint'],
    );
    await until('the ACK', () => sub.acked.get(WAYPOINT_CONFIG_TYPE.typeUrl));
  } finally {
    await sub.stop();
  }
});

void test('a waypoint with an HTTP listener is not accepted, with Istio reason', async () => {
  const kube = cluster.kube;
  await kube.create<Gateway>(resources.gateways, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'bad', namespace: 'default' },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    },
  });
  const g = await until('the status', async () => {
    const o = await kube.get<Gateway>(resources.gateways, 'bad', 'default');
    return o.status?.listeners?.length ? o : undefined;
  });
  const lc = g.status?.listeners?.[0]?.conditions.find((c) => c.type === 'Accepted');
  assert.equal(lc?.status, 'False');
  assert.equal(lc?.reason, 'UnsupportedProtocol');
  assert.equal(lc?.message, 'Expected a single listener on port 15008 with protocol "HBONE"');
  assert.equal(g.status?.conditions?.find((c) => c.type === 'Accepted')?.status, 'False');
});

void test('deleting the Gateway removes its Deployment, Service and ServiceAccount', async () => {
  const kube = cluster.kube;
  await kube.delete(resources.gateways, 'bad', 'default');
  await until('the owned objects gone', async () => {
    const left = await Promise.all([
      kube.tryGet(resources.deployments, 'bad', 'default'),
      kube.tryGet(resources.services, 'bad', 'default'),
      kube.tryGet(resources.serviceaccounts, 'bad', 'default'),
    ]);
    return left.every((x) => x === undefined);
  });
});
