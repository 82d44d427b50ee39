/**
 * AuthorizationPolicy (security.istio.io/v1) → istio.security.Authorization for ztunnel, with
 * istiod's ambient semantics (pilot/.../ambient/authorization.go, docs/istio/ztunnel.md §5.1):
 * - scope: a selector gives WORKLOAD_SELECTOR; none gives NAMESPACE, or GLOBAL in the root
 *   namespace. Policies with targetRef(s) are for waypoints and are not sent.
 * - CUSTOM/AUDIT are not enforced by ztunnel: not sent, reported.
 * - HTTP-only attributes: in an ALLOW policy the whole rule is omitted (it can never match at
 *   L4, so the policy is more restrictive); in a DENY policy the rule is kept without its HTTP
 *   attributes. A from/to/when entry that had only HTTP attributes leaves an empty Match, which
 *   ztunnel skips, so that DENY rule never fires at L4. Both are reported (UnsupportedValue).
 * - Invalid values (bad CIDR, bad port, bad wildcard) reject the policy (InvalidValue).
 */
import { isIP } from 'node:net';
import type { Authorization, Cidr, Clause, Match, Rule, StringMatch } from '../../api/workload.js';
import { emptyMatch } from '../../api/workload.js';
import { AmbitError } from '../../errors.js';
import type {
  AuthorizationPolicy,
  ModelOptions,
  PolicyOperation,
  PolicyReport,
  PolicyRule,
  StringListSource,
} from './types.js';
import { Annotation } from '../../api/labels.js';

export interface ConvertResult {
  authorization?: Authorization;
  report: PolicyReport;
}

/**
 * The `when` keys ztunnel enforces at L4, each with the Match list its values fill (`notValues`
 * fill the list's `not` twin) and the converter that checks one value.
 */
const L4_WHEN: Record<string, [MatchList, (v: string, field: string) => Match[MatchList][number]]> =
  {
    'source.ip': ['sourceIps', toCidr],
    'source.namespace': ['namespaces', toStringMatch],
    'source.principal': ['principals', principalMatch],
    'destination.ip': ['destinationIps', toCidr],
    'destination.port': ['destinationPorts', toPort],
  };
type MatchList = 'namespaces' | 'principals' | 'sourceIps' | 'destinationIps' | 'destinationPorts';
const notList = (l: MatchList) => `not${l[0]!.toUpperCase()}${l.slice(1)}` as keyof Match;

const HTTP_SOURCE_FIELDS = [
  'requestPrincipals',
  'notRequestPrincipals',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
] as const;
const HTTP_OPERATION_FIELDS = [
  'hosts',
  'notHosts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const;

function invalid(field: string, message: string, value: unknown): AmbitError {
  return new AmbitError('POLICY_INVALID', `${field}: ${message}`, {
    value,
    hint: 'fix the AuthorizationPolicy; it is not sent to ztunnel until then',
  });
}

export { emptyMatch };

function isEmptyMatch(m: Match): boolean {
  return Object.values(m).every((v: unknown[]) => v.length === 0);
}

export function toStringMatch(value: string, field: string): StringMatch {
  if (value === '*') return { presence: true };
  const inner = value.slice(1, -1);
  if (inner.includes('*'))
    throw invalid(
      field,
      `wildcard only allowed at the start or end: ${JSON.stringify(value)}`,
      value,
    );
  if (value.startsWith('*')) return { suffix: value.slice(1) };
  if (value.endsWith('*')) return { prefix: value.slice(0, -1) };
  return { exact: value };
}

function principalMatch(value: string, field: string): StringMatch {
  return toStringMatch(
    value.startsWith('spiffe://') ? value.slice('spiffe://'.length) : value,
    field,
  );
}

export function toCidr(value: string, field: string): Cidr {
  const [addr = '', len, extra] = String(value).split('/');
  const family = isIP(addr);
  const max = family === 6 ? 128 : 32;
  const length = len === undefined ? max : Number(len);
  if (!family || extra !== undefined || !/^\d+$/.test(len ?? String(max)) || length > max)
    throw invalid(field, `${JSON.stringify(value)} is not a valid IP address or CIDR`, value);
  return { address: addr, length };
}

export function toPort(value: string | number, field: string): number {
  const s = String(value);
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535)
    throw invalid(field, `${JSON.stringify(value)} is not a port (1-65535)`, value);
  return n;
}

interface RuleOutcome {
  rule?: Rule;
  /** HTTP attributes found, e.g. `to[0].operation.methods`. */
  http: string[];
  /** The rule kept an empty match (DENY with an HTTP-only entry): it never fires at L4. */
  neverMatches: boolean;
}

