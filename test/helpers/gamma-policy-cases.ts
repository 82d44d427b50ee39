/**
 * The L7 AuthorizationPolicy matrix for the lab (gamma-policy.test.ts): phases of policies
 * (targetRefs on the namespace waypoint's Gateway or on one Service) and the requests each
 * phase decides, from three clients of different identities: `v1` (echo-v1, sa default in
 * gateway-conformance-mesh), `client` (sa gm-client in the same namespace) and `consumer`
 * (sa default in gateway-conformance-mesh-consumer). Expected results follow Istio's rules
 * (docs/istio/waypoint.md §3): DENY before ALLOW, no ALLOW match → 403 `RBAC: access denied`,
 * `{*}` one segment, `{**}` any, `*` prefix/suffix, not-forms, TCP treatment of HTTP fields.
 */
import type { MeshCase } from './gamma-client.js';
import { CONSUMER_NS, MESH_NS } from './gamma-manifests.js';

export type Who = 'v1' | 'client' | 'consumer';

export interface PolicyPhase {
  name: string;
  yaml: string;
  cases: Partial<Record<Who, MeshCase[]>>;
  /** TCP probes to echo:9090: true = the bytes come back, false = the connection is closed. */
  tcp?: Partial<Record<Who, boolean>>;
}

const GATEWAY = '[{kind: Gateway, group: gateway.networking.k8s.io, name: namespace}]';
const svc = (name: string) => `[{kind: Service, group: "", name: ${name}}]`;

export function policy(name: string, action: string, rules: string[], target = GATEWAY): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${MESH_NS}}
spec:
  targetRefs: ${target}
  action: ${action}
  rules:
