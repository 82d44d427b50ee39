/**
 * BPF objects through bpftool: the bpf filesystem, loading an object's programs and maps as
 * pins under one directory, and reading/writing pinned maps. Pins live in the root mount
 * namespace's bpffs, so every network namespace's tc can attach the same programs.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { AmbitError } from '../errors.js';
import { out, run } from './exec.js';

export const BPFFS = '/sys/fs/bpf';

/** Mounts the bpf filesystem on /sys/fs/bpf when nothing is mounted there yet. */
export async function ensureBpffs(): Promise<void> {
  const t = await run('stat', ['-f', '-c', '%T', BPFFS], { allowFail: true });
  if (t.stdout.trim() === 'bpf_fs') return;
  await run('mount', ['-t', 'bpf', 'bpf', BPFFS]);
}

/**
 * Loads every program of `object` (pinned as `<progDir>/<function name>`) and its maps
 * (`<mapDir>/<map name>`), as tc classifiers.
 */
export async function bpfLoadAll(object: string, progDir: string, mapDir: string): Promise<void> {
  if (!existsSync(object)) {
    throw new AmbitError('BPF_NO_OBJECT', `eBPF object ${object} not built`, {
      value: object,
      hint: 'run `bash scripts/install.sh` (or scripts/build-bpf.sh): it compiles bpf/ with clang',
    });
  }
  mkdirSync(progDir.replace(/\/[^/]+$/, ''), { recursive: true });
  const r = await run(
    'bpftool',
    ['prog', 'loadall', object, progDir, 'type', 'classifier', 'pinmaps', mapDir],
    { allowFail: true },
  );
  if (r.code !== 0) {
    rmSync(progDir, { recursive: true, force: true });
    rmSync(mapDir, { recursive: true, force: true });
    throw new AmbitError(
      'BPF_LOAD_FAILED',
      `bpftool could not load ${object}: ${r.stderr.trim()}`,
      {
        value: object,
        hint: 'the kernel needs CONFIG_BPF_SYSCALL, CONFIG_NET_CLS_BPF and bpf_sk_assign (5.7+)',
      },
    );
  }
}

const hex = (b: Uint8Array): string[] => [...b].map((x) => x.toString(16).padStart(2, '0'));

export async function bpfMapUpdate(pin: string, key: Uint8Array, value: Uint8Array): Promise<void> {
  await run('bpftool', [
    'map',
    'update',
    'pinned',
    pin,
    'key',
    'hex',
    ...hex(key),
    'value',
    'hex',
    ...hex(value),
  ]);
}

export async function bpfMapDelete(pin: string, key: Uint8Array): Promise<void> {
  await run('bpftool', ['map', 'delete', 'pinned', pin, 'key', 'hex', ...hex(key)], {
    allowFail: true,
  });
}

export interface MapEntry {
  key: Uint8Array;
  /** One value, or one per CPU for per-CPU maps. */
  values: Uint8Array[];
}

const bytes = (a: string[]): Uint8Array => Uint8Array.from(a.map((x) => Number(x)));

/** Every entry of a pinned map (raw bytes). */
export async function bpfMapDump(pin: string): Promise<MapEntry[]> {
  const text = await out('bpftool', ['-j', 'map', 'dump', 'pinned', pin]);
  const rows = JSON.parse(text || '[]') as {
    key: string[];
    value?: string[];
    values?: { value: string[] }[];
  }[];
  return rows.map((r) => ({
    key: bytes(r.key),
    values: r.values ? r.values.map((v) => bytes(v.value)) : [bytes(r.value ?? [])],
  }));
}

export interface ProgInfo {
  id: number;
  name: string;
  tag: string;
  run_cnt?: number;
}

/** The program pinned at `pin` (id, name, tag). */
export async function bpfProgInfo(pin: string): Promise<ProgInfo | undefined> {
  const r = await run('bpftool', ['-j', 'prog', 'show', 'pinned', pin], { allowFail: true });
  return r.code === 0 ? (JSON.parse(r.stdout) as ProgInfo) : undefined;
}

/** Removes a pin directory (programs stay alive while a tc filter still holds them). */
export function bpfUnpin(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
