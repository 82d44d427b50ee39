/**
 * The kernel's own trace of a packet through netfilter, per network namespace.
 *
 * Arming adds a dedicated nftables table (`ambit_trace_<tag>`, family ip) whose chains sit at
 * priority -350 in prerouting/output (before raw, mangle and nat) and set `meta nftrace 1` on
 * packets of the traced flows; every later chain the packet crosses then reports its matched
 * rules on the NFNLGRP_NFTRACE netlink group, read here with `xtables-monitor --trace`
 * (iptables syntax, the way the seeds print rules). Empty "end" chains at priority 500 on
 * prerouting and output make the kernel report the mark routing used even where no other
 * rule matched. Our table never touches anyone else's: disarming deletes it whole.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AmbitError } from '../errors.js';
import { commandLine, out, run } from './exec.js';
import { raiseNetfilterRcvbuf } from './netlink-rcvbuf.js';

/** One traced flow, matched in both directions (packets and their replies). */
export interface TraceFlow {
  proto: 'tcp' | 'udp';
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** Leave out this source port (its packets belong to another, separately limited flow). */
  exceptSport?: number;
}

/** Chains of the trace table, by hook; `arm` chains set nftrace, `end` chains only report. */
export const TRACE_CHAINS = {
  arm: { prerouting: 'pre_arm', output: 'out_arm' },
  end: {
    prerouting: 'pre_end',
    output: 'out_end',
  },
} as const;

export const TRACE_TABLE_PREFIX = 'ambit_trace_';

/** Packets traced per flow direction before the rate limit: the SYN (or SYN-ACK) and one later. */
export const TRACE_BURST = 2;

/** UDP port of the readiness probe: a datagram to 127.0.0.1 on it is traced too. */
export const PROBE_PORT = 9;

/** Receive buffer forced on each monitor's netlink socket (nft monitor's own size). */
const MONITOR_RCVBUF = 16 * 1024 * 1024;

function flowMatch(f: TraceFlow, reverse: boolean): string {
  const parts: string[] = [];
  const [src, dst, sport, dport] = reverse
    ? [f.dst, f.src, f.dport, f.sport]
    : [f.src, f.dst, f.sport, f.dport];
  if (src) parts.push(`ip saddr ${src}`);
  if (dst) parts.push(`ip daddr ${dst}`);
  parts.push(`meta l4proto ${f.proto}`);
  if (sport !== undefined) parts.push(`${f.proto} sport ${sport}`);
  if (dport !== undefined) parts.push(`${f.proto} dport ${dport}`);
  if (f.exceptSport !== undefined) {
    parts.push(`${f.proto} ${reverse ? 'dport' : 'sport'} != ${f.exceptSport}`);
  }
  return parts.join(' ');
}

/** The nft script creating the trace table for `flows` (exported for tests and --raw). */
export function traceTableScript(table: string, flows: readonly TraceFlow[]): string {
  if (!/^[A-Za-z0-9_]{1,60}$/.test(table)) {
    throw new AmbitError('TRACE_BAD_TABLE', `bad trace table name ${table}`, { value: table });
  }
  const arm: string[] = [];
  // Only the first packets of each direction are traced (then one a second): the monitor
  // reads far slower than the kernel reports, and a burst overflows its socket (ENOBUFS).
  const limit = `limit rate 1/second burst ${TRACE_BURST} packets`;
  for (const f of flows) {
    arm.push(`${flowMatch(f, false)} ${limit} meta nftrace set 1`);
    arm.push(`${flowMatch(f, true)} ${limit} meta nftrace set 1`);
  }
  arm.push(`ip daddr 127.0.0.1 udp dport ${PROBE_PORT} meta nftrace set 1`);
  const chain = (name: string, hook: string, prio: number, rules: string[]) =>
    `  chain ${name} {\n    type filter hook ${hook} priority ${prio}; policy accept;\n` +
    rules.map((r) => `    ${r}\n`).join('') +
    '  }\n';
  let s = `table ip ${table} {\n`;
  s += chain(TRACE_CHAINS.arm.prerouting, 'prerouting', -350, arm);
  s += chain(TRACE_CHAINS.arm.output, 'output', -350, arm);
  for (const [hook, name] of Object.entries(TRACE_CHAINS.end)) s += chain(name, hook, 500, []);
  return s + '}\n';
}