${rules.map((r) => `  - ${r}`).join('\n')}
`;
}

const ok = (name: string, path: string, extra: Partial<MeshCase> = {}): MeshCase => ({
  name,
  path,
  status: 200,
  ...extra,
});
const denied = (name: string, path: string, extra: Partial<MeshCase> = {}): MeshCase => ({
  name,
  path,
  status: 403,
  body: extra.grpc ? undefined : 'RBAC: access denied',
  ...extra,
});
const op = (o: string) => `{to: [{operation: {${o}}}]}`;
const CLIENT = `cluster.local/ns/${MESH_NS}/sa/gm-client`;

export const phases: PolicyPhase[] = [
  {
    name: 'ALLOW methods, paths, templates and headers (Gateway-targeted)',
    yaml: policy('gm-allow', 'ALLOW', [
      op('methods: [GET], paths: ["/public/*", "/exact"]'),
      op('methods: [POST], paths: ["/api/{*}/items"]'),
      op('paths: ["/files/{**}"]'),
      op('paths: ["*.png"]'),
      `{to: [{operation: {paths: ["/hdr"]}}], when: [{key: "request.headers[x-token]", values: ["secret", "pre*"]}]}`,
    ]),
    cases: {
      v1: [
        ok('GET /public/a (prefix)', '/public/a'),
        denied('GET /public (prefix needs the slash)', '/public'),
        denied('POST /public/a (method)', '/public/a', { method: 'POST' }),
        ok('GET /exact', '/exact'),
        denied('GET /exact/more (exact)', '/exact/more'),
        ok('POST /api/v1/items ({*})', '/api/v1/items', { method: 'POST' }),
        denied('POST /api/v1/v2/items ({*} is one segment)', '/api/v1/v2/items', {
          method: 'POST',
        }),
        denied('GET /api/v1/items (method)', '/api/v1/items'),
        ok('GET /files/a/b/c ({**})', '/files/a/b/c'),
        ok('GET /img/x.png (suffix)', '/img/x.png'),
        ok('x-token: secret', '/hdr', { headers: [['x-token', 'secret']] }),
        ok('x-token: prefix match', '/hdr', { headers: [['x-token', 'pre-42']] }),
        denied('x-token: wrong', '/hdr', { headers: [['x-token', 'nope']] }),
        denied('no x-token', '/hdr'),
        denied('GET /other (no rule)', '/other'),
      ],
    },
  },
  {
    name: 'ALLOW with not-forms',
    yaml: policy('gm-not', 'ALLOW', [op('notMethods: [DELETE], notPaths: ["/admin*"]')]),
    cases: {
      v1: [
        ok('GET /x', '/x'),
        denied('DELETE /x (notMethods)', '/x', { method: 'DELETE' }),
        denied('GET /admin/a (notPaths)', '/admin/a'),
        ok('PUT /y', '/y', { method: 'PUT' }),
      ],
    },
  },
  {
    name: 'DENY over ALLOW',
    yaml:
      policy('gm-allow-all', 'ALLOW', ['{}']) +
      '---\n' +
      policy('gm-deny', 'DENY', [
        op('paths: ["/deny/*"]'),
        `{when: [{key: "request.headers[x-block]", values: ["1"]}]}`,
        `{to: [{operation: {methods: [PATCH]}}], from: [{source: {namespaces: ["${MESH_NS}"]}}]}`,
      ]),
    cases: {
      v1: [
        ok('GET /ok', '/ok'),
        denied('GET /deny/x', '/deny/x'),
        denied('x-block: 1', '/ok', { headers: [['x-block', '1']] }),
        ok('x-block: 0', '/ok', { headers: [['x-block', '0']] }),
        denied('PATCH from the mesh namespace', '/ok', { method: 'PATCH' }),
      ],
      consumer: [
        ok('PATCH from the consumer namespace', '/ok', {
          method: 'PATCH',
          host: `echo.${MESH_NS}`,
        }),
      ],
    },
  },
  {
    name: 'principals and namespaces (from the HBONE peer identity)',
    yaml: policy('gm-from', 'ALLOW', [
      `{from: [{source: {principals: ["${CLIENT}"]}}], to: [{operation: {paths: ["/principal"]}}]}`,
      `{from: [{source: {namespaces: ["${CONSUMER_NS}"]}}], to: [{operation: {paths: ["/ns"]}}]}`,
      `{from: [{source: {notPrincipals: ["*/sa/gm-client"]}}], to: [{operation: {paths: ["/not-principal"]}}]}`,
      `{from: [{source: {notNamespaces: ["${MESH_NS}"]}}], to: [{operation: {paths: ["/not-ns"]}}]}`,
      `{to: [{operation: {paths: ["/when-ns"]}}], when: [{key: source.namespace, values: ["${CONSUMER_NS}"]}]}`,
      `{to: [{operation: {paths: ["/when-principal"]}}], when: [{key: source.principal, values: ["*/sa/gm-client"]}]}`,
    ]),
    cases: {
      v1: [
        denied('v1 /principal', '/principal'),
        denied('v1 /ns', '/ns'),
        ok('v1 /not-principal', '/not-principal'),
        denied('v1 /not-ns', '/not-ns'),
        denied('v1 /when-ns', '/when-ns'),
        denied('v1 /when-principal', '/when-principal'),
      ],
      client: [
        ok('gm-client /principal', '/principal'),
        denied('gm-client /ns', '/ns'),
        denied('gm-client /not-principal', '/not-principal'),
        ok('gm-client /when-principal', '/when-principal'),
      ],
      consumer: [
        denied('consumer /principal', '/principal', { host: `echo.${MESH_NS}` }),
        ok('consumer /ns', '/ns', { host: `echo.${MESH_NS}` }),
        ok('consumer /not-ns', '/not-ns', { host: `echo.${MESH_NS}` }),
        ok('consumer /when-ns', '/when-ns', { host: `echo.${MESH_NS}` }),
      ],
    },
  },
  {
    name: 'Service-targeted vs Gateway-targeted',
    yaml:
      policy('gm-svc-deny', 'DENY', [op('paths: ["/svc-deny"]')], svc('echo-v1')) +
      '---\n' +
      policy('gm-gw-deny', 'DENY', [op('paths: ["/gw-deny"]')]) +
      '---\n' +
      policy('gm-svc-allow', 'ALLOW', [op('paths: ["/v2-only"]')], svc('echo-v2')),
    cases: {
      v1: [
        denied('echo-v1 /svc-deny (its policy)', '/svc-deny', { host: 'echo-v1' }),
        ok('echo /svc-deny (another service)', '/svc-deny', { host: 'echo' }),
        denied('echo-v1 /gw-deny (Gateway policy)', '/gw-deny', { host: 'echo-v1' }),
        denied('echo-v2 /gw-deny (Gateway policy)', '/gw-deny', { host: 'echo-v2' }),
        ok('echo-v2 /v2-only (its ALLOW)', '/v2-only', { host: 'echo-v2' }),
        denied('echo-v2 /other (its ALLOW does not match)', '/other', { host: 'echo-v2' }),
        ok('echo /other (no ALLOW on echo)', '/other', { host: 'echo' }),
      ],
    },
  },
  {
    name: 'gRPC requests',
    yaml: policy('gm-grpc', 'DENY', [
      `{to: [{operation: {paths: ["/proto.EchoTestService/*"]}}], when: [{key: "request.headers[x-grpc-block]", values: ["yes"]}]}`,
    ]),
    cases: {
      v1: [
        { name: 'gRPC Echo, no header', grpc: true, status: 200 },
        // Envoy's local reply for gRPC: HTTP 200 with grpc-status 7 PERMISSION_DENIED.
        {
          name: 'gRPC Echo, x-grpc-block: yes',
          grpc: true,
          status: 1007,
          headers: [['x-grpc-block', 'yes']],
        },
      ],
      client: [{ name: 'gRPC Echo from gm-client', grpc: true, status: 200 }],
    },
  },
  {
    name: 'TCP through the waypoint: ALLOW with HTTP fields never matches',
    yaml: policy('gm-tcp-allow-http', 'ALLOW', [op('paths: ["/anything"]')]),
    cases: { v1: [ok('HTTP /anything still allowed', '/anything')] },
    tcp: { v1: false, consumer: false },
  },
  {
    name: 'TCP through the waypoint: DENY with HTTP fields widens',
    yaml: policy('gm-tcp-deny-http', 'DENY', [op('methods: [DELETE]')]),
    cases: { v1: [ok('HTTP GET passes the DENY', '/')] },
    tcp: { v1: false, client: false },
  },
  {
    name: 'TCP through the waypoint: L4 fields apply',
    yaml: policy('gm-tcp-ns', 'ALLOW', [`{from: [{source: {namespaces: ["${CONSUMER_NS}"]}}]}`]),
    cases: { v1: [denied('HTTP from the mesh namespace', '/')] },
    tcp: { consumer: true, v1: false, client: false },
  },
  {
    name: 'TCP through the waypoint: no policy',
    yaml: '',
    cases: {},
    tcp: { v1: true, client: true, consumer: true },
  },
];