function serviceAccountPrincipal(
  v: string,
  policyNs: string,
  td: string,
  field: string,
): StringMatch {
  const parts = v.split('/');
  if (parts.length > 2 || parts.some((p) => !p))
    throw invalid(
      field,
      `${JSON.stringify(v)} is not <namespace>/<serviceaccount> or <serviceaccount>`,
      v,
    );
  const [ns, sa] = parts.length === 2 ? [parts[0]!, parts[1]!] : [policyNs, parts[0]!];
  return { exact: `${td}/ns/${ns}/sa/${sa}` };
}

function sourceMatch(
  s: StringListSource,
  f: string,
  policyNs: string,
  opts: ModelOptions,
  http: string[],
): Match {
  const m = emptyMatch();
  const list = (k: keyof StringListSource) => s[k] ?? [];
  for (const k of HTTP_SOURCE_FIELDS) if (list(k).length) http.push(`${f}.${k}`);
  // Not enforced at L4, but validated as istiod does: a bad CIDR rejects the policy wherever it is.
  for (const k of ['remoteIpBlocks', 'notRemoteIpBlocks'] as const)
    list(k).forEach((v, i) => toCidr(v, `${f}.${k}[${i}]`));
  // Each list converted value by value; a bad value names its field, e.g. `from[0].source.ipBlocks[1]`.
  const each = <T>(k: keyof StringListSource, conv: (v: string, field: string) => T): T[] =>
    list(k).map((v, i) => conv(v, `${f}.${k}[${i}]`));
  m.principals = each('principals', principalMatch);
  m.notPrincipals = each('notPrincipals', principalMatch);
  m.namespaces = each('namespaces', toStringMatch);
  m.notNamespaces = each('notNamespaces', toStringMatch);
  m.sourceIps = each('ipBlocks', toCidr);
  m.notSourceIps = each('notIpBlocks', toCidr);
  // ztunnel's workload API here carries no service_accounts field; a service account is the
  // principal <td>/ns/<ns>/sa/<sa>. "not" lists merge exactly (none of A and none of B).
  const sa = (v: string, field: string) =>
    serviceAccountPrincipal(v, policyNs, opts.trustDomain, field);
  const sas = each('serviceAccounts', sa);
  if (sas.length && m.principals.length)
    throw invalid(f, 'principals and serviceAccounts in one source are not supported together', s);
  m.principals.push(...sas);
  m.notPrincipals.push(...each('notServiceAccounts', sa));
  return m;
}

function operationMatch(o: PolicyOperation, f: string, http: string[]): Match {
  const m = emptyMatch();
  for (const k of HTTP_OPERATION_FIELDS) if (o[k]?.length) http.push(`${f}.${k}`);
  m.destinationPorts = (o.ports ?? []).map((p, i) => toPort(p, `${f}.ports[${i}]`));
  m.notDestinationPorts = (o.notPorts ?? []).map((p, i) => toPort(p, `${f}.notPorts[${i}]`));
  return m;
}

function whenMatch(
  w: { key: string; values?: string[]; notValues?: string[] },
  f: string,
  http: string[],
): Match {
  const m = emptyMatch();
  const values = w.values ?? [];
  const notValues = w.notValues ?? [];
  if (!w.key) throw invalid(`${f}.key`, 'a when condition needs a key', w);
  if (!values.length && !notValues.length)
    throw invalid(f, `when ${w.key} needs values or notValues`, w);
  const l4 = Object.hasOwn(L4_WHEN, w.key) ? L4_WHEN[w.key] : undefined;
  if (!l4) {
    http.push(`${f} (key ${w.key})`);
    return m;
  }
  const [list, conv] = l4;
  // Converted value by value, so an error names its place (`when[0].notValues[1]`).
  return Object.assign(m, {
    [list]: values.map((v, i) => conv(v, `${f}.values[${i}]`)),
    [notList(list)]: notValues.map((v, i) => conv(v, `${f}.notValues[${i}]`)),
  });
}

