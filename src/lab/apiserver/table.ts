/**
 * Server-side printing: `meta.k8s.io/v1` Tables with kubectl's usual columns per kind, so
 * `kubectl get` (which asks for `as=Table`) prints what users expect.
 */
import type { Kind } from './catalog.js';
import { cellOf, jsonPath } from './jsonpath.js';
import type { Obj } from './store.js';

type Cell = string | number;
interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: string;
  priority?: number;
  cell: (o: Obj, now: number) => Cell;
}

const any = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.map(any) : []);
const str = (v: unknown, dflt = '<none>'): string =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : dflt;
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** kubectl's short durations: 45s, 5m, 3h, 2d. */
export function age(ts: unknown, now: number): string {
  if (typeof ts !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const name: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata.name };
const ageCol: Column = {
  name: 'Age',
  type: 'string',
  cell: (o, now) => age(o.metadata.creationTimestamp, now),
};

function podStatus(o: Obj): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const st = any(o.status);
  for (const c of list(st.containerStatuses)) {
    const state = any(c.state);
    const waiting = any(state.waiting).reason;
    if (typeof waiting === 'string') return waiting;
    const term = any(state.terminated).reason;
    if (typeof term === 'string' && st.phase !== 'Succeeded' && st.phase !== 'Failed') return term;
  }
  return str(st.reason, str(st.phase, 'Pending'));
}

function selector(sel: unknown): string {
  const s = any(sel);
  const labels = any(s.matchLabels ?? s);
  const parts = Object.entries(labels)
    .filter(([, v]) => typeof v === 'string')
    .map(([k, v]) => `${k}=${v as string}`);
  return parts.length ? parts.join(',') : '<none>';
}

const podCols: Column[] = [
  name,
  {
    name: 'Ready',
    type: 'string',
    cell: (o) => {
      const cs = list(any(o.status).containerStatuses);
      const total = list(any(o.spec).containers).length;
      return `${cs.filter((c) => c.ready === true).length}/${total}`;
    },
  },
  { name: 'Status', type: 'string', cell: podStatus },
  {
    name: 'Restarts',
    type: 'string',
    cell: (o) =>
      String(list(any(o.status).containerStatuses).reduce((n, c) => n + num(c.restartCount), 0)),
  },
  ageCol,
  { name: 'IP', type: 'string', priority: 1, cell: (o) => str(any(o.status).podIP) },
  { name: 'Node', type: 'string', priority: 1, cell: (o) => str(any(o.spec).nodeName) },
  {
    name: 'Nominated Node',
    type: 'string',
    priority: 1,
    cell: (o) => str(any(o.status).nominatedNodeName),
  },
  { name: 'Readiness Gates', type: 'string', priority: 1, cell: () => '<none>' },
];

const svcCols: Column[] = [
  name,
  { name: 'Type', type: 'string', cell: (o) => str(any(o.spec).type, 'ClusterIP') },
  { name: 'Cluster-IP', type: 'string', cell: (o) => str(any(o.spec).clusterIP) },
  {
    name: 'External-IP',
    type: 'string',
    cell: (o) => {
      const ips = any(o.spec).externalIPs;
      return Array.isArray(ips) && ips.length ? ips.join(',') : '<none>';
    },
  },
  {
    name: 'Port(s)',
    type: 'string',
    cell: (o) => {
      const ps = list(any(o.spec).ports).map(
        (p) =>
          `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${str(p.protocol, 'TCP')}`,
      );
      return ps.length ? ps.join(',') : '<none>';
    },
  },
  ageCol,
  { name: 'Selector', type: 'string', priority: 1, cell: (o) => selector(any(o.spec).selector) },
];

function nodeAddress(o: Obj, type: string): string {
  return str(list(any(o.status).addresses).find((a) => a.type === type)?.address);
}

