/**
 * What the iptables backend must remember across agent restarts: the node's state before the
 * first install (so uninstall can return to it exactly) and what it installed last. Kept in a
 * StateFile (../state-file.ts).
 */
import type { ZtunnelTarget } from '../types.js';

export interface PersistedState {
  preinstall: { tables: string[]; sysctls: Record<string, string> };
  ztunnel: ZtunnelTarget | null;
  hostIp: string | null;
  tunnel: { kind: string; port: number } | null;
  /** The captured pods, ip → uid: written after their rules (absent in older files). */
  pods?: Record<string, string>;
}
