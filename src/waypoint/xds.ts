/**
 * The waypoint's config over delta xDS: the subscription to WAYPOINT_CONFIG_TYPE
 * (src/xds/waypoint-codec.ts, one resource named `<namespace>/<gateway>`) that feeds the ConfigStore. A config that does not validate or compile is NACKed
 * and the store keeps its last good one; a removal is logged and ignored (the waypoint keeps
 * serving what it has until the control plane says otherwise).
 */
import { waypointResourceName } from '../api/waypoint-resource.js';
import type { Logger } from '../log.js';
import { subscribe, type XdsSubscription } from '../xds/resource-type.js';
import { WAYPOINT_CONFIG_TYPE } from '../xds/waypoint-codec.js';
import { compileConfig } from './config/compiled.js';
import type { ConfigStore } from './config/store.js';
import { validateConfig } from './config/validate.js';

export function waypointSubscription(
  store: ConfigStore,
  own: { namespace: string; name: string },
  log: Logger,
): XdsSubscription<unknown> {
  const ownName = waypointResourceName(own.namespace, own.name);
  return subscribe(WAYPOINT_CONFIG_TYPE, {
    validate(u) {
      // Everything apply() would reject is NACKed instead, naming the problem.
      for (const cfg of u.added) compileConfig(validateConfig(cfg));
    },
    onUpdate(u) {
      for (const cfg of u.added) {
        const name = WAYPOINT_CONFIG_TYPE.name(cfg);
        if (name !== ownName) {
          log.warn('ignoring the config of another waypoint', { name, own: ownName });
          continue;
        }
        try {
          store.apply(cfg);
        } catch {
          // Logged by the store; the last good config keeps serving.
        }
      }
      if (u.removed.includes(ownName))
        log.warn('control plane removed this waypoint config; keeping the last one', {
          name: ownName,
        });
    },
  });
}