const nodeCols: Column[] = [
  name,
  {
    name: 'Status',
    type: 'string',
    cell: (o) => {
      const ready = list(any(o.status).conditions).find((c) => c.type === 'Ready');
      const s = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
      return any(o.spec).unschedulable ? `${s},SchedulingDisabled` : s;
    },
  },
  {
    name: 'Roles',
    type: 'string',
    cell: (o) => {
      const roles = Object.keys(any(o.metadata.labels))
        .filter((k) => k.startsWith('node-role.kubernetes.io/'))
        .map((k) => k.slice('node-role.kubernetes.io/'.length));
      return roles.length ? roles.join(',') : '<none>';
    },
  },
  ageCol,
  {
    name: 'Version',
    type: 'string',
    cell: (o) => str(any(any(o.status).nodeInfo).kubeletVersion, ''),
  },
  { name: 'Internal-IP', type: 'string', priority: 1, cell: (o) => nodeAddress(o, 'InternalIP') },
  { name: 'External-IP', type: 'string', priority: 1, cell: (o) => nodeAddress(o, 'ExternalIP') },
  {
    name: 'OS-Image',
    type: 'string',
    priority: 1,
    cell: (o) => str(any(any(o.status).nodeInfo).osImage, '<unknown>'),
  },
  {
    name: 'Kernel-Version',
    type: 'string',
    priority: 1,
    cell: (o) => str(any(any(o.status).nodeInfo).kernelVersion, '<unknown>'),
  },
  {
    name: 'Container-Runtime',
    type: 'string',
    priority: 1,
    cell: (o) => str(any(any(o.status).nodeInfo).containerRuntimeVersion, '<unknown>'),
  },
];

const statusNum = (field: string) => (o: Obj) => num(any(o.status)[field]);
/** One field of every container of the pod template, comma-separated (kubectl -o wide). */
const containerField = (field: 'name' | 'image') => (o: Obj) =>
  list(any(any(any(o.spec).template).spec).containers)
    .map((c) => str(c[field]))
    .join(',');

const deployCols: Column[] = [
  name,
  {
    name: 'Ready',
    type: 'string',
    cell: (o) => `${num(any(o.status).readyReplicas)}/${num(any(o.spec).replicas)}`,
  },
  { name: 'Up-to-date', type: 'integer', cell: statusNum('updatedReplicas') },
  { name: 'Available', type: 'integer', cell: statusNum('availableReplicas') },
  ageCol,
  { name: 'Containers', type: 'string', priority: 1, cell: containerField('name') },
  { name: 'Images', type: 'string', priority: 1, cell: containerField('image') },
  { name: 'Selector', type: 'string', priority: 1, cell: (o) => selector(any(o.spec).selector) },
];

const dsCols: Column[] = [
  name,
  { name: 'Desired', type: 'integer', cell: statusNum('desiredNumberScheduled') },
  { name: 'Current', type: 'integer', cell: statusNum('currentNumberScheduled') },
  { name: 'Ready', type: 'integer', cell: statusNum('numberReady') },
  { name: 'Up-to-date', type: 'integer', cell: statusNum('updatedNumberScheduled') },
  { name: 'Available', type: 'integer', cell: statusNum('numberAvailable') },
  {
    name: 'Node Selector',
    type: 'string',
    cell: (o) => selector(any(any(any(o.spec).template).spec).nodeSelector),
  },
  ageCol,
];

const nsCols: Column[] = [
  name,
  { name: 'Status', type: 'string', cell: (o) => str(any(o.status).phase, 'Active') },
  ageCol,
];

const epCols: Column[] = [
  name,
  {
    name: 'Endpoints',
    type: 'string',
    cell: (o) => {
      const eps: string[] = [];
      for (const s of list(o.subsets))
        for (const a of list(s.addresses))
          for (const p of list(s.ports)) eps.push(`${str(a.ip)}:${String(p.port)}`);
      if (eps.length === 0) return '<none>';
      return eps.length > 3
        ? `${eps.slice(0, 3).join(',')} + ${eps.length - 3} more...`
        : eps.join(',');
    },
  },
  ageCol,
];

/** kubectl's "a,b,c + N more..." for the first three of a list. */
const firstThree = (xs: string[]): string =>
  xs.length === 0
    ? '<none>'
    : xs.length > 3
      ? `${xs.slice(0, 3).join(',')} + ${xs.length - 3} more...`
      : xs.join(',');

