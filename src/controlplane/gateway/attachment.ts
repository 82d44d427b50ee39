/**
 * Which listeners of a Gateway a route attaches to, as Gateway API defines it. On an ingress
 * Gateway: the listener its parentRef's `sectionName` names (else all), on the `port` it names
 * (else any), that takes the route's kind (status.ts `listenerKinds`: a TCP listener TCPRoutes,
 * the others HTTPRoutes and GRPCRoutes), whose `allowedRoutes.namespaces` admits the route's
 * namespace (default Same), and whose hostname intersects the route's hostnames
 * (src/api/hostnames.ts). When none is left, the first test that emptied the list names the
 * reason the route's parent status reports. A waypoint's single HBONE listener takes every
 * kind. The count per listener is its status's `attachedRoutes`. Pure.
 */
import { routeFitsListener } from '../../api/hostnames.js';
import type { Gateway, GatewayListener } from '../model/types.js';
import { classOf } from './classes.js';
import { listenerKinds } from './status.js';

export interface AttachQuery {
  kind: string;
  ref: { sectionName?: string; port?: number };
  routeNs: string;
  hostnames?: readonly string[];
  /** Namespace labels by name, for `allowedRoutes.namespaces.from: Selector`. */
  namespaceLabels?: ReadonlyMap<string, Record<string, string>>;
}

export interface Attachment {
  listeners: GatewayListener[];
  /** Why no listener takes the route (Accepted=False on its parent status). */
  problem?: { reason: string; message: string };
}

function admits(
  l: GatewayListener,
  gwNs: string,
  q: Pick<AttachQuery, 'routeNs' | 'namespaceLabels'>,
): boolean {
  const a = l.allowedRoutes?.namespaces;
  if (a?.from === 'All') return true;
  if (a?.from === 'Selector') {
    const have = q.namespaceLabels?.get(q.routeNs) ?? {};
    return Object.entries(a.selector?.matchLabels ?? {}).every(([k, v]) => have[k] === v);
  }
  return q.routeNs === gwNs;
}

/** The listeners of `gw` the route attaches to, or why none does. */
export function attach(gw: Gateway, q: AttachQuery): Attachment {
  const gwNs = gw.metadata.namespace ?? 'default';
  const key = `${gwNs}/${gw.metadata.name}`;
  const all = gw.spec?.listeners ?? [];
  if (classOf(gw.spec?.gatewayClassName)?.kind !== 'ingress') {
    // A waypoint: its routes come from its own namespace, or one some listener admits.
    if (all.length > 0 && !all.some((l) => admits(l, gwNs, q)))
      return {
        listeners: [],
        problem: {
          reason: 'NotAllowedByListeners',
          message: `no listener of gateway ${key} allows routes from namespace ${q.routeNs}`,
        },
      };
    return { listeners: all };
  }
  const { ref } = q;
  const which = [
    ref.sectionName !== undefined ? `named ${ref.sectionName}` : '',
    ref.port !== undefined ? `on port ${ref.port}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const listener = `listener${which ? ' ' + which : ''}`;
  const named = all.filter(
    (l) =>
      (ref.sectionName === undefined || ref.sectionName === l.name) &&
      (ref.port === undefined || ref.port === l.port),
  );
  if (named.length === 0)
    return {
      listeners: [],
      problem: { reason: 'NoMatchingParent', message: `gateway ${key} has no ${listener}` },
    };
  const byKind = named.filter((l) => listenerKinds(l).includes(q.kind));
  if (byKind.length === 0)
    return {
      listeners: [],
      problem: {
        reason: 'NotAllowedByListeners',
        message: `no ${listener} of gateway ${key} takes ${q.kind}s`,
      },
    };
  const byNs = byKind.filter((l) => admits(l, gwNs, q));
  if (byNs.length === 0)
    return {
      listeners: [],
      problem: {
        reason: 'NotAllowedByListeners',
        message: `no ${listener} of gateway ${key} allows ${q.kind}s from namespace ${q.routeNs}`,
      },
    };
  const byHost = byNs.filter((l) => routeFitsListener(l.hostname, q.hostnames));
  if (byHost.length === 0)
    return {
      listeners: [],
      problem: {
        reason: 'NoMatchingListenerHostname',
        message: `no ${listener} of gateway ${key} has a hostname that intersects ${(q.hostnames ?? []).join(', ')}`,
      },
    };
  return { listeners: byHost };
}

/** A translated route as far as attachment goes (l7/routes.ts TranslatedRoute). */
export interface AttachingRoute {
  parents: readonly {
    kind: string;
    key?: string;
    parent?: unknown;
    /** Names of the listeners the parentRef attached to (from `attach`). */
    listeners?: readonly string[];
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
        for (const n of p.listeners ?? []) names.add(n);
    for (const n of names) out[n] = (out[n] ?? 0) + 1;
  }
  return out;
}
