/**
 * HTTPRoute and GRPCRoute (TCPRoute: tcp-routes.ts, with the same parents and backends) → the waypoint's route config (src/api/waypoint-config.ts), the way
 * Istio converts them for waypoints (docs/istio/waypoint.md §4): GAMMA parents are Services in
 * the route's namespace (consumer routes are not supported in ambient) or the waypoint's own
 * Gateway; backendRefs resolve to `namespace/hostname` + port (a missing Service or port, a
 * cross-namespace reference no ReferenceGrant permits (gateway/reference-grants.ts), a
 * non-Service kind become `invalid` backends, answered 500); durations are parsed; regexes are checked. Every parent gets the
 * Gateway API conditions `Accepted` and `ResolvedRefs` with the standard reasons.
 */
import type {
  GrpcFilter,
  GrpcRoute,
  GrpcRouteRule,
  HttpFilter,
  HttpRoute,
  HttpRouteRule,
  PathModifier,
  RetryPolicy,
  RouteBackend,
  RouteMeta,
  RouteParent,
  RouteTimeouts,
  ServicePortRef,
  ValueMatch,
} from '../../api/waypoint-config.js';
import type { Service as KubeService } from '../../k8s/types.js';
import { attach } from '../gateway/attachment.js';
import { GATEWAY_GROUP, notPermitted, type ReferenceGrants } from '../gateway/reference-grants.js';
import type { Gateway } from '../model/types.js';
import type {
  BackendRef,
  GRPCRoute,
  HeaderMatch,
  HTTPRoute,
  HTTPRouteFilter,
  ParentRef,
  TCPRoute,
} from '../model/routes-types.js';

export const ROUTE_CONTROLLER = 'istio.io/gateway-controller';

/** Why a route (or one of its parents) is not as written; becomes its status. */
export interface RouteProblems {
  /** Accepted=False: the route cannot be used as written (bad regex, unsupported filter). */
  accepted?: { reason: string; message: string };
  /** ResolvedRefs=False: a backend could not be resolved. */
  refs?: { reason: string; message: string };
}

export interface ResolvedParent {
  ref: ParentRef;
  /** The contract's parent, or undefined when the parent does not exist / is not ours. */
  parent?: RouteParent;
  /** `namespace/hostname` of a Service parent; `namespace/name` of a Gateway parent. */
  key?: string;
  kind: 'Service' | 'Gateway';
  /** NoMatchingParent etc. when the parent itself is the problem. */
  problem?: { reason: string; message: string };
  /** A Gateway parent: the names of the listeners the route attached to. */
  listeners?: string[];
}

export interface TranslatedRoute<R> {
  kind: RouteKind;
  namespace: string;
  name: string;
  generation?: number;
  route: R;
  parents: ResolvedParent[];
  problems: RouteProblems;
  /** Services referenced as backends or mirror targets (`namespace/hostname`). */
  referenced: string[];
}

export interface RouteContext {
  domainSuffix: string;
  /** Services by `namespace/name`. */
  services: ReadonlyMap<string, KubeService>;
  /** Namespace labels by name, for listeners' `allowedRoutes` selectors. */
  namespaceLabels?: ReadonlyMap<string, Record<string, string>>;
  /** ReferenceGrants, for cross-namespace backendRefs (absent: none, every one refused). */
  grants?: ReferenceGrants;
}

export type RouteKind = 'HTTPRoute' | 'GRPCRoute' | 'TCPRoute';

const hostOf = (ns: string, name: string, suffix: string) => `${name}.${ns}.svc.${suffix}`;

