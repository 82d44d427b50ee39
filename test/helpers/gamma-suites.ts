/**
 * The Gateway API mesh conformance tests of v1.6.1 (+ the one gRPC test added on main), as data:
 * each suite's YAML and its cases, from docs/istio/gamma-conformance.md §4 (section numbers in
 * the names' comments). Route YAML is written compactly but carries the same fields upstream's
 * does. Stricter than upstream where §5 says so: the backend's URL after a rewrite, Location.
 */
import type { MeshCase } from './gamma-client.js';
import { MESH_NS } from './gamma-manifests.js';

export interface Suite {
  name: string;
  yaml?: string;
  /** Cases per client pod: `v1` = echo-v1 in the mesh namespace (upstream's default). */
  cases: Partial<Record<'v1' | 'v2' | 'consumer', MeshCase[]>>;
  /** Why it is skipped, when it is. */
  skip?: string;
}

export interface SuiteContext {
  /** echo-v2's pod IP. */
  v2IP: string;
}

const echo80 = `[{group: "", kind: Service, name: echo, port: 80}]`;
const ref = (name: string, port: number, extra = '') =>
  `{name: ${name}, port: ${port}${extra ? `, ${extra}` : ''}}`;

export function route(name: string, parents: string, rules: string[], kind = 'HTTPRoute'): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: {name: ${name}, namespace: ${MESH_NS}}
spec:
  parentRefs: ${parents}
  rules:
${rules.map((r) => `  - ${r}`).join('\n')}
`;
}

const prefix = (p: string) => `{path: {type: PathPrefix, value: ${p}}}`;
const redirect = (match: string, r: string) =>
  `{matches: [${prefix(match)}], filters: [{type: RequestRedirect, requestRedirect: {${r}}}]}`;
/** Accepted Locations: with and without the scheme's default port. */
const loc = (scheme: 'http' | 'https', host: string, path: string, port?: number) =>
  port
    ? [`${scheme}://${host}:${port}${path}`]
    : [`${scheme}://${host}${path}`, `${scheme}://${host}:${scheme === 'http' ? 80 : 443}${path}`];
const v1 = (name: string, path: string, extra: Partial<MeshCase> = {}): MeshCase => ({
  name,
  path,
  backend: 'echo-v1',
  ...extra,
});
const v2 = (name: string, path: string, extra: Partial<MeshCase> = {}): MeshCase => ({
  name,
  path,
  backend: 'echo-v2',
  ...extra,
});

