/**
 * Fuzzing AuthorizationPolicy → ztunnel Authorization (issue #10): random policies over the L4
 * fields (principals, namespaces, serviceAccounts, ipBlocks, ports, the five L4 `when` keys and
 * their `not` forms), mixed with HTTP-only attributes and invalid values, translated by the
 * control plane and then judged by ztunnel's RBAC for random connections (mTLS and plaintext).
 * The verdict must equal an independent oracle written from the AuthorizationPolicy semantics
 * (reference docs/istio/ztunnel.md §5.1 as the translation's header states them): entries of
 * `from`/`to` OR, fields of one entry AND, values of one field OR, `not` fields none-of, `when`
 * conditions AND; an ALLOW rule with an HTTP attribute is omitted; in a DENY rule HTTP
 * attributes are dropped and an entry made only of them never matches; invalid values reject
 * the policy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { convertPolicy } from '../../src/controlplane/model/authorization.js';
import {
  defaultModelOptions,
  type AuthorizationPolicy,
  type PolicyRule,
  type StringListSource,
} from '../../src/controlplane/model/types.js';
import { assertRbac, type RbacConnection } from '../../src/ztunnel/rbac.js';
import { workload } from '../../src/ztunnel/testing.js';
import { fuzzParams } from '../helpers/fuzz.js';

const TD = 'cluster.local';

// ---- the oracle ------------------------------------------------------------------------

class Invalid extends Error {}

/** Istio string matching: `*` any non-empty, `x*` prefix, `*x` suffix, else exact. */
function strMatch(pattern: string, value: string | undefined): boolean {
  if (pattern.length > 2 && pattern.slice(1, -1).includes('*')) throw new Invalid(pattern);
  if (value === undefined || value === '') return false;
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return value === pattern;
}
const noSpiffe = (s: string) => s.replace(/^spiffe:\/\//, '');

function ipNum(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
function inCidr(cidr: string, ip: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(cidr);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255)) throw new Invalid(cidr);
  const len = m[5] === undefined ? 32 : Number(m[5]);
  if (len > 32) throw new Invalid(cidr);
  const base = ipNum(cidr.split('/')[0]!);
  const size = 2 ** (32 - len);
  return Math.floor(base / size) === Math.floor(ipNum(ip) / size);
}
function port(p: string | number): number {
  const s = String(p);
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new Invalid(s);
  return Number(s);
}
function saPrincipal(v: string, policyNs: string): string {
  const parts = v.split('/');
  if (parts.length > 2 || parts.some((x) => x === '')) throw new Invalid(v);
  return parts.length === 2
    ? `${TD}/ns/${parts[0]}/sa/${parts[1]}`
    : `${TD}/ns/${policyNs}/sa/${parts[0]}`;
}

interface Conn {
  identity?: string;
  srcIp: string;
  dstIp: string;
  dstPort: number;
}

/** One field: positive values OR, negative values none-of; absent or empty = no constraint. */
function field<T>(pos: T[] | undefined, neg: T[] | undefined, test: (v: T) => boolean): boolean {
  // Evaluate every value (so an invalid one is found even after a match).
  const p = (pos ?? []).map(test);
  const n = (neg ?? []).map(test);
  return (p.length === 0 || p.some(Boolean)) && !n.some(Boolean);
}

const HTTP_SOURCE = [
  'requestPrincipals',
  'notRequestPrincipals',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
];
const HTTP_OPERATION = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'];
const hasAny = (o: object, keys: string[]) =>
  keys.some((k) => ((o as Record<string, unknown[] | undefined>)[k] ?? []).length > 0);

/** true/false at L4, or 'http-only' when the entry had nothing but HTTP attributes. */
function sourceOk(s: StringListSource, c: Conn, policyNs: string): boolean | 'http-only' {
  const id = c.identity === undefined ? undefined : noSpiffe(c.identity);
  const ns = id ? /\/ns\/([^/]+)\//.exec(id)?.[1] : undefined;
  if ((s.principals ?? []).length && (s.serviceAccounts ?? []).length) throw new Invalid('both');
  const pr = (v: string) => strMatch(noSpiffe(v), id);
  const sa = (v: string) => saPrincipal(v, policyNs) === id;
  // Every field is evaluated (no short-circuit), so an invalid value anywhere is found.
  const ok = [
    field(s.principals, s.notPrincipals, pr),
    field(s.serviceAccounts, s.notServiceAccounts, sa),
    field(s.namespaces, s.notNamespaces, (v) => strMatch(v, ns)),
    field(s.ipBlocks, s.notIpBlocks, (v) => inCidr(v, c.srcIp)),
    field(s.remoteIpBlocks, s.notRemoteIpBlocks, (v) => inCidr(v, c.srcIp) || true),
  ].every(Boolean);
  const l4 = Object.keys(s).some((k) => !HTTP_SOURCE.includes(k) && (s as never)[k]?.['length']);
  return !l4 && hasAny(s, HTTP_SOURCE) ? 'http-only' : ok;
}

