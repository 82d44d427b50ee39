/**
 * TCPRoute → the waypoint's TCP route (src/api/waypoint-config.ts `TcpRoute`), as Istio does for
 * waypoints (docs/istio/waypoint.md §2.7: TCP routes with weighted backends): the same GAMMA
 * parents and backend resolution as HTTPRoute (routes.ts). The API allows one rule; a route
 * written with more (v1alpha2 allowed 16) uses the first and says so in its Accepted condition.
 */
import type { TcpRoute } from '../../api/waypoint-config.js';
import type { Gateway } from '../model/types.js';
import type { TCPRoute } from '../model/routes-types.js';
import {
  backends,
  Collector,
  translated,
  type RouteContext,
  type TranslatedRoute,
} from './routes.js';

export function translateTcpRoute(
  r: TCPRoute,
  ctx: RouteContext,
  gateways: ReadonlyMap<string, Gateway>,
): TranslatedRoute<TcpRoute> {
  const ns = r.metadata.namespace ?? 'default';
  const c = new Collector('TCPRoute');
  const rules = r.spec?.rules ?? [];
  if (rules.length === 0) c.reject('UnsupportedValue', 'spec.rules: a TCPRoute needs one rule');
  if (rules.length > 1)
    c.reject(
      'UnsupportedValue',
      `spec.rules: a TCPRoute takes one rule, this one has ${rules.length}`,
    );
  const refs = rules[0]?.backendRefs ?? [];
  if (rules.length > 0 && refs.length === 0)
    c.reject('UnsupportedValue', 'spec.rules[0].backendRefs: at least one backend is required');
  const body = { backends: backends(refs, ns, ctx, c, 'spec.rules[0]') };
  return translated<TcpRoute>('TCPRoute', r, ns, body, c, ctx, gateways);
}
