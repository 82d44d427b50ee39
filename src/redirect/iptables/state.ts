/**
 * What the iptables backend must remember across agent restarts: the node's state before the
 * first install (so uninstall can return to it exactly) and what it installed last.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ZtunnelTarget } from '../types.js';

export interface PersistedState {
  preinstall: { tables: string[]; sysctls: Record<string, string> };
  ztunnel: ZtunnelTarget | null;
  hostIp: string | null;
  tunnel: { kind: string; port: number } | null;
  /** The captured pods, ip → uid: written after their rules (absent in older files). */
  pods?: Record<string, string>;
}

export function loadState(file: string): PersistedState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PersistedState;
  } catch {
    return undefined;
  }
}

export function saveState(file: string, s: PersistedState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  renameSync(tmp, file);
}

export function dropState(file: string): void {
  rmSync(file, { force: true });
}
