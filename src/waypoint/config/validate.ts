/**
 * Structural check of a WaypointConfig arriving as JSON (a file or an xDS resource): every
 * field the data path relies on has the right type. A config that fails is rejected whole
 * (the waypoint keeps its last good one); semantic problems (a bad regex) only disable the
 * rule they are in (see compiled.ts).
 */
import type { WaypointConfig } from '../../api/waypoint-config.js';
import { AmbitError } from '../../errors.js';

type Check = (v: unknown, path: string) => void;

function fail(path: string, want: string, v: unknown): never {
  throw new AmbitError('WAYPOINT_CONFIG_INVALID', `waypoint config: ${path} must be ${want}`, {
    value: v,
    hint: 'the config must follow src/api/waypoint-config.ts',
  });
}

const str: Check = (v, p) => {
  if (typeof v !== 'string') fail(p, 'a string', v);
};
const num: Check = (v, p) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(p, 'a number', v);
};
const port: Check = (v, p) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535)
    fail(p, 'a port (1-65535)', v);
};
const bool: Check = (v, p) => {
  if (typeof v !== 'boolean') fail(p, 'a boolean', v);
};
const oneOf =
  (...vals: string[]): Check =>
  (v, p) => {
    if (typeof v !== 'string' || !vals.includes(v)) fail(p, `one of ${vals.join(', ')}`, v);
  };
const arr =
  (each: Check): Check =>
  (v, p) => {
    if (!Array.isArray(v)) fail(p, 'an array', v);
    v.forEach((x, i) => each(x, `${p}[${i}]`));
  };
const opt =
  (c: Check): Check =>
  (v, p) => {
    if (v !== undefined) c(v, p);
  };
const obj =
  (fields: Record<string, Check>): Check =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(p, 'an object', v);
    for (const [k, c] of Object.entries(fields)) c((v as Record<string, unknown>)[k], `${p}.${k}`);
  };

const facts = {
  uid: str,
  name: str,
  namespace: str,
  identity: str,
  serviceAccount: str,
  node: str,
  workloadName: str,
  canonicalName: str,
  canonicalRevision: str,
  app: str,
  version: str,
  clusterId: str,
};
const tunnel = oneOf('HBONE', 'NONE');
const endpoint = obj({
  ...facts,
  address: str,
  tunnel,
  targetPorts: arr(obj({ servicePort: port, targetPort: port })),
  healthy: bool,
});
const service = obj({
  name: str,
  namespace: str,
  hostname: str,
  vips: arr(str),
  ports: arr(
    obj({ port, name: str, protocol: oneOf('HTTP', 'HTTP2', 'GRPC', 'TCP', 'TLS', 'UNKNOWN') }),
  ),
  serves: bool,
  endpoints: arr(endpoint),
  waypoint: opt(arr(endpoint)),
});
const workload = obj({ ...facts, addresses: arr(str), tunnel, serves: bool });
const parent: Check = (v, p) => {
  obj({ kind: oneOf('Service', 'Gateway') })(v, p);
  if ((v as { kind: string }).kind === 'Service') obj({ service: str, port: opt(port) })(v, p);
};
const valueMatch = obj({ type: oneOf('Exact', 'RegularExpression'), name: str, value: str });
const headerValues = opt(arr(obj({ name: str, value: str })));
const headerModifier = obj({ set: headerValues, add: headerValues, remove: opt(arr(str)) });
const pathModifier = opt(obj({ type: oneOf('ReplaceFullPath', 'ReplacePrefixMatch'), value: str }));
const servicePortRef = obj({ service: str, port });
const filter: Check = (v, p) => {
  obj({
    type: oneOf(
      'RequestHeaderModifier',
      'ResponseHeaderModifier',
      'RequestRedirect',
      'URLRewrite',
      'RequestMirror',
    ),
  })(v, p);
  const f = v as Record<string, unknown>;
  switch (f.type) {
    case 'RequestHeaderModifier':
      return headerModifier(f.requestHeaderModifier, `${p}.requestHeaderModifier`);
    case 'ResponseHeaderModifier':
      return headerModifier(f.responseHeaderModifier, `${p}.responseHeaderModifier`);
    case 'RequestRedirect':
      return obj({
        scheme: opt(oneOf('http', 'https')),
        hostname: opt(str),
        path: pathModifier,
        port: opt(port),
        statusCode: opt((x, q) => {
          if (![301, 302, 303, 307, 308].includes(x as number))
            fail(q, '301, 302, 303, 307 or 308', x);
        }),
      })(f.requestRedirect, `${p}.requestRedirect`);
    case 'URLRewrite':
      return obj({ hostname: opt(str), path: pathModifier })(f.urlRewrite, `${p}.urlRewrite`);
    default:
      return obj({
        backend: servicePortRef,
        percent: opt(num),
        fraction: opt(obj({ numerator: num, denominator: num })),
      })(f.requestMirror, `${p}.requestMirror`);
  }
};
const backend: Check = (v, p) => {
  obj({ kind: oneOf('service', 'invalid'), weight: num })(v, p);
  if ((v as { kind: string }).kind === 'service')
    obj({ service: str, port, filters: opt(arr(filter)) })(v, p);
  else obj({ reason: str })(v, p);
};
const ruleCommon = {
  name: opt(str),
  filters: arr(filter),
  backends: arr(backend),
  timeouts: opt(obj({ requestMs: opt(num), backendRequestMs: opt(num) })),
  retry: opt(obj({ codes: arr(num), attempts: num, backoffMs: opt(num) })),
};
const routeMeta = { name: str, namespace: str, parents: arr(parent), creationTimestampMs: num };
/** A route: its metadata, then rules of the common fields plus matches of `match`'s shape. */
const route = (match: Check) =>
  obj({ ...routeMeta, rules: arr(obj({ ...ruleCommon, matches: arr(match) })) });
