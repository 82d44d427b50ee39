/**
 * A managed Gateway's status, as Istio writes it (docs/istio/waypoint.md §1.1, §1.4): addresses
 * only once a proxy pod is ready, because addresses are what makes a Gateway a usable waypoint.
 * Their shape is the class's: a waypoint reports its Service's ClusterIP, then its hostname; an
 * ingress gateway (class `istio`, whose address type is Hostname) reports its Service's
 * load-balancer ingress addresses when it has any, else only the Service's hostname — so
 * `kubectl get gateway` shows `bookinfo-gateway-istio.default.svc.cluster.local` for the guide's
 * ClusterIP gateway (../shared/reference/istio-getting-started.md §1); `Accepted` and `Programmed`; one entry per listener
 * with its supported route kinds. A waypoint listener other than `mesh`-like 15008/HBONE is
 * not accepted, with Istio's reason and message.
 */
import type { Condition, Gateway, GatewayListener, GatewayStatus } from '../model/types.js';
import type { CertificateProblem } from './certificates.js';
import { deployedName, type ClassInfo } from './classes.js';
import { kubeTime } from '../../k8s/time.js';

export const WAYPOINT_LISTENER_MESSAGE =
  'Expected a single listener on port 15008 with protocol "HBONE"';

const GROUP = 'gateway.networking.k8s.io';

export interface GatewayRuntime {
  /** The Service's ClusterIP, once allocated. */
  clusterIP?: string;
  /** The Service's `status.loadBalancer.ingress` (a LoadBalancer Service's external addresses). */
  loadBalancer?: { ip?: string; hostname?: string }[];
  readyPods: number;
  /** Routes attached per listener name. */
  attachedRoutes?: Record<string, number>;
  /** HTTPS listeners whose certificateRefs cannot be used (certificates.ts), by listener name. */
  certificateProblems?: Record<string, CertificateProblem>;
}

function cond(
  gw: Gateway,
  type: string,
  ok: boolean,
  reason: string,
  message: string,
  prev: Condition[] | undefined,
  now: string,
): Condition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  return {
    type,
    status,
    reason,
    message,
    observedGeneration: gw.metadata.generation,
    // A condition keeps its transition time while its status stays.
    lastTransitionTime:
      old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : now,
  };
}

function listenerError(l: GatewayListener, info: ClassInfo): string | undefined {
  if (info.kind === 'waypoint') {
    if (l.port !== 15008 || l.protocol !== 'HBONE') return WAYPOINT_LISTENER_MESSAGE;
    return undefined;
  }
  // TLS passthrough (protocol TLS) would need TLSRoute, whose CRD this control plane does not read.
  if (l.protocol !== 'HTTP' && l.protocol !== 'HTTPS' && l.protocol !== 'TCP')
    return `protocol ${JSON.stringify(l.protocol ?? '')} is not supported (only HTTP, HTTPS and TCP)`;
  if (l.protocol === 'HTTPS' && (l.tls?.mode ?? 'Terminate') !== 'Terminate')
    return `tls.mode ${JSON.stringify(l.tls?.mode)} is not supported on HTTPS (only Terminate)`;
  if (!l.port || l.port < 1 || l.port > 65535) return `port ${String(l.port)} is not valid`;
  return undefined;
}

function addressesOf(
  info: ClassInfo,
  rt: GatewayRuntime,
  hostname: string,
): NonNullable<GatewayStatus['addresses']> {
  if (info.kind === 'waypoint')
    return [
      { type: 'IPAddress', value: rt.clusterIP! },
      { type: 'Hostname', value: hostname },
    ];
  const external = (rt.loadBalancer ?? []).flatMap((i) => [
    ...(i.ip ? [{ type: 'IPAddress', value: i.ip }] : []),
    ...(i.hostname ? [{ type: 'Hostname', value: i.hostname }] : []),
  ]);
  return external.length > 0 ? external : [{ type: 'Hostname', value: hostname }];
}

/**
 * Route kinds a listener takes: TCP TCPRoutes; HTTP, HTTPS and a waypoint's HBONE HTTPRoutes
 * and GRPCRoutes; a protocol we do not serve (TLS passthrough) none.
 */
