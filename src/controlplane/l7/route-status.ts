/**
 * Route status (Gateway API `status.parents[]`): per parentRef, `Accepted` and `ResolvedRefs`
 * with the standard reasons, under our controller name; other controllers' entries are kept.
 * Written through the status subresource only when something but transition times changed,
 * so our own writes coming back as watch events settle at once. Passes never overlap.
 */
import { errorMessage } from '../../errors.js';
import type { KubeClient } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { Logger } from '../../log.js';
import type { Condition } from '../model/condition.js';
import type { GRPCRoute, HTTPRoute, RouteParentStatus, TCPRoute } from '../model/routes-types.js';
import { ROUTE_CONTROLLER, type TranslatedRoute } from './routes.js';
import { kubeTime } from '../../k8s/time.js';
import { SerialQueue } from '../../serial.js';

type Route = HTTPRoute | GRPCRoute | TCPRoute;
const RESOURCE = {
  HTTPRoute: resources.httproutes,
  GRPCRoute: resources.grpcroutes,
  TCPRoute: resources.tcproutes,
} as const;

export function routeParentStatuses(
  t: TranslatedRoute<unknown>,
  prev: RouteParentStatus[] | undefined,
  at = kubeTime(),
): RouteParentStatus[] {
  return t.parents.map((p) => {
    const old = prev?.find(
      (x) =>
        x.controllerName === ROUTE_CONTROLLER &&
        JSON.stringify(x.parentRef) === JSON.stringify(p.ref),
    );
    const cond = (type: string, ok: boolean, reason: string, message: string): Condition => {
      const status = ok ? 'True' : 'False';
      const was = old?.conditions.find((c) => c.type === type);
      return {
        type,
        status,
        reason,
        message,
        observedGeneration: t.generation,
        lastTransitionTime:
          was && was.status === status && was.lastTransitionTime ? was.lastTransitionTime : at,
      };
    };
    const bad = p.problem ?? t.problems.accepted;
    return {
      parentRef: p.ref,
      controllerName: ROUTE_CONTROLLER,
      conditions: [
        bad
          ? cond('Accepted', false, bad.reason, bad.message)
          : cond('Accepted', true, 'Accepted', 'Route was valid'),
        t.problems.refs
          ? cond('ResolvedRefs', false, t.problems.refs.reason, t.problems.refs.message)
          : cond('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved'),
      ],
    };
  });
}

const strip = (v: unknown) =>
  JSON.stringify(v ?? [], (k, x: unknown) => (k === 'lastTransitionTime' ? undefined : x));

export class RouteStatusWriter {
  private readonly passes = new SerialQueue();

  constructor(
    private readonly kube: KubeClient,
    private readonly log: Logger,
  ) {}

  write(
    routes: readonly TranslatedRoute<unknown>[],
    current: (kind: string, ns: string, name: string) => Route | undefined,
  ): Promise<void> {
    return this.passes
      .run(() => this.pass(routes, current))
      .catch((err: unknown) =>
        this.log.error('route status pass failed', { error: errorMessage(err) }),
      );
  }

  private async pass(
    routes: readonly TranslatedRoute<unknown>[],
    current: (kind: string, ns: string, name: string) => Route | undefined,
  ): Promise<void> {
    for (const t of routes) {
      const obj = current(t.kind, t.namespace, t.name);
      if (!obj) continue;
      const prev = obj.status?.parents ?? [];
      const ours = routeParentStatuses(t, prev);
      const next = [...prev.filter((p) => p.controllerName !== ROUTE_CONTROLLER), ...ours];
      if (strip(next) === strip(prev)) continue;
      try {
        await this.kube.patch(
          RESOURCE[t.kind],
          t.name,
          { status: { parents: next } },
          { namespace: t.namespace, type: 'merge', subresource: 'status' },
        );
      } catch (err) {
        this.log.warn('cannot write route status', {
          route: `${t.kind} ${t.namespace}/${t.name}`,
          error: errorMessage(err),
        });
      }
    }
  }
}
