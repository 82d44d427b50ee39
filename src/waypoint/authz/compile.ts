/**
 * Turns an L7AuthorizationPolicy into predicates, once per protocol. Istio's rule for fields a
 * protocol cannot evaluate (model.go checkError, docs/istio/waypoint.md §3.4): on TCP an ALLOW rule that
 * uses an HTTP-only field is dropped (narrower), and a DENY/AUDIT rule ignores that field
 * (wider: fail closed). Values that cannot be parsed (a bad CIDR, port or path template) get
 * the same treatment on every protocol, so a bad policy never opens access.
 */
import type {
  L7AuthorizationPolicy,
  PolicyCondition,
  PolicyOperation,
  PolicyRule,
  PolicySource,
} from '../../api/waypoint-config.js';
import { errorMessage } from '../../errors.js';
import { cidrContains, parseCidr4 } from '../net.js';
import type { AuthzAttributes } from './attributes.js';
import { pathMatcher } from './path-template.js';
import { anyMatch, istioStringMatch, type StringPred } from './string-match.js';

export type Pred = (a: AuthzAttributes) => boolean;
type Mode = 'http' | 'tcp';

/** A field after compilation: a predicate, or why it cannot be evaluated here. */
type Field = { pred: Pred } | { skip: 'http-only' | 'invalid'; why: string };

export interface CompiledPolicy {
  source: L7AuthorizationPolicy;
  key: string;
  /** Per protocol: the rules that can match (dropped ALLOW rules are absent). */
  rules: Record<Mode, Pred[]>;
  /** Problems met while compiling (bad values, dropped rules), for the config dump and logs. */
  warnings: string[];
}

function principalOf(spiffe: string): string {
  return spiffe.startsWith('spiffe://') ? spiffe.slice('spiffe://'.length) : spiffe;
}

function namespaceOf(spiffe: string): string | undefined {
  return /\/ns\/([^/]+)\/sa\//.exec(spiffe)?.[1];
}

function trustDomainOf(spiffe: string): string | undefined {
  return /^spiffe:\/\/([^/]+)\//.exec(spiffe)?.[1];
}

function serviceAccountOf(spiffe: string): string | undefined {
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(spiffe);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

function strings(values: string[], get: (a: AuthzAttributes) => string | undefined, ci = false) {
  const ms = values.map((v) => istioStringMatch(v, ci));
  return (a: AuthzAttributes) => anyMatch(ms, get(a));
}

function cidrs(values: string[], get: (a: AuthzAttributes) => string): Field {
  const parsed = values.map((v) => ({ v, c: parseCidr4(v) }));
  const bad = parsed.find((p) => !p.c);
  if (bad) return { skip: 'invalid', why: `bad IP block ${JSON.stringify(bad.v)}` };
  const cs = parsed.map((p) => p.c!);
  return { pred: (a) => cs.some((c) => cidrContains(c, get(a))) };
}

function ports(values: string[], get: (a: AuthzAttributes) => number): Field {
  const ns = values.map((v) => (/^\d{1,5}$/.test(v.trim()) ? Number(v) : NaN));
  const i = ns.findIndex((n) => !(n >= 1 && n <= 65535));
  if (i >= 0) return { skip: 'invalid', why: `bad port ${JSON.stringify(values[i])}` };
  return { pred: (a) => ns.includes(get(a)) };
}

/** Host matches with or without its port when the pattern names no port (as Istio does). */
function hostPred(values: string[]): Pred {
  const ms: StringPred[] = values.map((v) => istioStringMatch(v, true));
  return (a) => {
    const h = a.host;
    if (h === undefined) return false;
    const bare = h.replace(/:\d+$/, '');
    return anyMatch(ms, h) || anyMatch(ms, bare);
  };
}

function pathPred(values: string[]): Field {
  try {
    const ms = values.map(pathMatcher);
    return { pred: (a) => anyMatch(ms, a.path) };
  } catch (err) {
    return { skip: 'invalid', why: errorMessage(err) };
  }
}

const HTTP_ONLY = (why: string): Field => ({ skip: 'http-only', why });

/** A positive field or its `not` form (matches when none of the values match). */
function both(
  name: string,
  pos: string[] | undefined,
  neg: string[] | undefined,
  mk: (v: string[]) => Field,
): Field[] {
  const out: Field[] = [];
  if (pos?.length) out.push(mk(pos));
  if (neg?.length) {
    const f = mk(neg);
    out.push('pred' in f ? { pred: (a) => !f.pred(a) } : { ...f, why: `not${name}: ${f.why}` });
  }
  return out;
}

function sourceFields(s: PolicySource, mode: Mode): Field[] {
  const ok = (p: Pred): Field => ({ pred: p });
  return [
    ...both('Principals', s.principals, s.notPrincipals, (v) =>
      ok(strings(v, (a) => (a.sourcePrincipal ? principalOf(a.sourcePrincipal) : undefined))),
    ),
    // ambit has no RequestAuthentication: no request has a JWT principal.
    ...both('RequestPrincipals', s.requestPrincipals, s.notRequestPrincipals, (v) =>
      mode === 'tcp' ? HTTP_ONLY('requestPrincipals') : ok(strings(v, () => undefined)),
    ),
    ...both('Namespaces', s.namespaces, s.notNamespaces, (v) =>
      ok(strings(v, (a) => namespaceOf(a.sourcePrincipal))),
    ),
    ...both('ServiceAccounts', s.serviceAccounts, s.notServiceAccounts, (v) =>
      ok((a) => v.includes(serviceAccountOf(a.sourcePrincipal) ?? '')),
    ),
    ...both('TrustDomains', s.trustDomains, s.notTrustDomains, (v) =>
      ok(strings(v, (a) => trustDomainOf(a.sourcePrincipal))),
    ),
    ...both('IpBlocks', s.ipBlocks, s.notIpBlocks, (v) => cidrs(v, (a) => a.sourceIp)),
    ...both('RemoteIpBlocks', s.remoteIpBlocks, s.notRemoteIpBlocks, (v) =>
      cidrs(v, (a) => a.remoteIp),
    ),
  ];
}

function operationFields(o: PolicyOperation, mode: Mode): Field[] {
  const http = (name: string, f: () => Field) => (mode === 'tcp' ? HTTP_ONLY(name) : f());
  return [
    ...both('Hosts', o.hosts, o.notHosts, (v) => http('hosts', () => ({ pred: hostPred(v) }))),
    ...both('Ports', o.ports, o.notPorts, (v) => ports(v, (a) => a.destinationPort)),
    ...both('Methods', o.methods, o.notMethods, (v) =>
      http('methods', () => ({ pred: strings(v, (a) => a.method) })),
    ),
    ...both('Paths', o.paths, o.notPaths, (v) => http('paths', () => pathPred(v))),
  ];
}

function conditionAttribute(key: string, mode: Mode): Field | 'ignore' | ((v: string[]) => Field) {
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header) {
    const name = header[1]!.toLowerCase();
    if (mode === 'tcp') return HTTP_ONLY(key);
    return (v) => ({ pred: strings(v, (a) => a.headers?.[name]) });
  }
  if (key.startsWith('request.auth.')) {
    if (mode === 'tcp') return HTTP_ONLY(key);
    return (v) => ({ pred: strings(v, () => undefined) });
  }
  switch (key) {
    case 'source.ip':
      return (v) => cidrs(v, (a) => a.sourceIp);
    case 'remote.ip':
      return (v) => cidrs(v, (a) => a.remoteIp);
    case 'destination.ip':
      return (v) => cidrs(v, (a) => a.destinationIp);
    case 'destination.port':
      return (v) => ports(v, (a) => a.destinationPort);
    case 'source.namespace':
      return (v) => ({ pred: strings(v, (a) => namespaceOf(a.sourcePrincipal)) });
    case 'source.principal':
      return (v) => ({
        pred: strings(v, (a) => (a.sourcePrincipal ? principalOf(a.sourcePrincipal) : undefined)),
      });
    case 'connection.sni':
      return (v) => ({ pred: strings(v, (a) => a.sni || undefined) });
    default:
      // experimental.envoy.filters.* and unknown keys are ignored, as Istio does.
      return 'ignore';
  }
}

