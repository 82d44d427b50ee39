/**
 * `ambit lab app echo [flags]`: the echo server behind the images of Istio's echo app and the
 * Gateway API conformance `echo-advanced` image (docs/istio/gamma-conformance.md §2–3), with
 * their flags: `--port P` (repeatable; HTTP, default 8080), `--grpc P` (repeatable; the first
 * is served, default 7070), `--tcp P` (the first is served), `--tls P` (ports of `--port` that
 * are HTTPS), `--crt F --key F` (a self-signed pair when absent), `--version V`. Both
 * `--flag=value` and `--flag value` are accepted.
 */
import { AmbitError } from '../../errors.js';
import { stopSignal } from '../../daemon.js';
import { createLogger } from '../../log.js';
import { startEcho } from './echo.js';
import { echoTlsPair } from './echo-tls.js';

const REPEATED = ['port', 'grpc', 'tcp', 'tls'];
const SINGLE = ['crt', 'key', 'version', 'cluster', 'istio-version'];

export interface EchoFlags {
  port: number[];
  grpc: number[];
  tcp: number[];
  tls: number[];
  crt?: string;
  key?: string;
  version?: string;
}

function portValue(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new AmbitError('CLI_BAD_VALUE', `--${flag} must be a port number, got ${v}`, {
      value: v,
      hint: 'e.g. --port=8080',
    });
  return n;
}

export function parseEchoFlags(args: readonly string[]): EchoFlags {
  const lists: Record<string, number[]> = { port: [], grpc: [], tcp: [], tls: [] };
  const single: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(a);
    const name = m?.[1];
    if (!m || !name || (!REPEATED.includes(name) && !SINGLE.includes(name)))
      throw new AmbitError('CLI_BAD_VALUE', `echo: unknown argument ${a}`, {
        value: a,
        hint: `flags: ${[...REPEATED, ...SINGLE].map((f) => `--${f}`).join(' ')}`,
      });
    const v = m[2] ?? args[++i];
    if (v === undefined)
      throw new AmbitError('CLI_MISSING_VALUE', `flag --${name} needs a value`, { value: a });
    if (REPEATED.includes(name)) lists[name]!.push(portValue(name, v));
    else single[name] = v;
  }
  return {
    port: lists.port!.length > 0 ? lists.port! : [8080],
    grpc: lists.grpc!.length > 0 ? lists.grpc! : [7070],
    tcp: lists.tcp!,
    tls: lists.tls!,
    crt: single.crt,
    key: single.key,
    version: single.version,
  };
}

export async function runEcho(args: string[]): Promise<number> {
  const f = parseEchoFlags(args);
  const log = createLogger('echo');
  const hostname = process.env.POD_NAME ?? process.env.HOSTNAME ?? 'echo';
  const tlsPorts = f.port.filter((p) => f.tls.includes(p));
  const srv = await startEcho({
    host: '0.0.0.0',
    httpPorts: f.port.filter((p) => !f.tls.includes(p)),
    tlsPorts,
    tls: tlsPorts.length > 0 ? await echoTlsPair(hostname, f.crt, f.key) : undefined,
    grpcPort: f.grpc[0],
    tcpPort: f.tcp[0],
    hostname,
    version: f.version,
    log,
  });
  await stopSignal();
  await srv.close();
  return 0;
}
