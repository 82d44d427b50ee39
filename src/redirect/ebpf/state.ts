/**
 * What the eBPF backend remembers across agent restarts: the node's rp_filter settings before
 * the first install (uninstall restores them), the wired ztunnel and its links, and the
 * captured pods with the veth their programs sit on.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ZtunnelTarget } from '../types.js';

export interface EbpfState {
  preinstall: { sysctls: Record<string, string> };
  ztunnel: ZtunnelTarget | null;
  /** ztunnel's host veth ifindex, its eth0 MAC and name (what ztunnel_info holds). */
  ztunnelLink?: { ifindex: number; mac: string; eth0: string };
  hostIp: string | null;
  /** ip → uid and host veth: written after the map entry and the attachments. */
  pods: Record<string, { uid: string; hostVeth: string }>;
}

export function loadState(file: string): EbpfState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as EbpfState;
  } catch {
    return undefined;
  }
}

export function saveState(file: string, s: EbpfState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  renameSync(tmp, file);
}

export function dropState(file: string): void {
  rmSync(file, { force: true });
}
