/**
 * Which listeners of a Gateway a route attaches to, as Gateway API defines it: the one its
 * parentRef's `sectionName` names (else all), on the `port` it names (else any), that takes the
 * route's kind (status.ts `listenerKinds`: a TCP listener TCPRoutes, the others HTTPRoutes and
 * GRPCRoutes). A waypoint's single HBONE listener takes every kind, as before. The count per
 * listener is its status's `attachedRoutes`. Pure.
 */
import type { Gateway, GatewayListener } from '../model/types.js';
import { classOf } from './classes.js';
import { listenerKinds } from './status.js';

/** The listeners of `gw` a route of `kind` with this parentRef attaches to. */
export function attachedListeners(
  gw: Gateway,
  kind: string,
  ref: { sectionName?: string; port?: number },
): GatewayListener[] {
  const ingress = classOf(gw.spec?.gatewayClassName)?.kind === 'ingress';
  return (gw.spec?.listeners ?? []).filter(
    (l) =>
      !ingress ||
      ((ref.sectionName === undefined || ref.sectionName === l.name) &&
        (ref.port === undefined || ref.port === l.port) &&
        listenerKinds(l).includes(kind)),
  );
}

/** A translated route as far as attachment goes (l7/routes.ts TranslatedRoute). */
export interface AttachingRoute {
  kind: string;
  parents: readonly {
    kind: string;
    key?: string;
    parent?: unknown;
    ref: { sectionName?: string; port?: number };
  }[];
  problems: { accepted?: unknown };
}

/** Accepted routes per listener name of `gw` (`namespace/name` is the parents' key). */
export function attachedRoutes(
  gw: Gateway,
  routes: readonly AttachingRoute[],
): Record<string, number> {
  const key = `${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`;
  const out: Record<string, number> = Object.fromEntries(
    (gw.spec?.listeners ?? []).map((l) => [l.name ?? '', 0]),
  );
  for (const r of routes) {
    if (r.problems.accepted) continue;
    // A route counts once per listener, however many of its parentRefs name it.
    const names = new Set<string>();
    for (const p of r.parents)
      if (p.kind === 'Gateway' && p.parent && p.key === key)
        for (const l of attachedListeners(gw, r.kind, p.ref)) names.add(l.name ?? '');
    for (const n of names) out[n] = (out[n] ?? 0) + 1;
  }
  return out;
}