/** Adds the trace table to `netns` (replacing a previous one of the same name). */
export async function armTrace(
  netns: string,
  table: string,
  flows: readonly TraceFlow[],
): Promise<void> {
  await disarmTrace(netns, table);
  await run('nft', ['-f', '-'], { netns, input: traceTableScript(table, flows) });
}

/** Deletes the trace table; succeeds when it is already gone. */
export async function disarmTrace(netns: string, table: string): Promise<void> {
  await run('nft', ['delete', 'table', 'ip', table], { netns, allowFail: true });
}

/** Names of leftover trace tables in `netns` (from a run that was killed). */
export async function traceTables(netns: string): Promise<string[]> {
  const r = await run('nft', ['list', 'tables', 'ip'], { netns, allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => /^table ip (\S+)/.exec(l.trim())?.[1])
    .filter((t): t is string => !!t && t.startsWith(TRACE_TABLE_PREFIX));
}

export interface MonitorLine {
  /** Arrival order across all monitors of a capture (receipt order, not kernel order). */
  seq: number;
  netns: string;
  text: string;
}

/** A running `xtables-monitor --trace` inside one namespace. */
export class TraceMonitor {
  readonly lines: MonitorLine[] = [];
  private readonly child: ChildProcess;
  private readonly dir: string;
  private readonly file: string;
  private readonly fd: number;
  private offset = 0;
  /** poll() runs every 20 ms during a capture: one read buffer per monitor, reused. */
  private readonly chunk = Buffer.allocUnsafe(64 * 1024);
  private buf = '';
  private stderr = '';
  private exited: Promise<void>;
  private stopping = false;
  /** Set when the monitor exited before stop() asked it to. */
  died: string | undefined;

  constructor(
    readonly netns: string,
    private readonly nextSeq: () => number,
  ) {
    // The monitor writes to a file, not a pipe: a pipe fills when this process is slow to
    // read (a busy machine), the monitor then blocks writing, stops reading its netlink
    // socket, and the kernel drops events (ENOBUFS; xtables-monitor exits). A file never
    // blocks it; poll() reads what it wrote. Line-buffered (stdbuf) so a kill loses nothing.
    this.dir = mkdtempSync(join(tmpdir(), 'ambit-trace-'));
    this.file = join(this.dir, 'monitor.log');
    const wfd = openSync(this.file, 'w');
    this.fd = openSync(this.file, 'r');
    const argv = commandLine(
      'nice',
      ['-n', '-10', 'stdbuf', '-oL', 'xtables-monitor', '--trace', '--ipv4'],
      netns,
    );
    try {
      this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', wfd, 'pipe'] });
    } finally {
      closeSync(wfd);
    }
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        if (!this.stopping) this.died = `exit ${code ?? ''}${signal ?? ''}: ${this.errors}`;
        resolve();
      }),
    );
    this.child.once('error', (err) => {
      this.stderr += `cannot run xtables-monitor: ${err.message}\n`;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  /** Reads what the monitor wrote since the last poll; each line gets the next arrival seq. */
  poll(): void {
    let n: number;
    while ((n = readSync(this.fd, this.chunk, 0, this.chunk.length, this.offset)) > 0) {
      this.offset += n;
      this.buf += this.chunk.toString('utf8', 0, n);
    }
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const text = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (text.trim()) this.lines.push({ seq: this.nextSeq(), netns: this.netns, text });
    }
  }

  /** True once the monitor reported the readiness probe (so it is subscribed). */
  sawProbe(): boolean {
    this.poll();
    return this.lines.some((l) => l.text.includes(`DPORT=${PROBE_PORT} `));
  }

  get errors(): string {
    return this.stderr.trim();
  }

  /** The monitor's process id (xtables-monitor itself: ip, nice and stdbuf exec into it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Gives the monitor's netlink socket a 16 MiB receive buffer (as `nft monitor` gives its
   * own), so a burst of events waits for a slow monitor instead of being dropped. Call once
   * it is subscribed; returns a warning when it could not.
   */
  raiseBuffer(): string | undefined {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null) return undefined;
    try {
      if (raiseNetfilterRcvbuf(pid, MONITOR_RCVBUF) === 0) {
        return `monitor in ${this.netns}: no netlink socket found to enlarge`;
      }
      return undefined;
    } catch (err) {
      return `monitor in ${this.netns}: ${(err as Error).message}`;
    }
  }

  /** Stops the monitor (SIGTERM, then SIGKILL), waits for it to exit, reads the rest. */
  async stop(): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(t);
    }
    this.poll();
    if (this.buf.trim())
      this.lines.push({ seq: this.nextSeq(), netns: this.netns, text: this.buf });
    this.buf = '';
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True when `netns` has its loopback up (the readiness probe needs it). */
export async function loopbackUp(netns: string): Promise<boolean> {
  const r = await run('ip', ['-o', 'link', 'show', 'lo'], {
    netns,
    allowFail: true,
    timeoutMs: 5000,
  });
  return /[<,]UP[,>]/.test(r.stdout);
}

