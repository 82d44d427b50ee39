/**
 * The xDS resource that carries a WaypointConfig (./waypoint-config.ts) from the control plane
 * to a waypoint: its type URL and resource name. One resource per waypoint, named
 * `<namespace>/<gateway name>`; a waypoint connection only ever receives its own.
 */
export const TYPE_WAYPOINT_CONFIG = 'type.googleapis.com/ambit.waypoint.WaypointConfigJson';
export const WAYPOINT_CONFIG_SCHEMA = 'ambit.waypoint.v1';

export function waypointResourceName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
