/**
 * Per-request endpoint choice for a backend service port: a random healthy endpoint that has
 * a target port for it, avoiding the ones a previous attempt of the same request used
 * (Envoy's previous-hosts retry predicate).
 */
import type { WaypointEndpoint, WaypointService } from '../../api/waypoint-config.js';
import type { UpstreamTarget } from '../upstream/transport.js';

export interface Chosen {
  endpoint: WaypointEndpoint;
  target: UpstreamTarget;
}

export function targetPortOf(e: WaypointEndpoint, servicePort: number): number | undefined {
  return e.targetPorts.find((t) => t.servicePort === servicePort)?.targetPort;
}

/** A random one of `usable` this request has not tried yet, else a random one of them all. */
function pickUnused(
  usable: WaypointEndpoint[],
  avoid: Set<string>,
  random: () => number,
): WaypointEndpoint | undefined {
  // The first attempt avoids nothing: no copy of the list.
  const fresh = avoid.size === 0 ? usable : usable.filter((e) => !avoid.has(e.address));
  const pool = fresh.length > 0 ? fresh : usable;
  if (pool.length === 0) return undefined;
  return pool[Math.floor(random() * pool.length)] ?? pool[0]!;
}

export function chooseEndpoint(
  svc: WaypointService,
  servicePort: number,
  avoid: Set<string>,
  random: () => number = Math.random,
): Chosen | undefined {
  const vip = svc.vips[0];
  if (svc.waypoint && vip) {
    // An ingress gateway sending to a service through its waypoint
    // (`istio.io/ingress-use-waypoint`): a healthy waypoint pod, dialled on 15008 with the
    // service's `vip:port` as `:authority`, so the waypoint applies the service's routes and
    // policies as for any mesh client. Waypoint pods speak HBONE themselves (not captured:
    // tunnel NONE in the model).
    const pods = svc.waypoint.filter((p) => p.healthy);
    return choose(pods, avoid, random, (pod) => ({
      address: vip,
      targetPort: servicePort,
      tunnel: 'HBONE',
      identity: pod.identity,
      via: pod.address,
    }));
  }
  const usable = svc.endpoints.filter(
    (e) => e.healthy && targetPortOf(e, servicePort) !== undefined,
  );
  return choose(usable, avoid, random, (e) => ({
    address: e.address,
    targetPort: targetPortOf(e, servicePort)!,
    tunnel: e.tunnel,
    identity: e.identity,
  }));
}

function choose(
  usable: WaypointEndpoint[],
  avoid: Set<string>,
  random: () => number,
  target: (e: WaypointEndpoint) => UpstreamTarget,
): Chosen | undefined {
  const endpoint = pickUnused(usable, avoid, random);
  return endpoint && { endpoint, target: target(endpoint) };
}
