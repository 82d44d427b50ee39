/**
 * Which xDS a waypoint may subscribe to: a caller whose service account is that of a managed
 * Gateway's proxy (`<gateway>` or `<gateway>-istio`, in the Gateway's namespace) gets its own
 * WaypointConfig and the workload Addresses, nothing else.
 */
import { TYPE_WAYPOINT_CONFIG, waypointResourceName } from '../../api/waypoint-resource.js';
import { TYPE_ADDRESS } from '../../api/workload.js';
import type { Caller } from '../auth.js';
import { classOf, deployedName } from '../gateway/classes.js';
import type { Gateway } from '../model/types.js';
import type { SubscriberScope } from '../xds/ads.js';

export function waypointScope(
  caller: Caller,
  gateways: readonly Gateway[],
): SubscriberScope | undefined {
  const gw = gateways.find((g) => {
    const info = classOf(g.spec?.gatewayClassName);
    return (
      info &&
      (g.metadata.namespace ?? 'default') === caller.namespace &&
      deployedName(g.metadata.name, info) === caller.serviceAccount
    );
  });
  if (!gw) return undefined;
  const own = waypointResourceName(caller.namespace, gw.metadata.name);
  return {
    label: `waypoint ${own}`,
    allows: (typeUrl, name) =>
      typeUrl === TYPE_ADDRESS ||
      (typeUrl === TYPE_WAYPOINT_CONFIG && (name === undefined || name === own)),
  };
}
