/**
 * A WaypointConfig made ready for the data path: lookups by VIP:port, pod IP and service key,
 * route tables, compiled policies. Built once per config version; immutable afterwards.
 */
import type {
  WaypointConfig,
  WaypointService,
  WaypointServicePort,
  WaypointWorkload,
  WorkloadFacts,
} from '../../api/waypoint-config.js';
import { compilePolicy, type CompiledPolicy } from '../authz/compile.js';
import { buildRouteTables, type RouteTable } from '../routing/table.js';

export interface CompiledConfig {
  source: WaypointConfig;
  /** `vip:port` → the served service and its port. */
  byVip: Map<string, { service: WaypointService; port: WaypointServicePort }>;
  /** `namespace/hostname` → service (served or only referenced). */
  services: Map<string, WaypointService>;
  /** Pod IP → workload accepting workload-addressed traffic. */
  servedWorkloads: Map<string, WaypointWorkload>;
  /** Pod IP → facts of any known workload (workloads and endpoints), for telemetry. */
  peers: Map<string, WorkloadFacts>;
  tables: Map<string, RouteTable>;
  policies: CompiledPolicy[];
  /** What could not be used (bad regexes, dropped policy rules), for logs and /config_dump. */
  warnings: string[];
}

export function serviceKey(s: { namespace: string; hostname: string }): string {
  return `${s.namespace}/${s.hostname}`;
}

export function compileConfig(cfg: WaypointConfig): CompiledConfig {
  const byVip = new Map<string, { service: WaypointService; port: WaypointServicePort }>();
  const services = new Map<string, WaypointService>();
  const peers = new Map<string, WorkloadFacts>();
  const servedWorkloads = new Map<string, WaypointWorkload>();
  for (const s of cfg.services) {
    services.set(serviceKey(s), s);
    for (const e of s.endpoints) if (!peers.has(e.address)) peers.set(e.address, e);
    if (!s.serves) continue;
    for (const vip of s.vips)
      for (const p of s.ports) byVip.set(`${vip}:${p.port}`, { service: s, port: p });
  }
  for (const w of cfg.workloads) {
    for (const a of w.addresses) {
      peers.set(a, w);
      if (w.serves) servedWorkloads.set(a, w);
    }
  }
  const { tables, warnings } = buildRouteTables(cfg);
  const policies = cfg.authorizationPolicies.map(compilePolicy);
  for (const p of policies)
    for (const w of p.warnings) warnings.push(`AuthorizationPolicy ${p.key}: ${w}`);
  return { source: cfg, byVip, services, servedWorkloads, peers, tables, policies, warnings };
}