/** Gateway API durations (GEP-2257): up to four `<n>h|m|s|ms` parts, e.g. `1h30m`, `500ms`. */
export function parseGatewayDuration(v: string): number | undefined {
  if (!/^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(v)) return undefined;
  let ms = 0;
  for (const m of v.matchAll(/([0-9]{1,5})(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return ms;
}

function regexError(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'u');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export class Collector {
  readonly problems: RouteProblems = {};
  readonly referenced = new Set<string>();
  /** The kind of the route being translated: the `from` of its cross-namespace references. */
  constructor(readonly kind: RouteKind) {}
  reject(reason: string, message: string): void {
    this.problems.accepted ??= { reason, message };
  }
  unresolved(reason: string, message: string): void {
    this.problems.refs ??= { reason, message };
  }
}

function resolveRef(
  ref: BackendRef,
  routeNs: string,
  ctx: RouteContext,
  c: Collector,
  where: string,
): ServicePortRef | { invalid: string } {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if ((group !== '' && group !== 'core') || kind !== 'Service') {
    const msg = `${where}: backend kind ${group ? group + '/' : ''}${kind} is not supported`;
    c.unresolved('InvalidKind', msg);
    return { invalid: msg };
  }
  const ns = ref.namespace ?? routeNs;
  const from = { group: GATEWAY_GROUP, kind: c.kind, namespace: routeNs };
  const to = { group: '', kind: 'Service', namespace: ns, name: ref.name };
  if (ns !== routeNs && !ctx.grants?.permits(from, to)) {
    const msg = `${where}: backendRef to ${ns}/${ref.name} is not permitted: ${notPermitted(from, to)}`;
    c.unresolved('RefNotPermitted', msg);
    return { invalid: msg };
  }
  const svc = ctx.services.get(`${ns}/${ref.name}`);
  if (!svc) {
    const msg = `${where}: service ${ns}/${ref.name} not found`;
    c.unresolved('BackendNotFound', msg);
    return { invalid: msg };
  }
  if (ref.port === undefined) {
    const msg = `${where}: port is required for service ${ns}/${ref.name}`;
    c.unresolved('BackendNotFound', msg);
    return { invalid: msg };
  }
  if (!(svc.spec?.ports ?? []).some((p) => p.port === ref.port)) {
    const msg = `${where}: service ${ns}/${ref.name} has no port ${ref.port}`;
    c.unresolved('BackendNotFound', msg);
    return { invalid: msg };
  }
  const service = `${ns}/${hostOf(ns, ref.name, ctx.domainSuffix)}`;
  c.referenced.add(service);
  return { service, port: ref.port };
}

function pathModifier(
  p: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } | undefined,
): PathModifier | undefined {
  if (!p) return undefined;
  if (p.type === 'ReplaceFullPath')
    return { type: 'ReplaceFullPath', value: p.replaceFullPath ?? '/' };
  return { type: 'ReplacePrefixMatch', value: p.replacePrefixMatch ?? '/' };
}

function filters(
  list: HTTPRouteFilter[] | undefined,
  routeNs: string,
  ctx: RouteContext,
  c: Collector,
  where: string,
): HttpFilter[] {
  const out: HttpFilter[] = [];
  for (const [i, f] of (list ?? []).entries()) {
    const at = `${where}.filters[${i}]`;
    switch (f.type) {
      case 'RequestHeaderModifier':
        if (f.requestHeaderModifier)
          out.push({
            type: 'RequestHeaderModifier',
            requestHeaderModifier: f.requestHeaderModifier,
          });
        break;
      case 'ResponseHeaderModifier':
        if (f.responseHeaderModifier)
          out.push({
            type: 'ResponseHeaderModifier',
            responseHeaderModifier: f.responseHeaderModifier,
          });
        break;
      case 'RequestRedirect': {
        const r = f.requestRedirect ?? {};
        const path = pathModifier(r.path);
        out.push({
          type: 'RequestRedirect',
          requestRedirect: {
            ...(r.scheme ? { scheme: r.scheme } : {}),
            ...(r.hostname ? { hostname: r.hostname } : {}),
            ...(path ? { path } : {}),
            ...(r.port ? { port: r.port } : {}),
            ...(r.statusCode ? { statusCode: r.statusCode } : {}),
          },
        });
        break;
      }
      case 'URLRewrite': {
        const r = f.urlRewrite ?? {};
        const path = pathModifier(r.path);
        out.push({
          type: 'URLRewrite',
          urlRewrite: {
            ...(r.hostname ? { hostname: r.hostname } : {}),
            ...(path ? { path } : {}),
          },
        });
        break;
      }
      case 'RequestMirror': {
        const m = f.requestMirror;
        if (!m) break;
        const ref = resolveRef(m.backendRef, routeNs, ctx, c, `${at}.requestMirror`);
        // An unresolvable mirror is dropped (reported); the route itself still works.
        if ('invalid' in ref) break;
        out.push({
          type: 'RequestMirror',
          requestMirror: {
            backend: ref,
            ...(m.percent !== undefined ? { percent: m.percent } : {}),
            ...(m.fraction
              ? {
                  fraction: {
                    numerator: m.fraction.numerator,
                    denominator: m.fraction.denominator ?? 100,
                  },
                }
              : {}),
          },
        });
        break;
      }
      default:
        c.reject(
          'UnsupportedValue',
          `${at}: filter type ${JSON.stringify(f.type)} is not supported`,
        );
    }
  }
  return out;
}

export function backends(
  refs: BackendRef[] | undefined,
  routeNs: string,
  ctx: RouteContext,
  c: Collector,
  where: string,
): RouteBackend[] {
  return (refs ?? []).map((ref, i) => {
    const at = `${where}.backendRefs[${i}]`;
    const weight = ref.weight ?? 1;
    const r = resolveRef(ref, routeNs, ctx, c, at);
    if ('invalid' in r) return { kind: 'invalid', weight, reason: r.invalid };
    const f = filters(ref.filters, routeNs, ctx, c, at);
    return { kind: 'service', ...r, weight, ...(f.length ? { filters: f } : {}) };
  });
}

function timeouts(
  t: { request?: string; backendRequest?: string } | undefined,
  c: Collector,
  where: string,
): RouteTimeouts | undefined {
  if (!t) return undefined;
  const out: RouteTimeouts = {};
  for (const [k, field] of [
    ['request', 'requestMs'],
    ['backendRequest', 'backendRequestMs'],
  ] as const) {
    const v = t[k];
    if (v === undefined) continue;
    const ms = parseGatewayDuration(v);
    if (ms === undefined)
      c.reject(
        'UnsupportedValue',
        `${where}.timeouts.${k}: ${JSON.stringify(v)} is not a duration`,
      );
    else out[field] = ms;
  }
  return Object.keys(out).length ? out : undefined;
}

function retry(
  r: { codes?: number[]; attempts?: number; backoff?: string } | undefined,
  c: Collector,
  where: string,
): RetryPolicy | undefined {
  if (!r) return undefined;
  const out: RetryPolicy = { codes: r.codes ?? [], attempts: r.attempts ?? 2 };
  if (r.backoff !== undefined) {
    const ms = parseGatewayDuration(r.backoff);
    if (ms === undefined)
      c.reject(
        'UnsupportedValue',
        `${where}.retry.backoff: ${JSON.stringify(r.backoff)} is not a duration`,
      );
    else out.backoffMs = ms;
  }
  return out;
}

export function resolveParents(
  routeKind: RouteKind,
  refs: ParentRef[] | undefined,
  routeNs: string,
  ctx: RouteContext,
  gateways: ReadonlyMap<string, Gateway>,
  hostnames?: readonly string[],
): ResolvedParent[] {
  return (refs ?? []).map((ref) => {
    const group = ref.group ?? 'gateway.networking.k8s.io';
    const kind = ref.kind ?? 'Gateway';
    const ns = ref.namespace ?? routeNs;
    if ((group === '' || group === 'core') && kind === 'Service') {
      if (ns !== routeNs)
        return {
          ref,
          kind: 'Service',
          problem: {
            reason: 'NotAllowedByListeners',
            message: `consumer routes (parent service in namespace ${ns}) are not supported in ambient mode`,
          },
        };
      const svc = ctx.services.get(`${ns}/${ref.name}`);
      if (!svc)
        return {
          ref,
          kind: 'Service',
          problem: { reason: 'NoMatchingParent', message: `service ${ns}/${ref.name} not found` },
        };
      if (ref.port !== undefined && !(svc.spec?.ports ?? []).some((p) => p.port === ref.port))
        return {
          ref,
          kind: 'Service',
          problem: {
            reason: 'NoMatchingParent',
            message: `service ${ns}/${ref.name} has no port ${ref.port}`,
          },
        };
      const key = `${ns}/${hostOf(ns, ref.name, ctx.domainSuffix)}`;
      return {
        ref,
        kind: 'Service',
        key,
        parent: {
          kind: 'Service',
          service: key,
          ...(ref.port !== undefined ? { port: ref.port } : {}),
        },
      };
    }
    if (group === 'gateway.networking.k8s.io' && kind === 'Gateway') {
      const key = `${ns}/${ref.name}`;
      if (!gateways.has(key))
        return {
          ref,
          kind: 'Gateway',
          problem: { reason: 'NoMatchingParent', message: `gateway ${key} not found` },
        };
      const gw = gateways.get(key)!;
      const a = attach(gw, {
        kind: routeKind,
        ref,
        routeNs,
        ...(hostnames ? { hostnames } : {}),
        ...(ctx.namespaceLabels ? { namespaceLabels: ctx.namespaceLabels } : {}),
      });
      if (a.problem) return { ref, kind: 'Gateway', problem: a.problem };
      return {
        ref,
        kind: 'Gateway',
        key,
        listeners: a.listeners.map((l) => l.name ?? ''),
        parent: {
          kind: 'Gateway',
          ...(ref.sectionName ? { sectionName: ref.sectionName } : {}),
          ...(ref.port !== undefined ? { port: ref.port } : {}),
        },
      };
    }
    return {
      ref,
      kind: 'Service',
      problem: { reason: 'InvalidKind', message: `parent kind ${group}/${kind} is not supported` },
    };
  });
}

export const created = (o: { metadata: { creationTimestamp?: string } }) =>
  o.metadata.creationTimestamp ? Date.parse(o.metadata.creationTimestamp) || 0 : 0;

/** Header / query parameter matches as the contract has them (absent or empty → omitted). */
function valueMatches(key: 'headers' | 'queryParams', ms: HeaderMatch[] | undefined) {
  return ms?.length
    ? {
        [key]: ms.map((m): ValueMatch => ({
          type: m.type ?? 'Exact',
          name: m.name,
          value: m.value,
        })),
      }
    : {};
}

/** Accepted=False (UnsupportedValue) for each pattern that is not a regex the waypoint runs. */
function checkRegexes(c: Collector, checks: [field: string, pattern: string][]): void {
  for (const [field, pattern] of checks) {
    const err = regexError(pattern);
    if (err)
      c.reject('UnsupportedValue', `${field}: invalid regex ${JSON.stringify(pattern)}: ${err}`);
  }
}

/** The envelope every route kind shares: parents, metadata, problems; `body` is the kind's own part. */
export function translated<R extends RouteMeta>(
  kind: RouteKind,
  r: HTTPRoute | GRPCRoute | TCPRoute,
  ns: string,
  body: Omit<R, keyof RouteMeta>,
  c: Collector,
  ctx: RouteContext,
  gateways: ReadonlyMap<string, Gateway>,
): TranslatedRoute<R> {
  const hostnames = r.spec && 'hostnames' in r.spec ? r.spec.hostnames : undefined;
  const parents = resolveParents(kind, r.spec?.parentRefs, ns, ctx, gateways, hostnames);
  const route: RouteMeta = {
    name: r.metadata.name,
    namespace: ns,
    parents: parents.flatMap((p) => (p.parent ? [p.parent] : [])),
    ...(hostnames?.length ? { hostnames: [...hostnames] } : {}),
    creationTimestampMs: created(r),
  };
  return {
    kind,
    namespace: ns,
    name: r.metadata.name,
    generation: r.metadata.generation,
    route: { ...route, ...body } as R,
    parents,
    problems: c.problems,
    referenced: [...c.referenced].sort(),
  };
}

export function translateHttpRoute(
  r: HTTPRoute,
  ctx: RouteContext,
  gateways: ReadonlyMap<string, Gateway>,
): TranslatedRoute<HttpRoute> {
  const ns = r.metadata.namespace ?? 'default';
  const c = new Collector('HTTPRoute');
  const rules: HttpRouteRule[] = (r.spec?.rules ?? []).map((rule, i) => {
    const where = `spec.rules[${i}]`;
    for (const [j, m] of (rule.matches ?? []).entries()) {
      const at = `${where}.matches[${j}]`;
      const checks: [string, string][] = [];
      if (m.path?.type === 'RegularExpression') checks.push([`${at}.path`, m.path.value ?? '']);
      for (const key of ['headers', 'queryParams'] as const)
        for (const [k, h] of (m[key] ?? []).entries())
          if (h.type === 'RegularExpression') checks.push([`${at}.${key}[${k}]`, h.value]);
      checkRegexes(c, checks);
    }
    const out: HttpRouteRule = {
      ...(rule.name ? { name: rule.name } : {}),
      matches: (rule.matches ?? []).map((m) => ({
        ...(m.path
          ? { path: { type: m.path.type ?? 'PathPrefix', value: m.path.value ?? '/' } }
          : {}),
        ...valueMatches('headers', m.headers),
        ...valueMatches('queryParams', m.queryParams),
        ...(m.method ? { method: m.method.toUpperCase() } : {}),
      })),
      filters: filters(rule.filters, ns, ctx, c, where),
      backends: backends(rule.backendRefs, ns, ctx, c, where),
    };
    const t = timeouts(rule.timeouts, c, where);
    if (t) out.timeouts = t;
    const rt = retry(rule.retry, c, where);
    if (rt) out.retry = rt;
    return out;
  });
  return translated<HttpRoute>('HTTPRoute', r, ns, { rules }, c, ctx, gateways);
}

export function translateGrpcRoute(
  r: GRPCRoute,
  ctx: RouteContext,
  gateways: ReadonlyMap<string, Gateway>,
): TranslatedRoute<GrpcRoute> {
  const ns = r.metadata.namespace ?? 'default';
  const c = new Collector('GRPCRoute');
  const rules: GrpcRouteRule[] = (r.spec?.rules ?? []).map((rule, i) => {
    const where = `spec.rules[${i}]`;
    for (const [j, m] of (rule.matches ?? []).entries()) {
      const at = `${where}.matches[${j}]`;
      const pats: string[] = [];
      if (m.method?.type === 'RegularExpression')
        pats.push(...[m.method.service, m.method.method].filter((x): x is string => !!x));
      for (const h of m.headers ?? []) if (h.type === 'RegularExpression') pats.push(h.value);
      checkRegexes(
        c,
        pats.map((p) => [at, p]),
      );
      if (m.method && !m.method.service && !m.method.method)
        c.reject('UnsupportedValue', `${at}.method: one of service or method is required`);
    }
    const fs = filters(rule.filters, ns, ctx, c, where);
    const grpcFilters = fs.filter((f): f is GrpcFilter =>
      ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'].includes(f.type),
    );
    if (grpcFilters.length !== fs.length)
      c.reject(
        'UnsupportedValue',
        `${where}.filters: GRPCRoute supports only header modifiers and mirror`,
      );
    return {
      ...(rule.name ? { name: rule.name } : {}),
      matches: (rule.matches ?? []).map((m) => ({
        ...(m.method
          ? {
              method: {
                type: m.method.type ?? 'Exact',
                ...(m.method.service ? { service: m.method.service } : {}),
                ...(m.method.method ? { method: m.method.method } : {}),
              },
            }
          : {}),
        ...valueMatches('headers', m.headers),
      })),
      filters: grpcFilters,
      backends: backends(rule.backendRefs, ns, ctx, c, where),
    };
  });
  return translated<GrpcRoute>('GRPCRoute', r, ns, { rules }, c, ctx, gateways);
}