const sliceCols: Column[] = [
  name,
  { name: 'AddressType', type: 'string', cell: (o) => str(o.addressType) },
  {
    name: 'Ports',
    type: 'string',
    cell: (o) => {
      const ps = list(o.ports);
      if (ps.length === 0) return '<unset>';
      return firstThree(ps.map((p) => (typeof p.port === 'number' ? String(p.port) : '<unset>')));
    },
  },
  {
    name: 'Endpoints',
    type: 'string',
    cell: (o) =>
      firstThree(
        list(o.endpoints).flatMap((e) =>
          Array.isArray(e.addresses) ? e.addresses.map((a) => str(a)) : [],
        ),
      ),
  },
  ageCol,
];

const crdCols: Column[] = [
  name,
  {
    name: 'Created At',
    type: 'date',
    cell: (o) => str(o.metadata.creationTimestamp, '<unknown>'),
  },
];

const cmCols: Column[] = [
  name,
  { name: 'Data', type: 'integer', cell: (o) => Object.keys(any(o.data)).length },
  ageCol,
];

const saCols: Column[] = [
  name,
  { name: 'Secrets', type: 'integer', cell: (o) => list(o.secrets).length },
  ageCol,
];

const eventCols: Column[] = [
  {
    name: 'Last Seen',
    type: 'string',
    cell: (o, now) => age(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp, now),
  },
  { name: 'Type', type: 'string', cell: (o) => str(o.type, 'Normal') },
  { name: 'Reason', type: 'string', cell: (o) => str(o.reason, '') },
  {
    name: 'Object',
    type: 'string',
    cell: (o) => {
      const r = any(o.involvedObject);
      return `${str(r.kind, '').toLowerCase()}/${str(r.name, '')}`;
    },
  },
  { name: 'Message', type: 'string', cell: (o) => str(o.message, '') },
];

const columnsByKind: Record<string, Column[]> = {
  Pod: podCols,
  Service: svcCols,
  Node: nodeCols,
  Deployment: deployCols,
  DaemonSet: dsCols,
  Namespace: nsCols,
  Endpoints: epCols,
  EndpointSlice: sliceCols,
  CustomResourceDefinition: crdCols,
  ConfigMap: cmCols,
  ServiceAccount: saCols,
  Event: eventCols,
};

/** A custom resource's columns: NAME, then its CRD's additionalPrinterColumns (AGE by default). */
function crdColumns(k: Kind): Column[] {
  const extra = k.printerColumns ?? [];
  if (extra.length === 0) return [name, ageCol];
  return [
    name,
    ...extra.map((c): Column => ({
      name: c.name,
      type: c.type === 'date' ? 'date' : c.type === 'integer' ? 'integer' : 'string',
      priority: c.priority ?? 0,
      cell: (o, now) => {
        const vs = jsonPath(o, c.jsonPath);
        if (c.type === 'date') return vs.length ? age(vs[0], now) : '<unknown>';
        return cellOf(vs);
      },
    })),
  ];
}

/** True when the Accept header asks for a meta.k8s.io/v1 Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept
    .split(',')
    .some((a) => /as=Table/.test(a) && /g=meta\.k8s\.io/.test(a) && /v=v1(?![a-z0-9])/.test(a));
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function partial(k: Kind, o: Obj): Record<string, unknown> {
  return {
    kind: 'PartialObjectMetadata',
    apiVersion: 'meta.k8s.io/v1',
    metadata: o.metadata,
  };
}

export function toTable(
  k: Kind,
  objs: Obj[],
  opts: { resourceVersion: string; include: IncludeObject; now?: number },
): Record<string, unknown> {
  const cols = (k.crd ? crdColumns(k) : columnsByKind[k.kind]) ?? [name, ageCol];
  const now = opts.now ?? Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: opts.resourceVersion },
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.name,
      priority: c.priority ?? 0,
    })),
    rows: objs.map((o) => ({
      cells: cols.map((c) => c.cell(o, now)),
      ...(opts.include === 'None' ? {} : { object: opts.include === 'Object' ? o : partial(k, o) }),
    })),
  };
}
