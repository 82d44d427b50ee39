/**
 * The mesh conformance client re-created with the machine's curl (docs/istio/gamma-conformance.md
 * §1, §5): one `sh -c` per attempt runs every pending case three times in a row inside the client
 * pod; each case is compared as upstream's mesh comparer does (status, request headers the backend
 * reports joined with a bare comma, absent request/response headers, response headers, backend by
 * pod-name prefix) and, stricter, on the backend's `URL=` line and the redirect `Location`.
 * gRPC cases send one `proto.EchoTestService/Echo` frame with curl's HTTP/2 prior knowledge; the
 * status is the `grpc-status` trailer (0 counts as 200, as upstream maps it).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeMessage } from '../../src/lab/apps/echo.js';
import type { GammaLab } from './gamma-lab.js';

export interface MeshCase {
  name: string;
  /** Path and query (default `/`). */
  path?: string;
  /** URL authority (default `echo`; gRPC default `echo:7070`). */
  host?: string;
  method?: string;
  /** Request headers; `Host` sets the Host header. */
  headers?: [string, string][];
  status?: number;
  backend?: string;
  reqHeaders?: Record<string, string>;
  absentReq?: string[];
  resHeaders?: Record<string, string>;
  absentRes?: string[];
  /** The backend's `URL=` line. */
  url?: string;
  /** Accepted `Location` values. */
  location?: string[];
  grpc?: boolean;
  /** A substring of the response body (e.g. `RBAC: access denied`). */
  body?: string;
}

export interface Client {
  lab: GammaLab;
  ns: string;
  pod: string;
  /** A host directory (the pod shares the machine's filesystem) for request bodies. */
  dir: string;
}

const self = fileURLToPath(import.meta.url);
const grpcClient = join(self, '..', `gamma-grpc-client${self.endsWith('.ts') ? '.ts' : '.js'}`);

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function grpcBody(dir: string, message = 'HelloWorld'): string {
  const pb = encodeMessage(message);
  const frame = Buffer.alloc(5 + pb.length);
  frame.writeUInt32BE(pb.length, 1);
  pb.copy(frame, 5);
  const file = join(dir, 'echo-req.bin');
  writeFileSync(file, frame);
  return file;
}

export function curlArgs(c: MeshCase, dir: string): string {
  const a = ['curl', '-sS', '-m', '10', '-D', '-', '-o', '-', '-w', q('\n@@STATUS %{http_code}\n')];
  if (c.method) a.push('-X', q(c.method));
  for (const [k, v] of c.headers ?? []) a.push('-H', q(`${k}: ${v}`));
  if (c.grpc) {
    a.push('--http2-prior-knowledge', '-H', q('content-type: application/grpc'));
    a.push('-H', q('te: trailers'), '--data-binary', q(`@${grpcBody(dir)}`));
    a.push(q(`http://${c.host ?? 'echo:7070'}${c.path ?? '/proto.EchoTestService/Echo'}`));
  } else a.push(q(`http://${c.host ?? 'echo'}${c.path ?? '/'}`));
  return a.join(' ');
}

export interface Reply {
  status: number;
  headers: [string, string][];
  body: string;
}

export function parseReply(chunk: string, grpc: boolean): Reply {
  const m = /\n@@STATUS (\d+)\s*$/.exec(chunk);
  const text = m ? chunk.slice(0, m.index) : chunk;
  const split = text.indexOf('\r\n\r\n');
  const head = split >= 0 ? text.slice(0, split) : text;
  const body = split >= 0 ? text.slice(split + 4) : '';
  const headers: [string, string][] = [];
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  let status = m ? Number(m[1]) : 0;
  if (grpc) {
    const g = /grpc-status: ?(\d+)/i.exec(text);
    status = g ? (g[1] === '0' ? 200 : 1000 + Number(g[1])) : 0;
  }
  return { status, headers, body };
}

/** Values of a request header as the backend reports them (`RequestHeader=Name:value` lines). */
export function seen(body: string, name: string): string[] {
  const out: string[] = [];
  for (const m of body.matchAll(/RequestHeader=([^:\r\n]+):([^\r\n]*)/g))
    if (m[1]!.toLowerCase() === name.toLowerCase()) out.push(m[2]!);
  return out;
}

export const field = (body: string, key: string): string | undefined =>
  new RegExp(`${key}=([^\\r\\n]*)`).exec(body)?.[1];

/** Mismatches of one reply against its case (empty = pass). */
export function compare(c: MeshCase, r: Reply): string[] {
  const bad: string[] = [];
  const want = c.status ?? 200;
  if (r.status !== want) bad.push(`status ${r.status}, want ${want}`);
  for (const [k, v] of Object.entries(c.reqHeaders ?? {})) {
    const got = seen(r.body, k).join(',');
    if (got !== v) bad.push(`backend saw ${k}=${JSON.stringify(got)}, want ${JSON.stringify(v)}`);
  }
  for (const k of c.absentReq ?? [])
    if (seen(r.body, k).length > 0) bad.push(`backend saw ${k}, want absent`);
  const res = (k: string) => r.headers.filter(([n]) => n === k.toLowerCase()).map(([, v]) => v);
  for (const [k, v] of Object.entries(c.resHeaders ?? {}))
    if (res(k).join(',') !== v) bad.push(`response ${k}=${JSON.stringify(res(k))}, want ${v}`);
  for (const k of c.absentRes ?? [])
    if (res(k).length > 0) bad.push(`response has ${k}, want absent`);
  if (c.body !== undefined && !r.body.includes(c.body))
    bad.push(`body ${JSON.stringify(r.body.slice(0, 80))}, want it to include ${c.body}`);
  const host = field(r.body, 'Hostname') ?? '';
  if (c.backend && !host.startsWith(c.backend)) bad.push(`backend ${host}, want ${c.backend}`);
  if (c.url !== undefined && field(r.body, 'URL') !== c.url)
    bad.push(`backend URL ${field(r.body, 'URL')}, want ${c.url}`);
  if (c.location && !c.location.includes(res('location')[0] ?? ''))
    bad.push(`location ${res('location')[0]}, want one of ${c.location.join(' ')}`);
  return bad;
}

