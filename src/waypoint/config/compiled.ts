/**
 * A WaypointConfig made ready for the data path: lookups by VIP:port, pod IP and service key,
 * route tables, compiled policies. Built once per config version; immutable afterwards.
 */
import type {
  WaypointConfig,
  WaypointSelf,
  WaypointService,
  WaypointServicePort,
  WaypointWorkload,
  WorkloadFacts,
} from '../../api/waypoint-config.js';
import { compilePolicy, type CompiledPolicy } from '../authz/compile.js';
import { buildRouteTables, ingressHostname, type RouteTable } from '../routing/table.js';

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
  /**
   * Ingress gateways only: listener port → the gateway itself as the served "service" of
   * that port (its route table holds the routes whose parent is the Gateway).
   */
  listeners: Map<number, { service: WaypointService; port: WaypointServicePort }>;
  tables: Map<string, RouteTable>;
  policies: CompiledPolicy[];
  /** What could not be used (bad regexes, dropped policy rules), for logs and /config_dump. */
  warnings: string[];
}

export function serviceKey(s: { namespace: string; hostname: string }): string {
  return `${s.namespace}/${s.hostname}`;
}

/**
 * An ingress gateway as the destination of what it takes on its listeners: its own Service
 * (`<gateway>-istio`, no endpoints of its own), one port per listener: HTTP (HTTP and HTTPS
 * listeners, decrypted first), or TCP, which connection.ts hands to the TCP path (tcp.ts).
 */
export function listenerService(self: WaypointSelf): WaypointService {
  return {
    name: `${self.name}-istio`,
    namespace: self.namespace,
    hostname: ingressHostname(self),
    vips: [],
    ports: (self.listeners ?? []).map((l) => ({
      port: l.port,
      name: l.name,
      protocol: l.protocol === 'TCP' ? 'TCP' : 'HTTP',
    })),
    serves: true,
    endpoints: [],
  };
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
  const listeners = new Map<number, { service: WaypointService; port: WaypointServicePort }>();
  if (cfg.waypoint.role === 'ingress') {
    const self = listenerService(cfg.waypoint);
    services.set(serviceKey(self), self);
    for (const p of self.ports) listeners.set(p.port, { service: self, port: p });
  }
  const { tables, warnings } = buildRouteTables(cfg);
  const policies = cfg.authorizationPolicies.map(compilePolicy);
  for (const p of policies)
    for (const w of p.warnings) warnings.push(`AuthorizationPolicy ${p.key}: ${w}`);
  return {
    source: cfg,
    byVip,
    services,
    servedWorkloads,
    peers,
    listeners,
    tables,
    policies,
    warnings,
  };
}