const httpRoute = route(
  obj({
    path: opt(obj({ type: oneOf('Exact', 'PathPrefix', 'RegularExpression'), value: str })),
    headers: opt(arr(valueMatch)),
    queryParams: opt(arr(valueMatch)),
    method: opt(str),
  }),
);
const grpcRoute = route(
  obj({
    method: opt(
      obj({ type: oneOf('Exact', 'RegularExpression'), service: opt(str), method: opt(str) }),
    ),
    headers: opt(arr(valueMatch)),
  }),
);
const tcpRoute = obj({ ...routeMeta, backends: arr(backend) });
const strs = opt(arr(str));
const policy = obj({
  name: str,
  namespace: str,
  action: oneOf('ALLOW', 'DENY', 'AUDIT'),
  target: (v, p) => {
    obj({ kind: oneOf('Gateway', 'GatewayClass', 'Service') })(v, p);
    if ((v as { kind: string }).kind === 'Service') obj({ service: str })(v, p);
  },
  dryRun: opt(bool),
  rules: arr(
    obj({
      from: opt(
        arr(
          obj(
            Object.fromEntries(
              [
                'principals',
                'requestPrincipals',
                'namespaces',
                'serviceAccounts',
                'ipBlocks',
                'remoteIpBlocks',
                'trustDomains',
              ].flatMap((k) => [
                [k, strs],
                [`not${k[0]!.toUpperCase()}${k.slice(1)}`, strs],
              ]),
            ),
          ),
        ),
      ),
      to: opt(
        arr(
          obj(
            Object.fromEntries(
              ['hosts', 'ports', 'methods', 'paths'].flatMap((k) => [
                [k, strs],
                [`not${k[0]!.toUpperCase()}${k.slice(1)}`, strs],
              ]),
            ),
          ),
        ),
      ),
      when: opt(arr(obj({ key: str, values: strs, notValues: strs }))),
    }),
  ),
});

const config = obj({
  version: str,
  waypoint: obj({
    name: str,
    namespace: str,
    trustDomain: str,
    identity: str,
    trafficType: oneOf('service', 'workload', 'all', 'none'),
    role: opt(oneOf('waypoint', 'ingress')),
    listeners: opt(
      arr(
        obj({
          name: str,
          port,
          protocol: oneOf('HTTP', 'HTTPS', 'TCP'),
          hostname: opt(str),
          tls: opt(obj({ certificates: arr(obj({ certPem: str, keyPem: str })) })),
        }),
      ),
    ),
  }),
  services: arr(service),
  workloads: arr(workload),
  httpRoutes: arr(httpRoute),
  grpcRoutes: arr(grpcRoute),
  tcpRoutes: opt(arr(tcpRoute)),
  authorizationPolicies: arr(policy),
});

/** Returns `v` typed when it is a structurally valid WaypointConfig; throws WAYPOINT_CONFIG_INVALID. */
export function validateConfig(v: unknown): WaypointConfig {
  config(v, 'config');
  return v as WaypointConfig;
}
