/**
 * BPF objects through bpftool: the bpf filesystem, loading an object's programs and maps as
 * pins under one directory, and reading/writing pinned maps. Pins live in the root mount
 * namespace's bpffs, so every network namespace's tc can attach the same programs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { AmbitError } from '../errors.js';
import { out, run } from './exec.js';

export const BPFFS = '/sys/fs/bpf';

/**
 * The bpffs every process of the node shares, as this process reaches it. A process started
 * with `ip netns exec` (the lab's pods, the node agent among them) has its own mount namespace
 * with a fresh /sys, so its /sys/fs/bpf is not the node's: pins made there would vanish with
 * the process and be invisible to the next agent. Then the nearest ancestor whose /sys/fs/bpf
 * is the shared one (the kubelet, in the node's mount namespace) is reached by /proc/<pid>/root.
 */
let bpffsRoot: string | undefined;

function fsType(path: string): string {
  try {
    return execFileSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function parentOf(pid: string): string | undefined {
  try {
    return /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

function sameMountNs(pid: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`) === readlinkSync('/proc/self/ns/mnt');
  } catch {
    return true;
  }
}

/** The directory that stands for the node's /sys/fs/bpf here (see above). */
export function sharedBpffs(): string {
  if (bpffsRoot) return bpffsRoot;
  if (fsType(BPFFS) === 'bpf_fs') return (bpffsRoot = BPFFS);
  let pid: string | undefined = String(process.pid);
  for (let i = 0; i < 16 && pid && pid !== '0'; i++) {
    if (!sameMountNs(pid)) {
      bpffsRoot = `/proc/${pid}/root${BPFFS}`;
      return bpffsRoot;
    }
    pid = parentOf(pid);
  }
  bpffsRoot = BPFFS;
  return bpffsRoot;
}

/** `/sys/fs/bpf/…` as this process reaches the node's shared bpffs. */
export function hostBpfPath(path: string): string {
  if (!(path === BPFFS || path.startsWith(`${BPFFS}/`))) return path;
  return sharedBpffs() + path.slice(BPFFS.length);
}

/** Mounts the bpf filesystem on the node's /sys/fs/bpf when nothing is mounted there yet. */
export async function ensureBpffs(): Promise<void> {
  const root = sharedBpffs();
  if (fsType(root) === 'bpf_fs') return;
  const pid = /^\/proc\/(\d+)\/root/.exec(root)?.[1];
  const argv = ['mount', '-t', 'bpf', 'bpf', BPFFS];
  if (pid) await run('nsenter', [`--mount=/proc/${pid}/ns/mnt`, '--', ...argv]);
  else await run(argv[0]!, argv.slice(1));
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
        hint:
          'the kernel needs CONFIG_BPF_SYSCALL and CONFIG_NET_CLS_BPF; the sk_assign object ' +
          'also bpf_sk_assign (5.7), ring buffers (5.8) and bpf_redirect_neigh (5.10)',
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

/** Many updates of one map in one bpftool process (`batch file -`, one command per line). */
export async function bpfMapUpdateMany(
  pin: string,
  entries: readonly { key: Uint8Array; value: Uint8Array }[],
): Promise<void> {
  if (entries.length === 0) return;
  const input = entries
    .map(
      (e) =>
        `map update pinned ${pin} key hex ${hex(e.key).join(' ')} value hex ${hex(e.value).join(' ')}`,
    )
    .join('\n');
  await run('bpftool', ['batch', 'file', '-'], { input: input + '\n' });
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

/**
 * The helpers tc classifiers may call on this kernel (`bpftool feature probe`: it loads a tiny
 * program per helper, so the answer is the verifier's own). Empty when bpftool cannot probe.
 */
export async function bpfClassifierHelpers(): Promise<Set<string>> {
  const r = await run('bpftool', ['-j', 'feature', 'probe', 'kernel'], {
    allowFail: true,
    timeoutMs: 30_000,
  });
  if (r.code !== 0) return new Set();
  try {
    const j = JSON.parse(r.stdout) as { helpers?: Record<string, string[]> };
    return new Set(j.helpers?.['sched_cls_available_helpers'] ?? []);
  } catch {
    return new Set();
  }
}
