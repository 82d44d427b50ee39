/**
 * What the eBPF backend remembers across agent restarts: the node's rp_filter settings before
 * the first install (uninstall restores them), the wired ztunnel and its links, and the
 * captured pods with the veth their programs sit on. Kept in a StateFile (../state-file.ts).
 */
import type { ZtunnelTarget } from '../types.js';
import type { TproxyMode } from './maps.js';

export interface EbpfState {
  preinstall: { sysctls: Record<string, string> };
  ztunnel: ZtunnelTarget | null;
  /** ztunnel's host veth ifindex, its eth0 MAC and name (what ztunnel_info holds). */
  ztunnelLink?: { ifindex: number; mac: string; eth0: string };
  hostIp: string | null;
  /** ip → uid and host veth: written after the map entry and the attachments. */
  pods: Record<string, { uid: string; hostVeth: string }>;
  /** How packets reach ztunnel's sockets (absent in records older than the fallback). */
  tproxy?: TproxyMode;
}