function ruleOk(r: PolicyRule, c: Conn, action: string, policyNs: string): boolean {
  const entries: (boolean | 'http-only')[][] = [];
  let http = false;
  const from = (r.from ?? []).map((e) => {
    if (!e.source || Object.keys(e.source).length === 0) throw new Invalid('empty source');
    http ||= hasAny(e.source, HTTP_SOURCE);
    return sourceOk(e.source, c, policyNs);
  });
  const to = (r.to ?? []).map((e) => {
    const o = e.operation;
    if (!o || Object.keys(o).length === 0) throw new Invalid('empty operation');
    http ||= hasAny(o, HTTP_OPERATION);
    const ok = field(o.ports, o.notPorts, (p) => port(p) === c.dstPort);
    const l4 = (o.ports ?? []).length + (o.notPorts ?? []).length > 0;
    return !l4 && hasAny(o, HTTP_OPERATION) ? ('http-only' as const) : ok;
  });
  const when = (r.when ?? []).map((w) => {
    if (!w.key || (!(w.values ?? []).length && !(w.notValues ?? []).length))
      throw new Invalid('when');
    const t: Record<string, (v: string) => boolean> = {
      'source.ip': (v) => inCidr(v, c.srcIp),
      'destination.ip': (v) => inCidr(v, c.dstIp),
      'destination.port': (v) => port(v) === c.dstPort,
      'source.principal': (v) =>
        strMatch(noSpiffe(v), c.identity === undefined ? undefined : noSpiffe(c.identity)),
      'source.namespace': (v) =>
        strMatch(v, c.identity ? /\/ns\/([^/]+)\//.exec(c.identity)?.[1] : undefined),
    };
    const f = t[w.key];
    if (!f) {
      http = true;
      return 'http-only' as const;
    }
    return field(w.values, w.notValues, f);
  });
  if (http && action === 'ALLOW') return false; // the rule is omitted
  if (from.length) entries.push(from);
  if (to.length) entries.push(to);
  for (const w of when) entries.push([w]);
  // An entry made only of HTTP attributes is an empty match at L4: it never matches.
  return entries.every((list) => list.some((v) => v === true));
}

type Verdict = 'allowed' | 'denied' | 'rejected';

function oracle(p: AuthorizationPolicy, c: Conn): Verdict {
  const action = p.spec!.action ?? 'ALLOW';
  try {
    const hits = (p.spec!.rules ?? []).map((r) => ruleOk(r, c, action, 'default'));
    const hit = hits.some(Boolean);
    return action === 'DENY' ? (hit ? 'denied' : 'allowed') : hit ? 'allowed' : 'denied';
  } catch (err) {
    if (err instanceof Invalid) return 'rejected';
    throw err;
  }
}

// ---- the generators --------------------------------------------------------------------

const list = <T>(a: fc.Arbitrary<T>) =>
  fc.option(fc.array(a, { minLength: 1, maxLength: 2 }), { nil: undefined });
/** Mostly valid values, now and then an invalid one (which must reject the policy). */
const some = <T>(valid: T[], invalid: T[]) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constantFrom(...invalid) },
  );
const principal = some(
  [
    `${TD}/ns/default/sa/sleep`,
    `spiffe://${TD}/ns/foo/sa/curl`,
    '*',
    `${TD}/ns/default/*`,
    '*/sa/curl',
  ],
  [`${TD}/ns/b*r/sa/x`],
);
const namespace = some(['default', 'foo', 'f*', '*o', '*'], ['b*r']);
const sa = some(['sleep', 'foo/curl', 'default/curl'], ['a/b/c', '/x']);
const cidr = some(['10.0.0.0/24', '10.0.0.1', '10.0.1.0/24', '0.0.0.0/0'], ['10.0.0.0/33', 'x']);
const portV = some<string | number>([80, '8080', 9000], [0, '70000', 'http']);
const httpV = fc.constantFrom('GET', '/p', 'x.example');

