/**
 * `ambit trace`: the kernel's own account of a connection's path, hop by hop.
 *
 *   ambit trace --live <pod> <url> [--lab N] [-n ns] [--port P] [--json] [--raw]
 *   ambit trace --cleanup [--lab N]     remove trace tables (and eBPF event switches) left by a killed run
 */
import { AmbitError } from '../errors.js';
import { disarmTrace, listNetns, traceTables } from '../sys/nftrace.js';
import { traceLive } from '../trace/live.js';
import { renderPath } from '../trace/render.js';
import { renderBpfConnections } from '../trace/bpf-path.js';
import { bpfNodesOf, stopBpfTracing } from '../trace/bpf-record.js';
import { nodeNetns } from '../redirect/paths.js';

export const USAGE = `usage: ambit trace --live <pod> <url> [--lab N] [-n namespace] [--port P] [--json] [--raw]
       ambit trace --cleanup [--lab N]

Runs curl <url> from <pod> with the kernel's netfilter trace armed in every lab namespace,
and prints the response and the path of the first packet, the first reply and later packets
of each TCP connection (client → ztunnel, HBONE, ztunnel → server), hop by hop. On nodes
whose agent runs the eBPF backend, the programs' own per-packet events (ring buffer) too.
  --json   the path as JSON      --raw   also the raw xtables-monitor events`;

interface Args {
  live: boolean;
  cleanup: boolean;
  json: boolean;
  raw: boolean;
  lab: string;
  namespace: string;
  port?: number;
  positional: string[];
}

function parse(args: string[]): Args {
  const a: Args = {
    live: false,
    cleanup: false,
    json: false,
    raw: false,
    lab: 'ambit',
    namespace: 'default',
    positional: [],
  };
  for (let i = 0; i < args.length; i++) {
    const t = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) {
        throw new AmbitError('TRACE_USAGE', `${t} needs a value`, { value: t, hint: USAGE });
      }
      return v;
    };
    if (t === '--live') a.live = true;
    else if (t === '--cleanup') a.cleanup = true;
    else if (t === '--json') a.json = true;
    else if (t === '--raw') a.raw = true;
    else if (t === '--lab') a.lab = value();
    else if (t === '-n' || t === '--namespace') a.namespace = value();
    else if (t === '--port') {
      const p = Number(value());
      if (!Number.isInteger(p) || p < 1024 || p > 65535) {
        throw new AmbitError('TRACE_BAD_PORT', `bad source port ${p}`, {
          value: p,
          hint: 'use 1024–65535',
        });
      }
      a.port = p;
    } else if (t.startsWith('-')) {
      throw new AmbitError('TRACE_USAGE', `unknown option ${t}`, { value: t, hint: USAGE });
    } else a.positional.push(t);
  }
  return a;
}

export async function run(args: string[]): Promise<number> {
  if (args.length === 0 || args.includes('-h') || args.includes('--help')) {
    console.log(USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const a = parse(args);
  if (a.cleanup) {
    let n = 0;
    for (const ns of (await listNetns()).filter((x) => x.startsWith(`${a.lab}-`))) {
      for (const t of await traceTables(ns)) {
        await disarmTrace(ns, t);
        n++;
      }
    }
    console.log(`removed ${n} trace table(s)`);
    const bpf = bpfNodesOf(
      a.lab,
      (node) => nodeNetns(a.lab, node),
      () => undefined,
    );
    if (bpf.length) {
      await stopBpfTracing(bpf);
      console.log(`eBPF events switched off on ${bpf.map((b) => b.node).join(', ')}`);
    }
    return 0;
  }
  const [pod, url] = a.positional;
  if (!a.live || !pod || !url) {
    console.error(USAGE);
    return 2;
  }
  const r = await traceLive({
    pod,
    url,
    lab: a.lab,
    namespace: a.namespace,
    ...(a.port ? { clientPort: a.port } : {}),
  });
  if (a.json) {
    const view = { response: r.response, path: r.path, ...(r.ebpf ? { ebpf: r.ebpf } : {}) };
    console.log(JSON.stringify(a.raw ? r : view, null, 2));
  } else {
    if (a.raw) for (const l of r.raw) console.log(`${l.seq}\t${l.netns}\t${l.text}`);
    console.log(
      `response: ${r.response.status || 'none'}${r.response.exitCode ? ` (curl exit ${r.response.exitCode}: ${r.response.stderr})` : ''}`,
    );
    if (r.response.body) console.log(r.response.body.trimEnd());
    console.log('');
    console.log(renderPath(r.path));
    if (r.ebpf) {
      console.log('');
      console.log("The eBPF programs' own events (ring buffer, per node):");
      console.log(renderBpfConnections(r.ebpf).join('\n'));
    }
  }
  const events = r.path.namespaces.reduce((s, n) => s + n.events, 0);
  return r.response.exitCode === 0 && events > 0 ? 0 : 1;
}
