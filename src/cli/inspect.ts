/**
 * `ambit x` support: compute from the API what the control plane sends to a node (without
 * needing it to run), and fetch the running control plane's view of connected ztunnels.
 */
import { existsSync } from 'node:fs';
import { Port } from '../api/ports.js';
import {
  buildModel,
  renderConfigDump,
  type ConfigDump,
  type Snapshot,
} from '../controlplane/model/index.js';
import type { ConnectionInfo } from '../controlplane/xds/ads.js';
import { AmbitError } from '../errors.js';
import { KubeClient } from '../k8s/client.js';
import { readKubeconfig } from '../k8s/kubeconfig.js';
import { resources, type Resource } from '../k8s/resources.js';
import type { KubeObject, Pod } from '../k8s/types.js';
import { labPaths } from '../lab/cluster/paths.js';
import { labOrDefault, podNetns } from '../lab/conventions.js';
import { httpGetInNetns } from '../sys/netns-http.js';

/** The API server of a lab (its cluster-admin `<state>/kubeconfig`), else AMBIT_KUBE_SERVER. */
export function labKubeClient(lab: string | undefined, server?: string): KubeClient {
  const name = labOrDefault(lab);
  const file = labPaths(name).kubeconfig;
  if (existsSync(file)) {
    const creds = readKubeconfig(file);
    return new KubeClient({ ...creds, server: server ?? creds.server });
  }
  if (server) return new KubeClient({ server });
  if (process.env.AMBIT_KUBE_SERVER) return KubeClient.fromEnv();
  throw new AmbitError('X_NO_LAB', `lab ${name} is not running (no ${file})`, {
    value: name,
    hint: 'start it with `ambit lab up`, or pass --server http://127.0.0.1:<port>',
  });
}

async function listOptional(kube: KubeClient, res: Resource): Promise<KubeObject[]> {
  try {
    return (await kube.list<KubeObject>(res)).items;
  } catch {
    return [];
  }
}

/** What the control plane's model reads, field by field; a list the server lacks is empty. */
const SNAPSHOT_LISTS: [keyof Snapshot, Resource, 'required' | 'optional'][] = [
  ['namespaces', resources.namespaces, 'required'],
  ['pods', resources.pods, 'required'],
  ['services', resources.services, 'required'],
  ['endpointSlices', resources.endpointslices, 'optional'],
  ['serviceAccounts', resources.serviceaccounts, 'optional'],
  ['policies', resources.authorizationpolicies, 'optional'],
  ['gateways', resources.gateways, 'optional'],
  ['peerAuthentications', resources.peerauthentications, 'optional'],
  ['deployments', resources.deployments, 'optional'],
  ['httpRoutes', resources.httproutes, 'optional'],
  ['grpcRoutes', resources.grpcroutes, 'optional'],
  ['tcpRoutes', resources.tcproutes, 'optional'],
  ['referenceGrants', resources.referencegrants, 'optional'],
  ['secrets', resources.secrets, 'optional'],
];

export async function fetchSnapshot(kube: KubeClient): Promise<Snapshot> {
  const lists = await Promise.all(
    SNAPSHOT_LISTS.map(([, res, need]) =>
      need === 'required' ? kube.list(res).then((l) => l.items) : listOptional(kube, res),
    ),
  );
  return Object.fromEntries(SNAPSHOT_LISTS.map(([k], i) => [k, lists[i]])) as unknown as Snapshot;
}

export async function computeConfigDump(kube: KubeClient, node: string): Promise<ConfigDump> {
  return renderConfigDump(buildModel(await fetchSnapshot(kube)), node);
}

/** The control plane's /debug/connections, fetched inside its pod's network namespace. */
export async function fetchConnections(kube: KubeClient): Promise<ConnectionInfo[]> {
  const pods = await kube.list<Pod>(resources.pods, {
    namespace: 'istio-system',
    labelSelector: 'app=istiod',
  });
  const pod = pods.items.find((p) => p.status?.phase === 'Running' && podNetns(p));
  if (!pod)
    throw new AmbitError('X_NO_CONTROLPLANE', 'no running istiod pod in istio-system', {
      hint: 'is the mesh installed? (`ambit lab status`)',
    });
  const url = `http://127.0.0.1:${Port.controlPlaneDebug}/debug/connections`;
  const body = await httpGetInNetns(podNetns(pod)!, url);
  return JSON.parse(body) as ConnectionInfo[];
}

export function formatConnections(conns: ConnectionInfo[]): string {
  const short = (t: string) => t.replace('type.googleapis.com/', '');
  const rows = [['NODE', 'POD', 'TYPE', 'ACKED VERSION', 'NONCE', 'RESOURCES', 'LAST NACK']];
  for (const c of conns)
    for (const [t, s] of Object.entries(c.types))
      rows.push([
        c.node,
        c.pod ?? c.nodeId,
        short(t),
        s.lastAck?.version ?? '-',
        s.lastAck?.nonce ?? '-',
        String(s.resources),
        s.lastNack ? `${s.lastNack.at} ${s.lastNack.message}` : '-',
      ]);
  if (rows.length === 1) return 'no ztunnel connected';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((v, i) => v.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