function conditionFields(c: PolicyCondition, mode: Mode): Field[] {
  const attr = conditionAttribute(c.key, mode);
  if (attr === 'ignore') return [];
  if (typeof attr !== 'function') return [attr];
  return both(`Values of ${c.key}`, c.values, c.notValues, attr);
}

/** ANDs fields; undefined when the rule must be dropped (ALLOW with a field it cannot evaluate). */
function conjunction(fields: Field[], allow: boolean, warn: (w: string) => void): Pred | undefined {
  const preds: Pred[] = [];
  for (const f of fields) {
    if ('pred' in f) preds.push(f.pred);
    else if (allow) {
      warn(`${f.why}: ${f.skip === 'http-only' ? 'HTTP-only field, ' : ''}ALLOW rule dropped`);
      return undefined;
    } else warn(`${f.why}: ${f.skip === 'http-only' ? 'HTTP-only field ' : ''}ignored`);
  }
  return (a) => preds.every((p) => p(a));
}

/**
 * OR over the alternatives; no alternatives means "any". One dropped alternative drops the
 * whole rule, as Istio drops an ALLOW rule that uses a field it cannot evaluate.
 */
function disjunction<T>(
  items: T[] | undefined,
  each: (t: T) => Pred | undefined,
): Pred | undefined {
  if (!items || items.length === 0) return () => true;
  const preds: Pred[] = [];
  for (const item of items) {
    const p = each(item);
    if (!p) return undefined;
    preds.push(p);
  }
  return (a) => preds.some((p) => p(a));
}

function compileRule(r: PolicyRule, mode: Mode, allow: boolean, warn: (w: string) => void) {
  const from = disjunction(r.from, (s) => conjunction(sourceFields(s, mode), allow, warn));
  const to = disjunction(r.to, (o) => conjunction(operationFields(o, mode), allow, warn));
  const when = conjunction(
    (r.when ?? []).flatMap((c) => conditionFields(c, mode)),
    allow,
    warn,
  );
  if (!from || !to || !when) return undefined;
  return (a: AuthzAttributes) => from(a) && to(a) && when(a);
}

export function compilePolicy(p: L7AuthorizationPolicy): CompiledPolicy {
  const key = `${p.namespace}/${p.name}`;
  const warnings: string[] = [];
  const allow = p.action === 'ALLOW';
  const rules = {} as Record<Mode, Pred[]>;
  for (const mode of ['http', 'tcp'] as const) {
    const warn = (w: string) => {
      const line = `${mode}: ${w}`;
      if (!warnings.includes(line)) warnings.push(line);
    };
    rules[mode] = p.rules
      .map((r) => compileRule(r, mode, allow, warn))
      .filter((x): x is Pred => x !== undefined);
  }
  return { source: p, key, rules, warnings };
}
