/**
 * One trace session: arm the kernel trace in every given namespace, start a monitor in each,
 * wait until every monitor has seen a probe (so none misses the first packet), run the
 * traffic, collect, and always disarm (also on ^C). Then build the path: traversals,
 * connections, hop order, the kernel's route lookups, and conntrack marks.
 */
import { randomBytes } from 'node:crypto';
import { AmbitError } from '../errors.js';
import { createLogger } from '../log.js';
import {
  TRACE_TABLE_PREFIX,
  TraceMonitor,
  armTrace,
  conntrackLines,
  disarmTrace,
  ipRules,
  linkInfo,
  loopbackUp,
  netnsIds,
  routeGet,
  sendProbe,
  type MonitorLine,
  type TraceFlow,
} from '../sys/nftrace.js';
import { correlate, reorder } from './correlate.js';
import type { TraceEvent, TracePath } from './model.js';
import { addRoutes } from './routes.js';
import { buildTopology, type NetnsLinks } from './topology.js';
import { buildTraversals } from './traversal.js';
import { parseMonitorLines } from './xtmonitor.js';

const log = createLogger('trace');

export interface CaptureOptions {
  netns: readonly string[];
  flows: readonly TraceFlow[];
  /** How long to keep collecting after the traffic finished (default 500 ms). */
  settleMs?: number;
  /** How long to wait for every monitor to subscribe (default 8 s). */
  readyTimeoutMs?: number;
}

export interface Capture<T> {
  result: T;
  lines: MonitorLine[];
  events: TraceEvent[];
  warnings: string[];
  /** True when a monitor lost events (it stopped early, e.g. on ENOBUFS). */
  incomplete: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `action` with the kernel trace armed in `opts.netns`; always disarms. */
export async function capture<T>(
  opts: CaptureOptions,
  action: () => Promise<T>,
): Promise<Capture<T>> {
  if (opts.netns.length === 0) {
    throw new AmbitError('TRACE_NO_NETNS', 'no network namespaces to trace', {
      hint: 'is the lab up? (ambit lab status)',
    });
  }
  const table = `${TRACE_TABLE_PREFIX}${randomBytes(3).toString('hex')}`;
  let seq = 0;
  const next = () => ++seq;
  const monitors: TraceMonitor[] = [];
  const warnings: string[] = [];
  const cleanup = async () => {
    await Promise.all(monitors.map((m) => m.stop()));
    await Promise.all(opts.netns.map((n) => disarmTrace(n, table)));
  };
  const onSignal = (sig: NodeJS.Signals) => {
    void cleanup().finally(() => process.kill(process.pid, sig));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const n of opts.netns) monitors.push(new TraceMonitor(n, next));
    await Promise.all(opts.netns.map((n) => armTrace(n, table, opts.flows)));
    const probeable = new Set<string>();
    await Promise.all(opts.netns.map(async (n) => (await loopbackUp(n)) && probeable.add(n)));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 8000);
    for (;;) {
      // Without loopback nothing can be sent there; such a namespace gets the others' wait.
      const waiting = monitors.filter((m) => probeable.has(m.netns) && !m.sawProbe());
      if (waiting.length === 0) break;
      if (Date.now() > deadline) {
        for (const m of waiting) {
          warnings.push(`monitor in ${m.netns} never saw the probe: ${m.errors || 'no output'}`);
        }
        break;
      }
      await Promise.all(waiting.map((m) => sendProbe(m.netns)));
      await sleep(100);
    }
    for (const m of monitors) {
      const w = m.raiseBuffer();
      if (w) warnings.push(w);
    }
    log.debug('trace armed', { table, netns: opts.netns.length });
    // Reading the monitors' files often keeps the lines of different namespaces roughly in
    // arrival order; when this process falls behind, the monitors do not (nftrace.ts).
    const poller = setInterval(() => monitors.forEach((m) => m.poll()), 20);
    let result: T;
    try {
      result = await action();
      await sleep(opts.settleMs ?? 500);
    } finally {
      clearInterval(poller);
    }
    await cleanup();
    let incomplete = false;
    for (const m of monitors) {
      if (m.died) incomplete = true;
      if (m.died)
        warnings.push(`monitor in ${m.netns} stopped early (${m.died}); its events are incomplete`);
    }
    const lines = monitors.flatMap((m) => m.lines).sort((a, b) => a.seq - b.seq);
    return { result, lines, events: parseMonitorLines(lines), warnings, incomplete };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

export interface PathOptions {
  clientIp?: string;
  clientPort?: number;
  names?: Map<string, string>;
}

/** Turns captured events into the path, asking each namespace's kernel for routes and marks. */
export async function buildPath(
  netns: readonly string[],
  events: readonly TraceEvent[],
  o: PathOptions = {},
): Promise<TracePath> {
  const links = new Map<string, NetnsLinks>();
  await Promise.all(
    netns.map(async (n) =>
      links.set(n, {
        links: await linkInfo(n).catch(() => []),
        nsids: await netnsIds(n).catch(() => new Map<number, string>()),
      }),
    ),
  );
  const traversals = buildTraversals(events);
  const topology = buildTopology(links);
  const c = correlate(traversals, { ...o, topology });
  const warnings = traversals.flatMap((t) => t.warnings);
  warnings.push(
    ...(await addRoutes(c, {
      routeGet: (n, q) => routeGet(n, q),
      rules: (n) => ipRules(n),
    })),
  );
  reorder(c, topology, o.names);
  for (const conn of c.connections) {
    const [ip, port] = conn.client.split(':');
    const seen = new Set<string>();
    for (const h of conn.packets.flatMap((p) => p.hops)) {
      if (seen.has(h.netns) || !ip) continue;
      seen.add(h.netns);
      for (const line of await conntrackLines(h.netns, ip)) {
        if (line.includes(`sport=${port} `)) conn.conntrack.push({ netns: h.name, line });
      }
    }
  }
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.netns, (counts.get(e.netns) ?? 0) + 1);
  return {
    connections: c.connections,
    namespaces: netns.map((n) => ({
      netns: n,
      name: o.names?.get(n) ?? n,
      events: counts.get(n) ?? 0,
    })),
    warnings,
  };
}
