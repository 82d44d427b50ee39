/**
 * L4 authorization, with ztunnel's semantics (docs/istio/ztunnel.md §5.1):
 * DENY policies first; if no enforced ALLOW policy applies, allowed; if any ALLOW matches,
 * allowed; otherwise NotAllowed. A policy without rules never matches; a Match without fields
 * is skipped (so a clause of only empty matches is false); a rule without clauses matches.
 * Principals compare without `spiffe://`; namespaces come from the peer's SPIFFE identity.
 * Dry-run policies only log.
 */
import type { Authorization, Cidr, Match, StringMatch, Workload } from '../api/workload.js';
import { parseSpiffeId } from '../api/workload.js';
import type { Logger } from '../log.js';

/** What a connection is judged on. */
export interface RbacConnection {
  srcIp: string;
  srcPort?: number;
  dstIp: string;
  dstPort: number;
  /** The peer's SPIFFE URI, absent for plaintext (15006). */
  srcIdentity?: string;
}

export type RbacResult =
  | { allowed: true }
  | { allowed: false; reason: 'ExplicitlyDenied' | 'NotAllowed'; policy?: string };

/** Where policies come from: the state store, or anything shaped like it. */
export interface PolicySource {
  allPolicies(): Authorization[];
  policy(name: string): Authorization | undefined;
}

function ipToInt(ip: string): number | undefined {
  const p = ip.split('.');
  if (p.length !== 4) return undefined;
  let n = 0;
  for (const s of p) {
    if (!/^\d{1,3}$/.test(s)) return undefined;
    const v = Number(s);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function cidrContains(c: Cidr, ip: string): boolean {
  const a = ipToInt(c.address);
  const b = ipToInt(ip);
  if (a === undefined || b === undefined) return false;
  const len = Math.max(0, Math.min(32, c.length));
  if (len === 0) return true;
  const size = 2 ** (32 - len);
  return Math.floor(a / size) === Math.floor(b / size);
}

export function stringMatches(m: StringMatch, value: string | undefined): boolean {
  if ('presence' in m) return value !== undefined && value !== '';
  if (value === undefined) return false;
  if ('exact' in m) return value === m.exact;
  if ('prefix' in m) return value.startsWith(m.prefix);
  return value.endsWith(m.suffix);
}

function stripSpiffe(s: string): string {
  return s.startsWith('spiffe://') ? s.slice('spiffe://'.length) : s;
}

function principalMatches(m: StringMatch, identity: string | undefined): boolean {
  const id = identity === undefined ? undefined : stripSpiffe(identity);
  if ('exact' in m) return stringMatches({ exact: stripSpiffe(m.exact) }, id);
  if ('prefix' in m) return stringMatches({ prefix: stripSpiffe(m.prefix) }, id);
  return stringMatches(m, id);
}

/** Positive list: some entry matches (or list empty). Negative list: no entry matches. */
function pair<T>(pos: T[], neg: T[], test: (v: T) => boolean): boolean {
  if (pos.length > 0 && !pos.some(test)) return false;
  if (neg.length > 0 && neg.some(test)) return false;
  return true;
}

function isEmptyMatch(m: Match): boolean {
  return (
    m.namespaces.length === 0 &&
    m.notNamespaces.length === 0 &&
    m.principals.length === 0 &&
    m.notPrincipals.length === 0 &&
    m.sourceIps.length === 0 &&
    m.notSourceIps.length === 0 &&
    m.destinationIps.length === 0 &&
    m.notDestinationIps.length === 0 &&
    m.destinationPorts.length === 0 &&
    m.notDestinationPorts.length === 0
  );
}

function matchMatches(m: Match, conn: RbacConnection): boolean {
  const ns = conn.srcIdentity ? parseSpiffeId(conn.srcIdentity)?.namespace : undefined;
  return (
    pair(m.namespaces, m.notNamespaces, (s) => stringMatches(s, ns)) &&
    pair(m.principals, m.notPrincipals, (s) => principalMatches(s, conn.srcIdentity)) &&
    pair(m.sourceIps, m.notSourceIps, (c) => cidrContains(c, conn.srcIp)) &&
    pair(m.destinationIps, m.notDestinationIps, (c) => cidrContains(c, conn.dstIp)) &&
    pair(m.destinationPorts, m.notDestinationPorts, (p) => p === conn.dstPort)
  );
}

/** True when `policy` applies to `conn` (ignoring its action). */
export function matches(policy: Authorization, conn: RbacConnection): boolean {
  for (const rule of policy.rules) {
    let ruleMatch = true;
    for (const clause of rule.clauses) {
      let clauseMatch = false;
      for (const m of clause.matches) {
        if (isEmptyMatch(m)) continue;
        if (matchMatches(m, conn)) {
          clauseMatch = true;
          break;
        }
      }
      if (!clauseMatch) {
        ruleMatch = false;
        break;
      }
    }
    if (ruleMatch) return true;
  }
  return false;
}

/** Policies in force for `dst`: GLOBAL, its namespace's NAMESPACE-scoped, and its selector refs. */
export function policiesFor(source: PolicySource, dst: Workload): Authorization[] {
  const out = new Map<string, Authorization>();
  for (const p of source.allPolicies()) {
    if (p.scope === 'GLOBAL' || (p.scope === 'NAMESPACE' && p.namespace === dst.namespace)) {
      out.set(`${p.namespace}/${p.name}`, p);
    }
  }
  for (const name of dst.authorizationPolicies) {
    const p = source.policy(name);
    if (p) out.set(name, p);
  }
  return [...out.values()];
}

export function assertRbac(
  source: PolicySource,
  dst: Workload,
  conn: RbacConnection,
  log?: Logger,
): RbacResult {
  const policies = policiesFor(source, dst);
  const name = (p: Authorization) => `${p.namespace}/${p.name}`;
  for (const p of policies) {
    if (p.action !== 'DENY') continue;
    if (!matches(p, conn)) continue;
    if (p.dryRun) {
      log?.info('dry-run policy would deny', { policy: name(p), ...conn });
      continue;
    }
    return { allowed: false, reason: 'ExplicitlyDenied', policy: name(p) };
  }
  const allows = policies.filter((p) => p.action === 'ALLOW');
  for (const p of allows.filter((a) => a.dryRun)) {
    log?.info(matches(p, conn) ? 'dry-run policy would allow' : 'dry-run policy would not allow', {
      policy: name(p),
      ...conn,
    });
  }
  const enforced = allows.filter((p) => !p.dryRun);
  if (enforced.length === 0) return { allowed: true };
  if (enforced.some((p) => matches(p, conn))) return { allowed: true };
  return { allowed: false, reason: 'NotAllowed' };
}

/** The words of a refusal, for the access log and the HBONE answer (ztunnel's wording). */
export function denialReason(r: Exclude<RbacResult, { allowed: true }>): string {
  return r.reason === 'ExplicitlyDenied'
    ? `explicitly denied by: ${r.policy}`
    : 'allow policies exist, but none allowed';
}