const source: fc.Arbitrary<StringListSource> = fc.record(
  {
    principals: list(principal),
    notPrincipals: list(principal),
    namespaces: list(namespace),
    notNamespaces: list(namespace),
    serviceAccounts: fc.option(fc.array(sa, { minLength: 1, maxLength: 2 }), {
      nil: undefined,
      freq: 1,
    }),
    notServiceAccounts: list(sa),
    ipBlocks: list(cidr),
    notIpBlocks: list(cidr),
    requestPrincipals: list(httpV),
    remoteIpBlocks: list(cidr),
  },
  { requiredKeys: [] },
);
const operation = fc.record(
  { ports: list(portV), notPorts: list(portV), methods: list(httpV), paths: list(httpV) },
  { requiredKeys: [] },
);
const whenValues: Record<string, fc.Arbitrary<string>> = {
  'source.ip': cidr,
  'destination.ip': cidr,
  'source.namespace': namespace,
  'source.principal': principal,
  'destination.port': portV.map(String),
  'request.headers[x-a]': httpV,
};
const when = fc.constantFrom(...Object.keys(whenValues)).chain((key) =>
  fc.record({
    key: fc.constant(key),
    values: list(whenValues[key]!),
    notValues: list(whenValues[key]!),
  }),
);
/** Strips `undefined` keys, as a policy read from YAML has none. */
const clean = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const rule: fc.Arbitrary<PolicyRule> = fc
  .record(
    {
      from: fc.array(
        source.map((s) => ({ source: clean(s) })),
        { minLength: 1, maxLength: 2 },
      ),
      to: fc.array(
        operation.map((o) => ({ operation: clean(o) })),
        { minLength: 1, maxLength: 2 },
      ),
      when: fc.array(when.map(clean), { minLength: 1, maxLength: 2 }),
    },
    { requiredKeys: [] },
  )
  .map(clean);
const policyArb: fc.Arbitrary<AuthorizationPolicy> = fc
  .record({
    action: fc.constantFrom('ALLOW', 'DENY', undefined),
    rules: fc.array(rule, { maxLength: 3 }),
    selector: fc.boolean(),
  })
  .map(({ action, rules, selector }) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'p', namespace: 'default', uid: 'u' },
    spec: clean({ action, rules, selector: selector ? { matchLabels: { app: 'x' } } : undefined }),
  }));

const conn: fc.Arbitrary<Conn> = fc.record({
  identity: fc.constantFrom(
    `spiffe://${TD}/ns/default/sa/sleep`,
    `spiffe://${TD}/ns/foo/sa/curl`,
    `spiffe://${TD}/ns/bar/sa/default`,
    undefined,
  ),
  srcIp: fc.constantFrom('10.0.0.1', '10.0.0.7', '10.0.1.5', '192.168.1.1'),
  dstIp: fc.constantFrom('10.0.0.1', '10.0.1.9'),
  dstPort: fc.constantFrom(80, 8080, 9000),
});

// ---- the property ----------------------------------------------------------------------

void test(
  'fuzz: translated policies judge connections as the oracle does',
  { timeout: 120_000 },
  () => {
    const dst = { ...workload('dst', '10.0.0.1', 'worker'), authorizationPolicies: ['default/p'] };
    const seen = { allowed: 0, denied: 0, rejected: 0 };
    fc.assert(
      fc.property(policyArb, fc.array(conn, { minLength: 1, maxLength: 6 }), (p, conns) => {
        const out = convertPolicy(p, defaultModelOptions);
        for (const c of conns) {
          const want = oracle(p, c);
          seen[want]++;
          const why = `policy ${JSON.stringify(p.spec)} conn ${JSON.stringify(c)}: ${out.report.message}`;
          if (want === 'rejected') {
            assert.equal(out.authorization, undefined, `not rejected: ${why}`);
            assert.equal(out.report.reason, 'InvalidValue', why);
            continue;
          }
          assert.ok(out.authorization, `rejected: ${why}`);
          const a = out.authorization;
          const rc: RbacConnection = {
            srcIp: c.srcIp,
            dstIp: c.dstIp,
            dstPort: c.dstPort,
            srcIdentity: c.identity,
          };
          const got = assertRbac({ allPolicies: () => [a], policy: () => a }, dst, rc).allowed;
          assert.equal(got ? 'allowed' : 'denied', want, why);
        }
      }),
      fuzzParams(400),
    );
    // The generators reach every outcome (a fuzz that only ever rejects proves nothing).
    for (const [k, n] of Object.entries(seen)) assert.ok(n > 20, `only ${n} ${k}`);
  },
);
