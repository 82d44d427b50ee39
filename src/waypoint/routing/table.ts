/**
 * Route tables per served (service, port): every HTTPRoute/GRPCRoute match attached to it,
 * sorted by Gateway API precedence. HTTPRoute: exact path, longest prefix, method, most header
 * matches, most query matches; GRPCRoute: longest service, longest method, most header matches;
 * ties: the oldest route, then `namespace/name`, then rule and match order.
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
}

export interface RouteTable {
  http: RouteEntry[];
  grpc: RouteEntry[];
}

export function tableKey(service: string, port: number): string {
  return `${service}:${port}`;
}

function cmpHttp(a: RouteEntry, b: RouteEntry): number {
  const x = a.match.rank;
  const y = b.match.rank;
  return (
    y.pathType - x.pathType ||
    y.pathLength - x.pathLength ||
    y.method - x.method ||
    y.headers - x.headers ||
    y.queryParams - x.queryParams ||
    cmpMeta(a, b)
  );
}

function cmpGrpc(a: RouteEntry, b: RouteEntry): number {
  const x = a.match.rank;
  const y = b.match.rank;
  return (
    y.grpcService - x.grpcService ||
    y.grpcMethod - x.grpcMethod ||
    y.headers - x.headers ||
    cmpMeta(a, b)
  );
}

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
 * The (service, port) keys a route attaches to. On an ingress gateway a Gateway parent means
 * its listeners (all, or the one `sectionName` / `port` names), keyed by the gateway's own
 * service (config/compiled.ts `listenerService`).
 */
function attachments(route: RouteMeta, cfg: WaypointConfig): string[] {
  const out = new Set<string>();
  if (cfg.waypoint.role === 'ingress') {
    const self = cfg.waypoint;
    const key = `${self.namespace}/${ingressHostname(self)}`;
    for (const p of route.parents) {
      if (p.kind !== 'Gateway') continue;
      for (const l of self.listeners ?? []) {
        if (p.sectionName !== undefined && p.sectionName !== l.name) continue;
        if (p.port !== undefined && p.port !== l.port) continue;
        out.add(tableKey(key, l.port));
      }
    }
    return [...out];
  }
  for (const p of route.parents) {
    for (const s of cfg.services) {
      if (!s.serves) continue;
      const key = `${s.namespace}/${s.hostname}`;
      if (p.kind === 'Service' && p.service !== key) continue;
      for (const port of s.ports) {
        if (p.kind === 'Service' && p.port !== undefined && p.port !== port.port) continue;
        out.add(tableKey(key, port.port));
      }
    }
  }
  return [...out];
}

export interface RouteTables {
  tables: Map<string, RouteTable>;
  /** Matches or rules that could not be compiled (bad regex), for logs and the config dump. */
  warnings: string[];
}

export function buildRouteTables(cfg: WaypointConfig): RouteTables {
  const tables = new Map<string, RouteTable>();
  const warnings: string[] = [];
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
    const where = attachments(route, cfg);
    if (where.length === 0)
      warnings.push(
        `${kind} ${key}: no ${cfg.waypoint.role === 'ingress' ? 'listener' : 'served service port'} to attach to`,
      );
    for (const t of where) {
      let table = tables.get(t);
      if (!table) tables.set(t, (table = { http: [], grpc: [] }));
      (kind === 'HTTPRoute' ? table.http : table.grpc).push(...entries);
    }
  };
  for (const r of cfg.httpRoutes)
    add(r, 'HTTPRoute', compileHttpMatch as (m: never) => CompiledMatch);
  for (const r of cfg.grpcRoutes)
    add(r, 'GRPCRoute', compileGrpcMatch as (m: never) => CompiledMatch);
  for (const t of tables.values()) {
    t.http.sort(cmpHttp);
    t.grpc.sort(cmpGrpc);
  }
  return { tables, warnings };
}