/** Sends one UDP datagram to 127.0.0.1:PROBE_PORT from inside `netns`. */
export async function sendProbe(netns: string): Promise<void> {
  await run('bash', ['-c', `echo probe > /dev/udp/127.0.0.1/${PROBE_PORT}`], {
    netns,
    allowFail: true,
    timeoutMs: 5000,
  });
}

export interface RouteQuery {
  dst: string;
  src?: string;
  iif?: string;
  mark?: number;
}

/** The kernel's route lookup (`ip route get`), as text; failures come back as text too. */
export async function routeGet(
  netns: string,
  q: RouteQuery,
): Promise<{ ok: boolean; text: string }> {
  const args = ['route', 'get', q.dst];
  if (q.src) args.push('from', q.src);
  if (q.iif) args.push('iif', q.iif);
  if (q.mark) args.push('mark', `0x${q.mark.toString(16)}`);
  const r = await run('ip', args, { netns, allowFail: true, timeoutMs: 5000 });
  return { ok: r.code === 0, text: (r.code === 0 ? r.stdout : r.stderr).trim() };
}

/** `ip rule show` of `netns`. */
export function ipRules(netns: string): Promise<string> {
  return out('ip', ['rule', 'show'], { netns, timeoutMs: 5000 });
}

/** `ip -j -d link show` of `netns`, parsed. */
export async function linkInfo(netns: string): Promise<unknown[]> {
  const s = await out('ip', ['-j', '-d', 'link', 'show'], { netns, timeoutMs: 5000 });
  try {
    const v: unknown = JSON.parse(s);
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

/** Other namespaces' ids as seen from `netns` (`ip netns list-id`): nsid → name. */
export async function netnsIds(netns: string): Promise<Map<number, string>> {
  const r = await run('ip', ['netns', 'list-id'], { netns, allowFail: true, timeoutMs: 5000 });
  const ids = new Map<number, string>();
  for (const l of r.stdout.split('\n')) {
    const m = /^nsid (\d+) \(iproute2 netns name: ([^)]+)\)/.exec(l.trim());
    if (m) ids.set(Number(m[1]), m[2]!);
  }
  return ids;
}

/** Conntrack entries of `netns` for TCP flows touching `ip` (with marks), as text lines. */
export async function conntrackLines(netns: string, ip: string): Promise<string[]> {
  const lines: string[] = [];
  for (const flag of ['--orig-src', '--orig-dst']) {
    const r = await run('conntrack', ['-L', '-p', 'tcp', flag, ip, '-o', 'extended'], {
      netns,
      allowFail: true,
      timeoutMs: 5000,
    });
    for (const l of r.stdout.split('\n'))
      if (l.trim() && !lines.includes(l.trim())) lines.push(l.trim());
  }
  return lines;
}

/** Named network namespaces (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const s = await out('ip', ['netns', 'list']);
  return s
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => !!n);
}
