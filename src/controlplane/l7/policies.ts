/**
 * AuthorizationPolicies with `targetRefs` → the waypoint's L7 policies (docs/istio/waypoint.md
 * §3.1): `Gateway` (this namespace's waypoint), `GatewayClass istio-waypoint` (every waypoint,
 * only from the root namespace) and `Service` (traffic to that service through its waypoint).
 * Rules are passed as written (the waypoint evaluates them: DENY, then ALLOW); CUSTOM is out of
 * scope. Each policy gets a `WaypointAccepted` report with Istio's reasons (Accepted,
 * TargetNotFound, AncestorNotBound, Invalid).
 */
import type {
  L7AuthorizationPolicy,
  PolicyRule as L7Rule,
  PolicyTarget,
} from '../../api/waypoint-config.js';
import type { Service as KubeService } from '../../k8s/types.js';
import { WAYPOINT_CLASS } from '../gateway/classes.js';
import type { AuthorizationPolicy, PolicyReport } from '../model/types.js';

export const WAYPOINT_CONDITION = 'WaypointAccepted';

/** Where a translated policy goes: one waypoint, every waypoint, or the waypoint of a service. */
export type PolicyPlacement =
  { waypoint: string } | { allWaypoints: true } | { serviceKey: string };

export interface PlacedPolicy {
  policy: L7AuthorizationPolicy;
  placement: PolicyPlacement;
}

export interface PolicyContext {
  rootNamespace: string;
  domainSuffix: string;
  services: ReadonlyMap<string, KubeService>;
  /** `namespace/name` of waypoint Gateways. */
  waypoints: ReadonlySet<string>;
  /** Is the service (`namespace/hostname`) bound to some waypoint? */
  serviceBound: (serviceKey: string) => boolean;
}

interface TargetRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

const stringsOf = (v: unknown): string[] | undefined =>
  Array.isArray(v) ? v.map((x) => String(x as string | number)) : undefined;

function rules(p: AuthorizationPolicy): L7Rule[] {
  return (p.spec?.rules ?? []).map((r) => {
    const out: L7Rule = {};
    if (r.from)
      out.from = r.from.map(
        (f) => ({ ...(f.source ?? {}) }) as NonNullable<L7Rule['from']>[number],
      );
    if (r.to)
      out.to = r.to.map((t) => {
        const op = { ...(t.operation ?? {}) } as Record<string, unknown>;
        for (const k of ['ports', 'notPorts']) {
          const s = stringsOf(op[k]);
          if (s) op[k] = s;
        }
        return op as NonNullable<L7Rule['to']>[number];
      });
    if (r.when) out.when = r.when.map((w) => ({ ...w }));
    return out;
  });
}

function report(
  p: AuthorizationPolicy,
  accepted: boolean,
  reason: PolicyReport['reason'],
  message: string,
): PolicyReport {
  return {
    namespace: p.metadata.namespace ?? 'default',
    name: p.metadata.name,
    uid: p.metadata.uid,
    generation: p.metadata.generation,
    accepted,
    sent: accepted,
    reason,
    message,
    conditionType: WAYPOINT_CONDITION,
  };
}

/** Translates one policy; `placed` is empty when it is not a waypoint policy or is rejected. */
export function translatePolicy(
  p: AuthorizationPolicy,
  ctx: PolicyContext,
): { placed: PlacedPolicy[]; report?: PolicyReport } {
  const spec = p.spec ?? {};
  const refs = [
    ...(spec.targetRefs ?? []),
    ...(spec.targetRef ? [spec.targetRef] : []),
  ] as TargetRef[];
  if (refs.length === 0) return { placed: [] };
  const ns = p.metadata.namespace ?? 'default';
  const action = (spec.action ?? 'ALLOW').toUpperCase();
  if (action === 'CUSTOM')
    return {
      placed: [],
      report: report(
        p,
        false,
        'UnsupportedValue',
        'the CUSTOM action is not supported by ambit waypoints',
      ),
    };
  if (!['ALLOW', 'DENY', 'AUDIT'].includes(action))
    return {
      placed: [],
      report: report(p, false, 'InvalidValue', `unknown action ${JSON.stringify(spec.action)}`),
    };
  const base = {
    name: p.metadata.name,
    namespace: ns,
    action: action as L7AuthorizationPolicy['action'],
    rules: rules(p),
    ...(p.metadata.annotations?.['istio.io/dry-run'] === 'true' ? { dryRun: true } : {}),
  };
  const placed: PlacedPolicy[] = [];
  const problems: { reason: PolicyReport['reason']; message: string }[] = [];
  for (const ref of refs) {
    const group = ref.group ?? '';
    const kind = ref.kind ?? '';
    const name = ref.name ?? '';
    if (ref.namespace && ref.namespace !== ns) {
      problems.push({
        reason: 'InvalidValue',
        message: `targetRef ${kind}/${name}: namespace must be the policy's own`,
      });
      continue;
    }
    let target: PolicyTarget;
    let placement: PolicyPlacement;
    if (group === 'gateway.networking.k8s.io' && kind === 'Gateway') {
      if (!ctx.waypoints.has(`${ns}/${name}`)) {
        problems.push({
          reason: 'TargetNotFound',
          message: `waypoint Gateway ${ns}/${name} not found`,
        });
        continue;
      }
      target = { kind: 'Gateway' };
      placement = { waypoint: `${ns}/${name}` };
    } else if (group === 'gateway.networking.k8s.io' && kind === 'GatewayClass') {
      if (name !== WAYPOINT_CLASS || ns !== ctx.rootNamespace) {
        problems.push({
          reason: 'InvalidValue',
          message: `a GatewayClass targetRef must name ${WAYPOINT_CLASS} and the policy must be in the root namespace ${ctx.rootNamespace}`,
        });
        continue;
      }
      target = { kind: 'GatewayClass' };
      placement = { allWaypoints: true };
    } else if ((group === '' || group === 'core') && kind === 'Service') {
      if (!ctx.services.has(`${ns}/${name}`)) {
        problems.push({ reason: 'TargetNotFound', message: `service ${ns}/${name} not found` });
        continue;
      }
      const key = `${ns}/${name}.${ns}.svc.${ctx.domainSuffix}`;
      if (!ctx.serviceBound(key)) {
        problems.push({
          reason: 'AncestorNotBound',
          message: `service ${ns}/${name} is not bound to a waypoint`,
        });
        continue;
      }
      target = { kind: 'Service', service: key };
      placement = { serviceKey: key };
    } else {
      problems.push({
        reason: 'InvalidValue',
        message: `targetRef kind ${group ? group + '/' : ''}${kind} is not supported (Gateway, GatewayClass, Service)`,
      });
      continue;
    }
    placed.push({ policy: { ...base, target }, placement });
  }
  const first = problems[0];
  const r = first
    ? report(p, false, first.reason, problems.map((x) => x.message).join('; '))
    : report(p, true, 'Accepted', 'bound to waypoint');
  return { placed, report: r };
}