/**
 * The harness's consistency rule: a case passes after 3 consecutive successes; after a failed
 * attempt wait 1 s; give up after `ms` (upstream: 30 s; the default here allows for a shared,
 * loaded machine). Returns the failures: case name → what its last attempt got.
 */
export async function runCases(
  client: Client,
  cases: MeshCase[],
  ms = 60_000,
): Promise<Record<string, string[]>> {
  const deadline = Date.now() + ms;
  let pending = cases.map((c, i) => ({ c, i }));
  const last: Record<string, string[]> = {};
  let attempt = 0;
  while (pending.length > 0) {
    // Cases run side by side (as upstream runs a test's cases in parallel), each one's three
    // requests back to back; outputs are kept apart and printed in order.
    const run = join(client.dir, `r${Date.now()}-${attempt++}`);
    const script =
      `mkdir -p ${run}\n` +
      pending
        .map(({ c, i }) => {
          const reps = [0, 1, 2].map(
            (rep) => `printf '\\n@@BEGIN ${i} ${rep}\\n'; ${curlArgs(c, client.dir)}`,
          );
          return `( ${reps.join('; ')} ) > ${run}/${i}.out 2>&1 &`;
        })
        .join('\n') +
      `\nwait; cat ${pending.map(({ i }) => `${run}/${i}.out`).join(' ')}`;
    const out = await client.lab.sh(client.ns, client.pod, script);
    const results = new Map<number, string[][]>();
    for (const chunk of out.stdout.split('\n@@BEGIN ').slice(1)) {
      const nl = chunk.indexOf('\n');
      const i = Number(chunk.slice(0, nl).split(' ')[0]);
      const c = cases[i]!;
      (results.get(i) ?? results.set(i, []).get(i)!).push(
        compare(c, parseReply(chunk.slice(nl + 1), c.grpc ?? false)),
      );
    }
    pending = pending.filter(({ c, i }) => {
      const reps = results.get(i) ?? [];
      const failed = reps.find((b) => b.length > 0);
      if (reps.length === 3 && !failed) {
        delete last[c.name];
        return false;
      }
      last[c.name] = failed ?? [`no reply (${out.stderr.trim().slice(-200)})`];
      return true;
    });
    if (pending.length === 0 || Date.now() > deadline) break;
    await sleep(1000);
  }
  return last;
}

/**
 * One weighted batch (docs/istio/gamma-conformance.md §1 "Weighted tests"): `total` requests,
 * 20 in flight, each client process reusing its connection (HTTP: 20 curls of total/20 URLs;
 * gRPC: gamma-grpc-client.ts, every call on one HTTP/2 connection, because curl 7.88 cannot
 * reuse a prior-knowledge connection). Backend name = Hostname
 * without its last two `-` parts. Returns counts per backend.
 */
export async function weightBatch(
  client: Client,
  grpc: boolean,
  total = 500,
): Promise<Record<string, number>> {
  const out = join(client.dir, `w${Date.now()}`);
  let script: string;
  if (grpc) {
    const node = [process.execPath, ...(grpcClient.endsWith('.ts') ? ['--import', 'tsx'] : [])];
    script = `${node.join(' ')} ${grpcClient} echo:7070 --count ${total}`;
  } else {
    const per = total / 20;
    script =
      `mkdir -p ${out} && for p in $(seq 20); do ` +
      `curl -sS -m 10 'http://echo/#[1-${per}]' -o "${out}/$p-#1" & done; wait; cat ${out}/*`;
  }
  const r = await client.lab.sh(client.ns, client.pod, script, 180_000);
  if (grpc && !r.stdout.endsWith('connections=1\n'))
    throw new Error(`the gRPC batch did not use exactly one connection: ${r.stdout.slice(-200)}`);
  const counts: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/Hostname=([^\s]+)/g)) {
    const backend = m[1]!.split('-').slice(0, -2).join('-');
    counts[backend] = (counts[backend] ?? 0) + 1;
  }
  return counts;
}

/** Upstream's weight check: exact total, only expected backends, each share within ±0.05. */
export function weightOk(
  counts: Record<string, number>,
  want: Record<string, number>,
  total = 500,
): string | undefined {
  const n = Object.values(counts).reduce((a, b) => a + b, 0);
  if (n !== total) return `${n} responses, want ${total}`;
  const sum = Object.values(want).reduce((a, b) => a + b, 0);
  for (const b of Object.keys(counts)) if (!want[b]) return `traffic to unexpected backend ${b}`;
  for (const [b, w] of Object.entries(want)) {
    const share = (counts[b] ?? 0) / total;
    if (Math.abs(share - w / sum) > 0.05) return `${b} got ${share}, want ${w / sum} ± 0.05`;
  }
  return undefined;
}
