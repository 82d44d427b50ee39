/** The redirection backends by name: what `--redirect` and the mesh install select per node. */
import { AmbitError } from '../errors.js';
import type { Logger } from '../log.js';
import { join } from 'node:path';
import { BPFFS } from '../sys/bpf.js';
import { EbpfBackend } from './ebpf/backend.js';
import type { TproxySetting } from './ebpf/tproxy-mode.js';
import { IptablesBackend } from './iptables/backend.js';
import type { AgentPaths } from './paths.js';
import type { RedirectBackend } from './types.js';

export const REDIRECT_MODES = ['iptables', 'ebpf'] as const;
export type RedirectMode = (typeof REDIRECT_MODES)[number];

export function parseRedirectMode(v: string | undefined): RedirectMode {
  const mode = v ?? 'iptables';
  if (!(REDIRECT_MODES as readonly string[]).includes(mode)) {
    throw new AmbitError('REDIRECT_BAD_MODE', `unknown redirect mode ${mode}`, {
      value: mode,
      hint: `use one of: ${REDIRECT_MODES.join(', ')}`,
    });
  }
  return mode as RedirectMode;
}

export interface BackendContext {
  /** The node's netns when the caller does not run inside it; undefined = this process's. */
  netns?: string;
  paths: AgentPaths;
  lab: string;
  node: string;
  log?: Logger;
  /** The eBPF backend's way to ztunnel's sockets (`--ebpf-tproxy`); default auto. */
  ebpfTproxy?: TproxySetting;
}

/** Where a node's eBPF programs and maps are pinned: one directory per lab, one per node. */
export const ebpfPinDir = (lab: string, node: string): string => join(BPFFS, `ambit-${lab}`, node);

/** The backend state file of `mode` (exists while that backend has something installed). */
export const stateFileOf = (mode: RedirectMode, paths: AgentPaths): string =>
  mode === 'ebpf' ? paths.ebpfStateFile : paths.stateFile;

export function createBackend(mode: RedirectMode, c: BackendContext): RedirectBackend {
  switch (mode) {
    case 'iptables':
      return new IptablesBackend({
        netns: c.netns,
        stateFile: c.paths.stateFile,
        log: c.log?.child('iptables'),
      });
    case 'ebpf':
      return new EbpfBackend({
        netns: c.netns,
        stateFile: c.paths.ebpfStateFile,
        pinDir: ebpfPinDir(c.lab, c.node),
        log: c.log?.child('ebpf'),
        tproxy: c.ebpfTproxy,
      });
  }
}