function headerModifier(name: string, backendLevel: boolean): Suite {
  const f = (m: string) => `{type: RequestHeaderModifier, requestHeaderModifier: {${m}}}`;
  const rule = (path: string, m: string) =>
    backendLevel
      ? `{matches: [${prefix(path)}], backendRefs: [${ref('echo-v1', 8080, `filters: [${f(m)}]`)}]}`
      : `{matches: [${prefix(path)}], filters: [${f(m)}], backendRefs: [${ref('echo-v1', 8080)}]}`;
  const yaml = route('mesh-request-header-modifier', echo80, [
    rule('/set', 'set: [{name: X-Header-Set, value: set-overwrites-values}]'),
    rule('/add', 'add: [{name: X-Header-Add, value: add-appends-values}]'),
    rule('/remove', 'remove: [X-Header-Remove]'),
    rule(
      '/multiple',
      'set: [{name: X-Header-Set-1, value: header-set-1}, {name: X-Header-Set-2, value: header-set-2}], ' +
        'add: [{name: X-Header-Add-1, value: header-add-1}, {name: X-Header-Add-2, value: header-add-2}, {name: X-Header-Add-3, value: header-add-3}], ' +
        'remove: [X-Header-Remove-1, X-Header-Remove-2]',
    ),
    rule(
      '/case-insensitivity',
      'set: [{name: X-Header-Set, value: header-set}], add: [{name: X-Header-Add, value: header-add}], remove: [X-Header-Remove]',
    ),
  ]);
  const other: [string, string] = ['Some-Other-Header', 'val'];
  return {
    name,
    yaml,
    cases: {
      v1: [
        v1('set', '/set', {
          headers: [other],
          reqHeaders: { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' },
        }),
        v1('set overwrites', '/set', {
          headers: [other, ['X-Header-Set', 'some-other-value']],
          reqHeaders: { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' },
        }),
        v1('add', '/add', {
          headers: [other],
          reqHeaders: { 'Some-Other-Header': 'val', 'X-Header-Add': 'add-appends-values' },
        }),
        v1('add appends', '/add', {
          headers: [other, ['X-Header-Add', 'some-other-value']],
          reqHeaders: { 'X-Header-Add': 'some-other-value,add-appends-values' },
        }),
        v1('remove', '/remove', {
          headers: [['X-Header-Remove', 'val']],
          absentReq: ['X-Header-Remove'],
        }),
        v1('multiple', '/multiple', {
          headers: [
            ['X-Header-Set-2', 'set-val-2'],
            ['X-Header-Add-2', 'add-val-2'],
            ['X-Header-Remove-2', 'remove-val-2'],
            ['Another-Header', 'another-header-val'],
          ],
          reqHeaders: {
            'X-Header-Set-1': 'header-set-1',
            'X-Header-Set-2': 'header-set-2',
            'X-Header-Add-1': 'header-add-1',
            'X-Header-Add-2': 'add-val-2,header-add-2',
            'X-Header-Add-3': 'header-add-3',
            'Another-Header': 'another-header-val',
          },
          absentReq: ['X-Header-Remove-1', 'X-Header-Remove-2'],
        }),
        v1('case-insensitivity', '/case-insensitivity', {
          headers: [
            ['x-header-set', 'original-val-set'],
            ['x-header-add', 'original-val-add'],
            ['x-header-remove', 'original-val-remove'],
            ['Another-Header', 'another-header-val'],
          ],
          reqHeaders: {
            'X-Header-Set': 'header-set',
            'X-Header-Add': 'original-val-add,header-add',
            'Another-Header': 'another-header-val',
          },
          absentReq: ['X-Header-Remove'],
        }),
      ],
    },
  };
}

export function httpSuites(ctx: SuiteContext): Suite[] {
  const setHeader = (v: string) =>
    `{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-Header-Set, value: ${v}}]}}`;
  const frontend = route('mesh-split-v1', `[{group: "", kind: Service, name: echo-v2}]`, [
    `{filters: [${setHeader('set')}], backendRefs: [${ref('echo-v2', 80)}]}`,
  ]);
  const rewriteHeaders =
    '{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Header-Set, value: set-overwrites-values}], ' +
    'add: [{name: X-Header-Add, value: header-val-1}, {name: X-Header-Add-Append, value: header-val-2}], remove: [X-Header-Remove]}}';
  const rewrite = (match: string, path: string, more = '') =>
    `{matches: [${prefix(match)}], filters: [{type: URLRewrite, urlRewrite: {path: {${path}}}}${more}], backendRefs: [${ref('echo-v1', 80)}]}`;
  const rewriteSent: [string, string][] = [
    ['X-Header-Remove', 'remove-val'],
    ['X-Header-Add-Append', 'append-val-1'],
    ['X-Header-Set', 'set-val'],
  ];
  const rewriteSeen = {
    reqHeaders: {
      'X-Header-Add': 'header-val-1',
      'X-Header-Add-Append': 'append-val-1,header-val-2',
      'X-Header-Set': 'set-overwrites-values',
    },
    absentReq: ['X-Header-Remove'],
  };
  const q = (v: string) => `{type: Exact, name: animal, value: ${v}}`;
  const hdr = (n: string, v: string) => `{name: ${n}, value: ${v}}`;
  const query = (backend: string, matches: string) =>
    `{matches: [${matches}], backendRefs: [${ref(backend, 8080)}]}`;
  return [
    { name: 'MeshBasic', cases: { v1: [{ name: 'GET http://echo', path: '' }] } }, // §4.1
    {
      name: 'MeshHTTPRouteSimpleSameNamespace', // §4.2
      yaml: route('gateway-conformance-mesh-test', echo80, [
        `{backendRefs: [${ref('echo-v1', 8080)}]}`,
      ]),
      cases: { v1: [v1('GET /', '/')] },
    },
    {
      name: 'MeshHTTPRouteMatching', // §4.3
      yaml: route('mesh-matching', echo80, [
        `{matches: [${prefix('/')}, {headers: [${hdr('version', 'one')}]}], backendRefs: [${ref('echo-v1', 8080)}]}`,
        `{matches: [${prefix('/v2')}, {headers: [${hdr('version', 'two')}]}], backendRefs: [${ref('echo-v2', 8080)}]}`,
      ]),
      cases: {
        v1: [
          v1('/', '/'),
          v1('/example', '/example'),
          v1('/ version: one', '/', { headers: [['Version', 'one']] }),
          v2('/v2', '/v2'),
          v2('/v2/example', '/v2/example'),
          v2('/ version: two', '/', { headers: [['Version', 'two']] }),
          v2('/v2/', '/v2/'),
          v1('/v2example', '/v2example'),
          v1('/foo/v2/example', '/foo/v2/example'),
        ],
      },
    },
    {
      name: 'MeshHTTPRouteQueryParamMatching', // §4.4
      yaml: route('mesh-query-param-matching', echo80, [
        query('echo-v1', `{queryParams: [${q('whale')}]}`),
        query('echo-v2', `{queryParams: [${q('dolphin')}]}`),
        query('echo-v1', `{path: {type: PathPrefix, value: /path1}, queryParams: [${q('whale')}]}`),
        query('echo-v2', `{headers: [${hdr('version', 'one')}], queryParams: [${q('whale')}]}`),
        query(
          'echo-v1',
          `{path: {type: PathPrefix, value: /path3}, queryParams: [${q('shark')}]}, ` +
            `{path: {type: PathPrefix, value: /path4}, headers: [${hdr('version', 'three')}], queryParams: [${q('kraken')}]}`,
        ),
        query('echo-v1', prefix('/path5')),
        query('echo-v2', `{queryParams: [${q('hydra')}]}`),
      ]),
      cases: {
        v1: [
          v1('whale', '/?animal=whale'),
          v2('dolphin', '/?animal=dolphin'),
          v1('whale + other', '/?animal=whale&otherparam=irrelevant'),
          v2('dolphin + color', '/?animal=dolphin&color=yellow'),
          { name: 'color=blue 404', path: '/?color=blue', status: 404 },
          { name: 'dog 404', path: '/?animal=dog', status: 404 },
          { name: 'whaledolphin 404', path: '/?animal=whaledolphin', status: 404 },
          { name: '/ 404', path: '/', status: 404 },
          v1('/path1 whale', '/path1?animal=whale'),
          v2('whale + version one', '/?animal=whale', { headers: [['version', 'one']] }),
          v1('/path3 shark', '/path3?animal=shark'),
          v1('/path4 kraken three', '/path4?animal=kraken', { headers: [['version', 'three']] }),
          { name: 'shark 404', path: '/?animal=shark', status: 404 },
          { name: '/path4 kraken 404', path: '/path4?animal=kraken', status: 404 },
          v1('/path5 hydra', '/path5?animal=hydra'),
        ],
      },
    },
    {
      name: 'MeshHTTPRouteNamedRule', // §4.5
      yaml: route('mesh-http-named-rules', echo80, [
        `{name: named-rule, matches: [${prefix('/named')}], backendRefs: [${ref('echo-v1', 8080)}]}`,
        `{matches: [${prefix('/unnamed')}], backendRefs: [${ref('echo-v2', 8080)}]}`,
      ]),
      cases: { v1: [v1('/named', '/named'), v2('/unnamed', '/unnamed')] },
    },
    ...(
      [
        ['MeshHTTPRoute303Redirect', 'mesh-303-redirect', '/redirect', 303],
        ['MeshHTTPRoute307Redirect', 'mesh-307-redirect', '/temporary', 307],
        ['MeshHTTPRoute308Redirect', 'mesh-308-redirect', '/permanent', 308],
      ] as const
    ).map(([name, r, path, code]) => ({
      name, // §4.6–4.8
      yaml: route(r, echo80, [redirect(path, `statusCode: ${code}`)]),
      cases: { v1: [{ name: path, path, status: code, location: loc('http', 'echo', path) }] },
    })),
    {
      name: 'MeshHTTPRouteRedirectHostAndStatus', // §4.9
      yaml: route('mesh-redirect-host-and-status', echo80, [
        redirect('/hostname-redirect', 'hostname: example.org'),
        redirect('/host-and-status', 'hostname: example.org, statusCode: 301'),
      ]),
      cases: {
        v1: [
          {
            name: '/hostname-redirect',
            path: '/hostname-redirect',
            status: 302,
            location: loc('http', 'example.org', '/hostname-redirect'),
          },
          {
            name: '/host-and-status',
            path: '/host-and-status',
            status: 301,
            location: loc('http', 'example.org', '/host-and-status'),
          },
        ],
      },
    },
    {
      name: 'MeshHTTPRouteRedirectPath', // §4.10
      yaml: route('mesh-redirect-path', echo80, [
        redirect(
          '/original-prefix',
          'path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}',
        ),
        redirect('/full', 'path: {type: ReplaceFullPath, replaceFullPath: /full-path-replacement}'),
        redirect(
          '/path-and-host',
          'hostname: example.org, path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}',
        ),
        redirect(
          '/path-and-status',
          'path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}, statusCode: 301',
        ),
        redirect(
          '/full-path-and-host',
          'hostname: example.org, path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}',
        ),
        redirect(
          '/full-path-and-status',
          'path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}, statusCode: 301',
        ),
      ]),
      cases: {
        v1: [
          ['/original-prefix/lemon', 302, 'echo', '/replacement-prefix/lemon'],
          ['/full/path/original', 302, 'echo', '/full-path-replacement'],
          ['/path-and-host', 302, 'example.org', '/replacement-prefix'],
          ['/path-and-status', 301, 'echo', '/replacement-prefix'],
          ['/full-path-and-host', 302, 'example.org', '/replacement-full'],
          ['/full-path-and-status', 301, 'echo', '/replacement-full'],
        ].map(([path, status, host, to]) => ({
          name: String(path),
          path: String(path),
          status: Number(status),
          location: loc('http', String(host), String(to)),
        })),
      },
    },
    {
      name: 'MeshHTTPRouteRedirectPort', // §4.11
      yaml: route('mesh-redirect-port', echo80, [
        redirect('/port', 'port: 8083'),
        redirect('/port-and-host', 'hostname: example.org, port: 8083'),
        redirect('/port-and-status', 'port: 8083, statusCode: 301'),
        redirect('/port-and-host-and-status', 'port: 8083, hostname: example.org, statusCode: 302'),
      ]),
      cases: {
        v1: [
          ['/port', 302, 'echo'],
          ['/port-and-host', 302, 'example.org'],
          ['/port-and-status', 301, 'echo'],
          ['/port-and-host-and-status', 302, 'example.org'],
        ].map(([path, status, host]) => ({
          name: String(path),
          path: String(path),
          status: Number(status),
          location: loc('http', String(host), String(path), 8083),
        })),
      },
    },
    {
      name: 'MeshHTTPRouteSchemeRedirect', // §4.12
      yaml: route('mesh-redirect-scheme', echo80, [
        redirect('/scheme', 'scheme: https'),
        redirect('/scheme-and-host', 'hostname: example.org, scheme: https'),
        redirect('/scheme-and-status', 'scheme: https, statusCode: 301'),
        redirect(
          '/scheme-and-host-and-status',
          'scheme: https, statusCode: 302, hostname: example.org',
        ),
      ]),
      cases: {
        v1: [
          ['/scheme', 302, 'echo'],
          ['/scheme-and-host', 302, 'example.org'],
          ['/scheme-and-status', 301, 'echo'],
          ['/scheme-and-host-and-status', 302, 'example.org'],
        ].map(([path, status, host]) => ({
          name: String(path),
          path: String(path),
          status: Number(status),
          location: loc('https', String(host), String(path)),
        })),
      },
    },
    headerModifier('MeshHTTPRouteRequestHeaderModifier', false), // §4.13
    headerModifier('MeshHTTPRouteBackendRequestHeaderModifier', true), // §4.14
    {
      name: 'MeshHTTPRouteRewritePath', // §4.15
      yaml: route('mesh-rewrite-path', echo80, [
        rewrite('/prefix/one', 'type: ReplacePrefixMatch, replacePrefixMatch: /one'),
        rewrite('/strip-prefix', 'type: ReplacePrefixMatch, replacePrefixMatch: /'),
        rewrite('/full/one', 'type: ReplaceFullPath, replaceFullPath: /one'),
        rewrite(
          '/full/rewrite-path-and-modify-headers',
          'type: ReplaceFullPath, replaceFullPath: /test',
          `, ${rewriteHeaders}`,
        ),
        rewrite(
          '/prefix/rewrite-path-and-modify-headers',
          'type: ReplacePrefixMatch, replacePrefixMatch: /prefix',
          `, ${rewriteHeaders}`,
        ),
      ]),
      cases: {
        v1: [
          v1('/prefix/one/two', '/prefix/one/two', { url: '/one/two' }),
          v1('/strip-prefix/three', '/strip-prefix/three', { url: '/three' }),
          v1('/strip-prefix', '/strip-prefix', { url: '/' }),
          v1('/full/one/two', '/full/one/two', { url: '/one' }),
          v1(
            '/full/rewrite-path-and-modify-headers/test',
            '/full/rewrite-path-and-modify-headers/test',
            {
              url: '/test',
              headers: rewriteSent,
              ...rewriteSeen,
            },
          ),
          v1(
            '/prefix/rewrite-path-and-modify-headers/one',
            '/prefix/rewrite-path-and-modify-headers/one',
            {
              url: '/prefix/one',
              headers: rewriteSent,
              ...rewriteSeen,
            },
          ),
        ],
      },
    },
    {
      name: 'MeshConsumerRoute', // §4.18
      skip:
        'consumer routes are not supported in ambient mode (Istio ambient drops MeshConsumerRoute; ' +
        'ambit reports the route not Accepted: src/controlplane/l7/routes.ts)',
      cases: {},
    },
    {
      name: 'MeshFrontend', // §4.19
      yaml: frontend,
      cases: {
        v1: [
          v2('send to service', '/', { host: 'echo-v2', resHeaders: { 'X-Header-Set': 'set' } }),
          v2('send to pod IP', '/', { host: `${ctx.v2IP}:8080`, absentRes: ['X-Header-Set'] }),
        ],
      },
    },
    {
      name: 'MeshFrontendHostname', // §4.20
      yaml: frontend,
      cases: {
        v1: [
          v2('echo-v2 with Host echo-v1', '/', {
            host: 'echo-v2',
            headers: [['Host', 'echo-v1']],
            resHeaders: { 'X-Header-Set': 'set' },
          }),
          v1('echo-v1 with Host echo-v2', '/', {
            host: 'echo-v1',
            headers: [['Host', 'echo-v2']],
            absentRes: ['X-Header-Set'],
          }),
        ],
      },
    },
    {
      name: 'MeshPorts', // §4.21
      yaml:
        route('mesh-split-v1', `[{group: "", kind: Service, name: echo-v1, port: 80}]`, [
          `{filters: [${setHeader('v1')}], backendRefs: [${ref('echo-v1', 80)}]}`,
        ]) +
        '---\n' +
        route('mesh-split-v2', `[{group: "", kind: Service, name: echo-v2}]`, [
          `{filters: [${setHeader('v2')}], backendRefs: [${ref('echo-v2', 80)}]}`,
        ]),
      cases: {
        v1: [
          v1('echo-v1:80', '/', { host: 'echo-v1', resHeaders: { 'X-Header-Set': 'v1' } }),
          v1('echo-v1:8080', '/', { host: 'echo-v1:8080', absentRes: ['X-Header-Set'] }),
          v2('echo-v2:80', '/', { host: 'echo-v2', resHeaders: { 'X-Header-Set': 'v2' } }),
          v2('echo-v2:8080', '/', { host: 'echo-v2:8080', resHeaders: { 'X-Header-Set': 'v2' } }),
        ],
      },
    },
    {
      name: 'MeshTrafficSplit', // §4.22
      yaml: route('mesh-split', `[{group: "", kind: Service, name: echo}]`, [
        `{matches: [{path: {type: Exact, value: /v1}}], backendRefs: [${ref('echo-v1', 80)}]}`,
        `{matches: [{path: {type: Exact, value: /v2}}], backendRefs: [${ref('echo-v2', 80)}]}`,
      ]),
      cases: {
        v1: [
          v1('/v1', '/v1'),
          v2('/v2', '/v2'),
          { name: '/ 404 (attached, unmatched)', path: '/', status: 404 },
        ],
      },
    },
  ];
}

const echo7070 = `[{group: "", kind: Service, name: echo, port: 7070}]`;

/** §4.17's route (the weights are checked by the test over 500-call batches). */
export const grpcWeightRoute = route(
  'mesh-grpc-weighted-backends',
  echo7070,
  [
    `{backendRefs: [${ref('echo-v1', 7070, 'weight: 70')}, ${ref('echo-v2', 7070, 'weight: 30')}, ${ref('echo-v3', 7070, 'weight: 0')}]}`,
  ],
  'GRPCRoute',
);

/** §4.16's route. */
export const httpWeightRoute = route('mesh-weighted-backends', echo80, [
  `{backendRefs: [${ref('echo-v1', 8080, 'weight: 70')}, ${ref('echo-v2', 8080, 'weight: 30')}]}`,
]);

export function grpcSuites(): Suite[] {
  const f = (m: string) => `{type: RequestHeaderModifier, requestHeaderModifier: {${m}}}`;
  const rule = (tc: string, m: string, backend: string) =>
    `{matches: [{headers: [{name: x-test-case, value: ${tc}}]}], filters: [${f(m)}], backendRefs: [${ref(backend, 7070)}]}`;
  const g = (name: string, backend: string, extra: Partial<MeshCase>): MeshCase => ({
    name,
    grpc: true,
    backend,
    ...extra,
  });
  return [
    {
      name: 'gRPC Echo through the waypoint, no route (mesh default)',
      cases: { v1: [{ name: 'grpc://echo:7070', grpc: true, reqHeaders: {} }] },
    },
    {
      name: 'MeshGRPCRouteRequestHeaderModifier', // §4.23
      yaml: route(
        'grpc-request-header-modifier',
        echo7070,
        [
          rule('set', 'set: [{name: x-header-set, value: set-overwrites-values}]', 'echo-v1'),
          rule('add', 'add: [{name: x-header-add, value: add-appends-values}]', 'echo-v1'),
          rule('remove', 'remove: [x-header-remove]', 'echo-v1'),
          rule(
            'multi',
            'set: [{name: x-header-set-1, value: header-set-1}, {name: x-header-set-2, value: header-set-2}], ' +
              'add: [{name: x-header-add-1, value: header-add-1}, {name: x-header-add-2, value: header-add-2}], ' +
              'remove: [x-header-remove-1, x-header-remove-2]',
            'echo-v2',
          ),
        ],
        'GRPCRoute',
      ),
      cases: {
        v1: [
          g('set', 'echo-v1', {
            headers: [
              ['x-test-case', 'set'],
              ['x-header-set', 'this-value-should-be-overwritten'],
              ['some-other-header', 'this-header-should-be-set'],
            ],
            reqHeaders: {
              'x-test-case': 'set',
              'x-header-set': 'set-overwrites-values',
              'some-other-header': 'this-header-should-be-set',
            },
          }),
          g('add', 'echo-v1', {
            headers: [
              ['x-test-case', 'add'],
              ['x-header-add', 'this-value-should-be-appended'],
            ],
            reqHeaders: {
              'x-test-case': 'add',
              'x-header-add': 'this-value-should-be-appended,add-appends-values',
            },
          }),
          g('remove', 'echo-v1', {
            headers: [
              ['x-test-case', 'remove'],
              ['x-header-remove', 'this-header-should-be-removed'],
            ],
            reqHeaders: { 'x-test-case': 'remove' },
            absentReq: ['x-header-remove'],
          }),
        ],
        v2: [
          g('multi', 'echo-v2', {
            headers: [
              ['x-test-case', 'multi'],
              ['x-header-set-2', 'set-header-2'],
              ['x-header-add-2', 'add-header-2'],
              ['x-header-remove-2', 'remove-header-2'],
            ],
            reqHeaders: {
              'x-test-case': 'multi',
              'x-header-set-1': 'header-set-1',
              'x-header-set-2': 'header-set-2',
              'x-header-add-1': 'header-add-1',
              'x-header-add-2': 'add-header-2,header-add-2',
            },
            absentReq: ['x-header-remove-1', 'x-header-remove-2'],
          }),
        ],
      },
    },
  ];
}
