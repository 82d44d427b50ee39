/**
 * The waypoint's authorization decision (docs/istio/waypoint.md §3.2): DENY first, then, when no ALLOW
 * policy applies, allow; else allow only when an ALLOW policy matches. AUDIT marks only;
 * dry-run policies are evaluated for the log and never enforced.
 */
import type { AuthzAttributes } from './attributes.js';
import type { CompiledPolicy } from './compile.js';

export interface AuthzDecision {
  allowed: boolean;
  /** `namespace/name` of the deciding policy (the DENY that matched, the ALLOW that matched). */
  policy?: string;
  reason: 'denied' | 'allowed' | 'no-policies' | 'no-allow-match';
  /** AUDIT policies that matched. */
  audited: string[];
  /** What dry-run policies would have done, for the access log. */
  dryRun: { policy: string; action: string; matched: boolean }[];
}

/** Policies that apply to a request: Gateway/GatewayClass ones always, Service ones for their service. */
export function applicable(
  policies: CompiledPolicy[],
  service: string | undefined,
): CompiledPolicy[] {
  return policies.filter((p) => {
    const t = p.source.target;
    return t.kind !== 'Service' || (service !== undefined && t.service === service);
  });
}

function matches(p: CompiledPolicy, a: AuthzAttributes): boolean {
  return p.rules[a.protocol].some((r) => r(a));
}

/** The decision when there is no policy at all (most requests of most waypoints), built once. */
const NO_POLICIES: AuthzDecision = Object.freeze({
  allowed: true,
  reason: 'no-policies',
  audited: [],
  dryRun: [],
});

export function authorize(all: CompiledPolicy[], a: AuthzAttributes): AuthzDecision {
  // Most waypoints serve most requests with no policy at all: no arrays built for them.
  if (all.length === 0) return NO_POLICIES;
  const policies = applicable(all, a.service);
  const dryRun = policies
    .filter((p) => p.source.dryRun)
    .map((p) => ({ policy: p.key, action: p.source.action, matched: matches(p, a) }));
  const enforced = policies.filter((p) => !p.source.dryRun);
  const audited = enforced
    .filter((p) => p.source.action === 'AUDIT' && matches(p, a))
    .map((p) => p.key);
  const deny = enforced.find((p) => p.source.action === 'DENY' && matches(p, a));
  if (deny) return { allowed: false, policy: deny.key, reason: 'denied', audited, dryRun };
  const allows = enforced.filter((p) => p.source.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true, reason: 'no-policies', audited, dryRun };
  const allow = allows.find((p) => matches(p, a));
  if (allow) return { allowed: true, policy: allow.key, reason: 'allowed', audited, dryRun };
  return { allowed: false, reason: 'no-allow-match', audited, dryRun };
}