function convertRule(
  r: PolicyRule,
  f: string,
  action: 'ALLOW' | 'DENY',
  policyNs: string,
  opts: ModelOptions,
): RuleOutcome {
  const http: string[] = [];
  const clauses: Clause[] = [];
  const from = (r.from ?? []).map((e, i) => {
    if (!e.source || Object.keys(e.source).length === 0)
      throw invalid(
        `${f}.from[${i}]`,
        'an empty source matches nothing; remove it or add fields',
        e,
      );
    return sourceMatch(e.source, `${f}.from[${i}].source`, policyNs, opts, http);
  });
  const to = (r.to ?? []).map((e, i) => {
    if (!e.operation || Object.keys(e.operation).length === 0)
      throw invalid(
        `${f}.to[${i}]`,
        'an empty operation matches nothing; remove it or add fields',
        e,
      );
    return operationMatch(e.operation, `${f}.to[${i}].operation`, http);
  });
  const when = (r.when ?? []).map((w, i) => whenMatch(w, `${f}.when[${i}]`, http));
  if (http.length && action === 'ALLOW') return { http, neverMatches: true };
  if (from.length) clauses.push({ matches: from });
  if (to.length) clauses.push({ matches: to });
  for (const m of when) clauses.push({ matches: [m] });
  const neverMatches = clauses.some((c) => c.matches.every(isEmptyMatch));
  return { rule: { clauses }, http, neverMatches };
}

/** Converts one policy; never throws (invalid policies come back with a report and no resource). */
export function convertPolicy(p: AuthorizationPolicy, opts: ModelOptions): ConvertResult {
  const namespace = p.metadata.namespace ?? 'default';
  const base = {
    namespace,
    name: p.metadata.name,
    uid: p.metadata.uid,
    generation: p.metadata.generation,
  };
  const rejected = (reason: PolicyReport['reason'], message: string): ConvertResult => ({
    report: { ...base, accepted: false, sent: false, reason, message },
  });
  const spec = p.spec ?? {};
  if (spec.targetRef || spec.targetRefs?.length)
    return rejected(
      'NotApplicable',
      'policies with targetRef(s) are for waypoints and are not sent to ztunnel',
    );
  const action = spec.action ?? 'ALLOW';
  if (action === 'CUSTOM' || action === 'AUDIT')
    return rejected(
      'UnsupportedValue',
      `ztunnel does not support the ${action} action; the policy is not enforced at L4`,
    );
  if (action !== 'ALLOW' && action !== 'DENY')
    return rejected(
      'InvalidValue',
      `spec.action: unknown action ${JSON.stringify(action)} (want ALLOW, DENY, AUDIT or CUSTOM)`,
    );
  const labels = spec.selector?.matchLabels ?? {};
  const scope = Object.keys(labels).length
    ? 'WORKLOAD_SELECTOR'
    : namespace === opts.rootNamespace
      ? 'GLOBAL'
      : 'NAMESPACE';
  const rules: Rule[] = [];
  const http: string[] = [];
  const never: number[] = [];
  try {
    (spec.rules ?? []).forEach((r, i) => {
      const out = convertRule(r ?? {}, `spec.rules[${i}]`, action, namespace, opts);
      http.push(...out.http);
      if (out.rule) rules.push(out.rule);
      if (out.rule && out.neverMatches) never.push(i);
    });
  } catch (err) {
    return rejected('InvalidValue', (err as Error).message);
  }
  const authorization: Authorization = {
    name: p.metadata.name,
    namespace,
    scope,
    action,
    rules,
    dryRun: p.metadata.annotations?.[Annotation.dryRun] === 'true',
  };
  if (!http.length)
    return {
      authorization,
      report: {
        ...base,
        accepted: true,
        sent: true,
        reason: 'Accepted',
        message: 'attached to ztunnel',
      },
    };
  let message =
    `ztunnel does not support HTTP attributes (found: ${http.join(', ')}). ` +
    'In ambient mode you must use a waypoint proxy to enforce HTTP rules. ';
  if (action === 'ALLOW')
    message +=
      'Within an ALLOW policy, rules matching HTTP attributes are omitted. ' +
      'This will be more restrictive than requested.';
  else {
    message +=
      'Within a DENY policy, rules matching HTTP attributes are enforced without the HTTP attributes. ' +
      'This will be more restrictive than requested.';
    if (never.length)
      message +=
        ` However, rule(s) ${never.join(', ')} had a from/to/when entry with only HTTP attributes;` +
        ' it becomes an empty match, which ztunnel skips, so those rule(s) never deny at L4.';
  }
  return {
    authorization,
    report: { ...base, accepted: false, sent: true, reason: 'UnsupportedValue', message },
  };
}

/** True when a selector-based policy applies to a pod with these labels in this namespace. */
export function selects(
  p: AuthorizationPolicy,
  podNamespace: string,
  podLabels: Record<string, string>,
  rootNamespace: string,
): boolean {
  const labels = p.spec?.selector?.matchLabels ?? {};
  const keys = Object.keys(labels);
  if (!keys.length) return false;
  const ns = p.metadata.namespace ?? 'default';
  if (ns !== podNamespace && ns !== rootNamespace) return false;
  return keys.every((k) => podLabels[k] === labels[k]);
}
