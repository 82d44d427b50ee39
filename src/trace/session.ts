/**
 * Trace one curl: arm the kernel trace for the client's connection (fixed source port, so
 * the tuple is known before the first packet), for everything to and from the client's
 * address (ztunnel's spoofed connection to the server), and for HBONE (port 15008); run curl
 * inside the client's namespace; return the response, the path and the raw monitor lines.
 */
import { run } from '../sys/exec.js';
import { HBONE_PORT } from '../api/ports.js';
import type { MonitorLine, TraceFlow } from '../sys/nftrace.js';
import { bpfConnections, type BpfConnection } from './bpf-path.js';
import { recordBpf, type BpfNode } from './bpf-record.js';
import { buildPath, capture } from './capture.js';
import type { TracePath } from './model.js';

export interface CurlTraceOptions {
  /** Namespaces to arm (every namespace the path may cross). */
  netns: readonly string[];
  /** Display names of namespaces (node and pod names). */
  names?: Map<string, string>;
  clientNetns: string;
  clientIp: string;
  url: string;
  /** curl's source port (default: random in 40000–49999). */
  clientPort?: number;
  hbonePort?: number;
  timeoutSeconds?: number;
  /** Nodes on the eBPF backend: their programs' ring-buffer events are recorded too. */
  bpf?: { nodes: BpfNode[]; podByIp?: Map<string, string> };
  /**
   * Runs before each traced request, before the trace is armed: `traceLive` asks the client's
   * ztunnel to release its pooled HBONE connections, so the request opens a fresh one and its
   * first packets (SYN to 15008 through istioin) are in the trace, also on a lab that has lived.
   * Before arming, because the trace rules share one small packet budget per flow pattern
   * (nftrace.ts): the old connection's GOAWAY and FINs, traced, used it up and the new SYN was
   * not traced.
   */
  beforeRequest?: () => Promise<void>;
}

export interface TraceResponse {
  /** curl's exit code (0 = a response came back). */
  exitCode: number;
  /** HTTP status, 0 when there was none. */
  status: number;
  body: string;
  stderr: string;
}

export interface TraceResult {
  response: TraceResponse;
  path: TracePath;
  raw: MonitorLine[];
  /** The eBPF programs' own account of the three connections (nodes on the eBPF backend). */
  ebpf?: BpfConnection[];
}

const STATUS_MARK = '\nambit-trace-http-status:';

export function traceFlows(
  clientIp: string,
  clientPort: number,
  hbonePort = HBONE_PORT,
): TraceFlow[] {
  return [
    { proto: 'tcp', src: clientIp, sport: clientPort },
    { proto: 'tcp', src: clientIp, exceptSport: clientPort },
    { proto: 'tcp', dport: hbonePort },
  ];
}

export async function traceCurl(o: CurlTraceOptions): Promise<TraceResult> {
  let clientPort = o.clientPort ?? 40000 + Math.floor(Math.random() * 10000);
  const timeout = o.timeoutSeconds ?? 10;
  const bpfNodes = o.bpf?.nodes ?? [];
  const traced = () =>
    capture({ netns: o.netns, flows: traceFlows(o.clientIp, clientPort, o.hbonePort) }, () =>
      run(
        'curl',
        [
          '-sS',
          '-m',
          String(timeout),
          '--local-port',
          String(clientPort),
          '-w',
          `${STATUS_MARK}%{http_code}`,
          o.url,
        ],
        { netns: o.clientNetns, allowFail: true, timeoutMs: (timeout + 5) * 1000 },
      ),
    );
  const once = async () => {
    await o.beforeRequest?.();
    if (bpfNodes.length === 0) return { ...(await traced()), bpf: undefined };
    const rec = await recordBpf(bpfNodes, traced, o.bpf?.podByIp);
    return { ...rec.result, bpf: rec };
  };
  // A monitor that fell behind lost events; the request is repeatable, the trace is not.
  let cap = await once();
  let retries = 0;
  for (; retries < 2 && cap.incomplete; retries++) {
    clientPort = clientPort >= 65000 ? 40000 : clientPort + 1; // the old tuple is in TIME_WAIT
    cap = await once();
  }
  const out = cap.result.stdout;
  const at = out.lastIndexOf(STATUS_MARK);
  const response: TraceResponse = {
    exitCode: cap.result.code,
    status: at >= 0 ? Number(out.slice(at + STATUS_MARK.length).trim()) || 0 : 0,
    body: at >= 0 ? out.slice(0, at) : out,
    stderr: cap.result.stderr.trim(),
  };
  const path = await buildPath(o.netns, cap.events, {
    clientIp: o.clientIp,
    clientPort,
    ...(o.names ? { names: o.names } : {}),
  });
  path.warnings.unshift(...cap.warnings, ...(cap.bpf?.warnings ?? []));
  if (retries > 0) {
    path.warnings.unshift(
      o.beforeRequest
        ? `traced request repeated ${retries}× after a monitor overflow`
        : `traced request repeated ${retries}× after a monitor overflow: connections pooled by the first try (HBONE) show no SYN`,
    );
  }
  const ebpf = cap.bpf
    ? bpfConnections(cap.bpf.events, {
        clientIp: o.clientIp,
        clientPort,
        hbonePort: o.hbonePort ?? HBONE_PORT,
      })
    : undefined;
  return { response, path, raw: cap.lines, ...(ebpf ? { ebpf } : {}) };
}
