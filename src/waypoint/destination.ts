/**
 * What a CONNECT addresses (waypoint.md §2.2): `:authority` is a served service's `VIP:port`,
 * or a served workload's `podIP:port` (waypoint-for workload/all). Anything else is refused.
 */
import type {
  WaypointService,
  WaypointServicePort,
  WaypointWorkload,
} from '../api/waypoint-config.js';
import type { CompiledConfig } from './config/compiled.js';

export type Destination =
  | {
      kind: 'service';
      ip: string;
      port: number;
      service: WaypointService;
      servicePort: WaypointServicePort;
    }
  | { kind: 'workload'; ip: string; port: number; workload: WaypointWorkload };

export type Resolution =
  { ok: true; dest: Destination } | { ok: false; status: number; reason: string };

export function parseIpPort(a: string): { ip: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(a);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535 || m[1]!.split('.').some((o) => Number(o) > 255)) return undefined;
  return { ip: m[1]!, port };
}

export function resolveDestination(cfg: CompiledConfig | undefined, authority: string): Resolution {
  const ap = parseIpPort(authority);
  if (!ap) return { ok: false, status: 400, reason: `bad :authority ${authority}` };
  if (!cfg) return { ok: false, status: 503, reason: 'no config yet' };
  const svc = cfg.byVip.get(authority);
  if (svc)
    return {
      ok: true,
      dest: { kind: 'service', ...ap, service: svc.service, servicePort: svc.port },
    };
  const w = cfg.servedWorkloads.get(ap.ip);
  if (w) return { ok: true, dest: { kind: 'workload', ...ap, workload: w } };
  return { ok: false, status: 400, reason: `${authority} is not served by this waypoint` };
}