export function listenerKinds(l?: GatewayListener): string[] {
  if (l?.protocol === 'TCP') return ['TCPRoute'];
  return ['HTTP', 'HTTPS', 'HBONE'].includes(l?.protocol ?? '') ? ['HTTPRoute', 'GRPCRoute'] : [];
}

export function supportedKinds(l?: GatewayListener): { group: string; kind: string }[] {
  return listenerKinds(l).map((kind) => ({ group: GROUP, kind }));
}

export function gatewayStatus(
  gw: Gateway,
  info: ClassInfo,
  rt: GatewayRuntime,
  domainSuffix = 'cluster.local',
  now = kubeTime(),
): GatewayStatus {
  const prev = gw.status?.conditions;
  const ns = gw.metadata.namespace ?? 'default';
  const name = deployedName(gw.metadata.name, info);
  const hostname = `${name}.${ns}.svc.${domainSuffix}`;
  const listeners = gw.spec?.listeners ?? [];
  const errors = listeners.map((l) => listenerError(l, info));
  const waypointCountWrong = info.kind === 'waypoint' && listeners.length !== 1;
  const valid = listeners.length > 0 && errors.every((e) => e === undefined) && !waypointCountWrong;

  const ready = rt.readyPods > 0 && Boolean(rt.clusterIP);
  const out: GatewayStatus = {};
  if (ready && valid) out.addresses = addressesOf(info, rt, hostname);
  const port = info.kind === 'waypoint' ? ':15008' : '';
  out.conditions = [
    valid
      ? cond(gw, 'Accepted', true, 'Accepted', 'Resource accepted', prev, now)
      : cond(
          gw,
          'Accepted',
          false,
          'ListenersNotValid',
          waypointCountWrong && errors.every((e) => e === undefined)
            ? WAYPOINT_LISTENER_MESSAGE
            : 'Invalid listeners',
          prev,
          now,
        ),
    !valid
      ? cond(gw, 'Programmed', false, 'Invalid', 'Resource has invalid listeners', prev, now)
      : ready
        ? cond(
            gw,
            'Programmed',
            true,
            'Programmed',
            `Resource programmed, assigned to service(s) ${hostname}${port}`,
            prev,
            now,
          )
        : cond(
            gw,
            'Programmed',
            false,
            'Pending',
            rt.clusterIP
              ? `Waiting for a ready pod of deployment ${ns}/${name}`
              : `Waiting for service ${ns}/${name} to get an address`,
            prev,
            now,
          ),
  ];
  out.listeners = listeners.map((l, i) => {
    const err = errors[i] ?? (waypointCountWrong ? WAYPOINT_LISTENER_MESSAGE : undefined);
    const lname = l.name ?? `listener-${i}`;
    const prevL = gw.status?.listeners?.find((x) => x.name === lname)?.conditions;
    const ok = (type: string, reason: string) =>
      cond(gw, type, true, reason, 'No errors found', prevL, now);
    const refs = err ? undefined : rt.certificateProblems?.[lname];
    return {
      name: lname,
      attachedRoutes: rt.attachedRoutes?.[lname] ?? 0,
      supportedKinds: supportedKinds(l),
      conditions: err
        ? [
            cond(gw, 'Accepted', false, 'UnsupportedProtocol', err, prevL, now),
            cond(gw, 'Programmed', false, 'Invalid', err, prevL, now),
          ]
        : refs
          ? [
              ok('Accepted', 'Accepted'),
              { ...ok('Conflicted', 'NoConflicts'), status: 'False' },
              cond(gw, 'Programmed', false, 'Invalid', refs.message, prevL, now),
              cond(gw, 'ResolvedRefs', false, refs.reason, refs.message, prevL, now),
            ]
          : [
              ok('Accepted', 'Accepted'),
              { ...ok('Conflicted', 'NoConflicts'), status: 'False' },
              ok('Programmed', 'Programmed'),
              ok('ResolvedRefs', 'ResolvedRefs'),
            ],
    };
  });
  return out;
}

/** True when two statuses differ in anything but transition times. */
export function statusChanged(a: GatewayStatus | undefined, b: GatewayStatus): boolean {
  const strip = (s: GatewayStatus | undefined) =>
    JSON.stringify(s ?? {}, (k, v: unknown) => (k === 'lastTransitionTime' ? undefined : v));
  return strip(a) !== strip(b);
}
