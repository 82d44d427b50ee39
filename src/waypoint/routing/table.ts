/**
 * Route tables per served (service, port): every HTTPRoute/GRPCRoute match attached to it,
 * sorted by Gateway API precedence. HTTPRoute: exact path, longest prefix, method, most header
 * matches, most query matches; GRPCRoute: longest service, longest method, most header matches;
 * ties: the oldest route, then `namespace/name`, then rule and match order. TCPRoutes have no
 * matches: of several on one port the oldest (then `namespace/name`) wins, the rest conflict.
 */
import type {
  GrpcRoute,
  HttpFilter,
  HttpRoute,
  RetryPolicy,
  RouteBackend,
  RouteMeta,
  RouteTimeouts,
  WaypointConfig,
  WaypointSelf,
} from '../../api/waypoint-config.js';
import { errorMessage } from '../../errors.js';
import { hostsIntersect } from '../../api/hostnames.js';
import { compileGrpcMatch, compileHttpMatch, type CompiledMatch } from './match.js';

export interface CompiledRule {
  routeKind: 'HTTPRoute' | 'GRPCRoute';
  /** `namespace/name` of the route ('' for the default route of a service). */
  routeKey: string;
  ruleIndex: number;
  ruleName?: string;
  filters: HttpFilter[];
  backends: RouteBackend[];
  timeouts?: RouteTimeouts;
  retry?: RetryPolicy;
}

export interface RouteEntry {
  rule: CompiledRule;
  match: CompiledMatch;
  meta: { creationTimestampMs: number; key: string; matchIndex: number };
  /** Ingress gateways: the listener the route attached through, and the route's `hostnames`. */
  listener?: string;
  hostnames?: string[];
}

/** A TCPRoute attached to a (service, port): the backends its connections are spread over. */
export interface TcpEntry {
  /** `namespace/name` of the TCPRoute. */
  routeKey: string;
  creationTimestampMs: number;
  backends: RouteBackend[];
}

export interface RouteTable {
  http: RouteEntry[];
  grpc: RouteEntry[];
  /** TCPRoutes, the one in force first. */
  tcp: TcpEntry[];
}

export function tableKey(service: string, port: number): string {
  return `${service}:${port}`;
}

/** Higher ranks first, in the order of `keys`; ties by cmpMeta. */
function byRank(keys: (keyof CompiledMatch['rank'])[]): (a: RouteEntry, b: RouteEntry) => number {
  return (a, b) => {
    for (const k of keys) {
      const d = b.match.rank[k] - a.match.rank[k];
      if (d !== 0) return d;
    }
    return cmpMeta(a, b);
  };
}

const cmpHttp = byRank(['pathType', 'pathLength', 'method', 'headers', 'queryParams']);
const cmpGrpc = byRank(['grpcService', 'grpcMethod', 'headers']);

function cmpMeta(a: RouteEntry, b: RouteEntry): number {
  return (
    a.meta.creationTimestampMs - b.meta.creationTimestampMs ||
    (a.meta.key < b.meta.key ? -1 : a.meta.key > b.meta.key ? 1 : 0) ||
    a.rule.ruleIndex - b.rule.ruleIndex ||
    a.meta.matchIndex - b.meta.matchIndex
  );
}

/** The hostname of an ingress gateway's own Service, `<gateway>-istio.<ns>.svc.<domain>`. */
export function ingressHostname(self: WaypointSelf): string {
  return `${self.name}-istio.${self.namespace}.svc.${self.trustDomain}`;
}

/**
 * Where a route attaches: (service, port) table keys, each with the listener it came through
 * on an ingress gateway. There a Gateway parent means its listeners (all, or the one
 * `sectionName` / `port` names) of the route's kind — TCP listeners take TCPRoutes, HTTP and
 * HTTPS ones the others — whose hostname intersects the route's `hostnames`
 * (ingress/hosts.ts), keyed by the gateway's own service (config/compiled.ts `listenerService`).
 */
