/**
 * The pure parts of `ambit waypoint`: the Gateway that istioctl's `waypoint generate` prints
 * (istioctl/pkg/waypoint/waypoint.go, docs/istio/waypoint.md §1.1) and the `list` / `status`
 * tables in istioctl's shape.
 */
import { AmbitError } from '../errors.js';
import type { Gateway } from '../controlplane/model/types.js';

export const USE_WAYPOINT = 'istio.io/use-waypoint';
export const WAYPOINT_FOR = 'istio.io/waypoint-for';
const FOR_VALUES = ['service', 'workload', 'all', 'none'] as const;
export type WaypointFor = (typeof FOR_VALUES)[number];

export function parseWaypointFor(v: string | undefined): WaypointFor | undefined {
  if (v === undefined) return undefined;
  if ((FOR_VALUES as readonly string[]).includes(v)) return v as WaypointFor;
  throw new AmbitError('CLI_BAD_VALUE', `--for: invalid traffic type ${JSON.stringify(v)}`, {
    value: v,
    hint: `one of ${FOR_VALUES.join(', ')}`,
  });
}

/** Without --for no label is written and the control plane's default (service) applies. */
export function buildWaypointGateway(
  namespace: string,
  name: string,
  trafficType?: WaypointFor,
  revision?: string,
): Gateway {
  const labels: Record<string, string> = {};
  if (trafficType) labels[WAYPOINT_FOR] = trafficType;
  if (revision) labels['istio.io/rev'] = revision;
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { ...(Object.keys(labels).length ? { labels } : {}), name, namespace },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 4)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const cond = (g: Gateway, type: string) => g.status?.conditions?.find((c) => c.type === type);

/** `NAME REVISION TRAFFIC TYPE PROGRAMMED` (with NAMESPACE first for -A). */
export function formatList(gws: readonly Gateway[], allNamespaces: boolean): string {
  const head = ['NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'];
  const rows = [...gws]
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    )
    .map((g) => {
      const r = [
        g.metadata.name,
        g.metadata.labels?.['istio.io/rev'] ?? 'default',
        g.metadata.labels?.[WAYPOINT_FOR] ?? 'service',
        cond(g, 'Programmed')?.status ?? 'False',
      ];
      return allNamespaces ? [g.metadata.namespace ?? 'default', ...r] : r;
    });
  return table([allNamespaces ? ['NAMESPACE', ...head] : head, ...rows]);
}

/** `NAMESPACE NAME STATUS TYPE REASON MESSAGE`, one line per Gateway condition. */
export function formatStatus(gws: readonly Gateway[]): string {
  const rows: string[][] = [['NAMESPACE', 'NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE']];
  for (const g of gws) {
    const conds = g.status?.conditions ?? [];
    if (conds.length === 0)
      rows.push([
        g.metadata.namespace ?? 'default',
        g.metadata.name,
        'Unknown',
        'Programmed',
        '',
        'no status yet',
      ]);
    for (const c of conds)
      rows.push([
        g.metadata.namespace ?? 'default',
        g.metadata.name,
        c.status,
        c.type,
        c.reason,
        c.message,
      ]);
  }
  return table(rows);
}
