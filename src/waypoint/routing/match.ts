/**
 * One compiled route match (Gateway API HTTPRouteMatch, or a GRPCRouteMatch expressed on the
 * HTTP/2 path): a predicate plus the facts precedence sorts by.
 */
import type {
  GrpcRouteMatch,
  HttpRouteMatch,
  PathMatch,
  ValueMatch,
} from '../../api/waypoint-config.js';
import { AmbitError } from '../../errors.js';
import { firstQueryValues, type RouteRequest } from './request.js';

export interface CompiledMatch {
  test(r: RouteRequest): boolean;
  /** Gateway API HTTPRoute precedence inputs. */
  rank: {
    /** 3 exact, 2 regex, 1 prefix (regex is implementation-specific: between the two). */
    pathType: number;
    pathLength: number;
    method: number;
    headers: number;
    queryParams: number;
    /** GRPCRoute: characters of the matched service and method. */
    grpcService: number;
    grpcMethod: number;
  };
  /** The prefix this match matched on, for ReplacePrefixMatch; undefined for exact/regex. */
  prefix?: string;
}

function fullRegex(re: string, what: string): RegExp {
  try {
    return new RegExp(`^(?:${re})$`);
  } catch (err) {
    throw new AmbitError('WAYPOINT_ROUTE_REGEX', `invalid ${what} regex ${JSON.stringify(re)}`, {
      value: re,
      hint: 'use an RE2-compatible regular expression',
      cause: err,
    });
  }
}

/** Segment-wise prefix: `/v2` matches `/v2`, `/v2/`, `/v2/x`, not `/v2x`; a trailing `/` is ignored. */
export function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix;
  if (p === '/' || p === '') return true;
  return path === p || path.startsWith(p + '/');
}

function pathTest(m: PathMatch): (path: string) => boolean {
  switch (m.type) {
    case 'Exact':
      return (p) => p === m.value;
    case 'PathPrefix':
      return (p) => prefixMatches(m.value, p);
    case 'RegularExpression': {
      const rx = fullRegex(m.value, 'path');
      return (p) => rx.test(p);
    }
  }
}

function valueTests(ms: ValueMatch[] | undefined, kind: 'header' | 'query') {
  // Only the first of several matches with an equivalent name counts (Gateway API).
  const seen = new Set<string>();
  const out: ((get: (name: string) => string | undefined) => boolean)[] = [];
  for (const m of ms ?? []) {
    const name = kind === 'header' ? m.name.toLowerCase() : m.name;
    if (seen.has(name)) continue;
    seen.add(name);
    if (m.type === 'RegularExpression') {
      const rx = fullRegex(m.value, kind);
      out.push((get) => {
        const v = get(name);
        return v !== undefined && rx.test(v);
      });
    } else out.push((get) => get(name) === m.value);
  }
  return out;
}

export function compileHttpMatch(m: HttpRouteMatch): CompiledMatch {
  const path = m.path ?? { type: 'PathPrefix', value: '/' };
  const pt = pathTest(path);
  const headers = valueTests(m.headers, 'header');
  const query = valueTests(m.queryParams, 'query');
  const method = m.method?.toUpperCase();
  return {
    test(r) {
      if (!pt(r.path)) return false;
      if (method && r.method !== method) return false;
      if (!headers.every((t) => t((n) => r.headers[n]))) return false;
      if (query.length) {
        const q = firstQueryValues(r.query);
        if (!query.every((t) => t((n) => q.get(n)))) return false;
      }
      return true;
    },
    rank: {
      pathType: path.type === 'Exact' ? 3 : path.type === 'RegularExpression' ? 2 : 1,
      pathLength: path.value.length,
      method: method ? 1 : 0,
      headers: headers.length,
      queryParams: query.length,
      grpcService: 0,
      grpcMethod: 0,
    },
    prefix: path.type === 'PathPrefix' ? path.value : undefined,
  };
}

/** gRPC requests are `POST /<service>/<method>`. */
export function compileGrpcMatch(m: GrpcRouteMatch): CompiledMatch {
  const headers = valueTests(m.headers, 'header');
  const mm = m.method;
  let pathTestFn: (p: string) => boolean = () => true;
  if (mm && (mm.service || mm.method)) {
    if (mm.type === 'RegularExpression') {
      const s = fullRegex(mm.service ?? '[^/]+', 'gRPC service');
      const me = fullRegex(mm.method ?? '[^/]+', 'gRPC method');
      pathTestFn = (p) => {
        const parts = /^\/([^/]+)\/([^/]+)$/.exec(p);
        return !!parts && s.test(parts[1]!) && me.test(parts[2]!);
      };
    } else {
      pathTestFn = (p) => {
        const parts = /^\/([^/]+)\/([^/]+)$/.exec(p);
        if (!parts) return false;
        return (!mm.service || parts[1] === mm.service) && (!mm.method || parts[2] === mm.method);
      };
    }
  }
  return {
    test: (r) => pathTestFn(r.path) && headers.every((t) => t((n) => r.headers[n])),
    rank: {
      pathType: 0,
      pathLength: 0,
      method: 0,
      headers: headers.length,
      queryParams: 0,
      grpcService: mm?.type === 'Exact' ? (mm.service?.length ?? 0) : 0,
      grpcMethod: mm?.type === 'Exact' ? (mm.method?.length ?? 0) : 0,
    },
  };
}