function attachments(
  route: RouteMeta,
  cfg: WaypointConfig,
  tcp: boolean,
): { key: string; listener?: string }[] {
  const out = new Map<string, { key: string; listener?: string }>();
  if (cfg.waypoint.role === 'ingress') {
    const self = cfg.waypoint;
    const key = `${self.namespace}/${ingressHostname(self)}`;
    for (const p of route.parents) {
      if (p.kind !== 'Gateway') continue;
      for (const l of self.listeners ?? []) {
        if ((l.protocol === 'TCP') !== tcp) continue;
        if (p.sectionName !== undefined && p.sectionName !== l.name) continue;
        if (p.port !== undefined && p.port !== l.port) continue;
        const lh = l.hostname;
        if (lh && route.hostnames?.length && !route.hostnames.some((h) => hostsIntersect(h, lh)))
          continue;
        out.set(`${l.port}/${l.name}`, { key: tableKey(key, l.port), listener: l.name });
      }
    }
    return [...out.values()];
  }
  for (const p of route.parents) {
    for (const s of cfg.services) {
      if (!s.serves) continue;
      const key = `${s.namespace}/${s.hostname}`;
      if (p.kind === 'Service' && p.service !== key) continue;
      for (const port of s.ports) {
        if (p.kind === 'Service' && p.port !== undefined && p.port !== port.port) continue;
        const k = tableKey(key, port.port);
        out.set(k, { key: k });
      }
    }
  }
  return [...out.values()];
}

export interface RouteTables {
  tables: Map<string, RouteTable>;
  /** Matches or rules that could not be compiled (bad regex), for logs and the config dump. */
  warnings: string[];
}

export function buildRouteTables(cfg: WaypointConfig): RouteTables {
  const tables = new Map<string, RouteTable>();
  const warnings: string[] = [];
  const tableAt = (key: string): RouteTable => {
    let table = tables.get(key);
    if (!table) tables.set(key, (table = { http: [], grpc: [], tcp: [] }));
    return table;
  };
  const add = (
    route: HttpRoute | GrpcRoute,
    kind: 'HTTPRoute' | 'GRPCRoute',
    compile: (m: never) => CompiledMatch,
  ) => {
    const key = `${route.namespace}/${route.name}`;
    const entries: RouteEntry[] = [];
    route.rules.forEach((r, ruleIndex) => {
      const rule: CompiledRule = {
        routeKind: kind,
        routeKey: key,
        ruleIndex,
        ruleName: r.name,
        filters: r.filters,
        backends: r.backends,
        timeouts: r.timeouts,
        retry: r.retry,
      };
      const matches = r.matches.length > 0 ? r.matches : [{}];
      matches.forEach((m, matchIndex) => {
        try {
          entries.push({
            rule,
            match: compile(m as never),
            meta: { creationTimestampMs: route.creationTimestampMs, key, matchIndex },
          });
        } catch (err) {
          warnings.push(
            `${kind} ${key} rule ${ruleIndex} match ${matchIndex}: ${errorMessage(err)}`,
          );
        }
      });
    });
    const where = attachments(route, cfg, false);
    if (where.length === 0)
      warnings.push(
        `${kind} ${key}: no ${cfg.waypoint.role === 'ingress' ? 'listener' : 'served service port'} to attach to`,
      );
    for (const { key: t, listener } of where) {
      const table = tableAt(t);
      const at =
        listener === undefined
          ? entries
          : entries.map((e) => ({
              ...e,
              listener,
              ...(route.hostnames?.length ? { hostnames: route.hostnames } : {}),
            }));
      (kind === 'HTTPRoute' ? table.http : table.grpc).push(...at);
    }
  };
  for (const r of cfg.httpRoutes)
    add(r, 'HTTPRoute', compileHttpMatch as (m: never) => CompiledMatch);
  for (const r of cfg.grpcRoutes)
    add(r, 'GRPCRoute', compileGrpcMatch as (m: never) => CompiledMatch);
  for (const r of cfg.tcpRoutes ?? []) {
    const routeKey = `${r.namespace}/${r.name}`;
    const where = attachments(r, cfg, true);
    if (where.length === 0)
      warnings.push(
        `TCPRoute ${routeKey}: no ${cfg.waypoint.role === 'ingress' ? 'TCP listener' : 'served service port'} to attach to`,
      );
    for (const { key } of where)
      tableAt(key).tcp.push({
        routeKey,
        creationTimestampMs: r.creationTimestampMs,
        backends: r.backends,
      });
  }
  for (const t of tables.values()) {
    t.http.sort(cmpHttp);
    t.grpc.sort(cmpGrpc);
    t.tcp.sort(
      (a, b) =>
        a.creationTimestampMs - b.creationTimestampMs ||
        (a.routeKey < b.routeKey ? -1 : a.routeKey > b.routeKey ? 1 : 0),
    );
  }
  return { tables, warnings };
}
