/**
 * Small helpers the direct and netns tests share: listening on an ephemeral port, a free port,
 * polling for a condition with a bound, and one request/response over a duplex stream.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

type Listenable = Pick<net.Server, 'once' | 'listen' | 'address'>;

/** Listens on `host:port` (0: any free port) and resolves with the port it got. */
export function listen(server: Listenable, host = '127.0.0.1', port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** A port that was free a moment ago on `host` (for a child process that binds it itself). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  const port = await listen(s, host);
  await closeServer(s);
  return port;
}

export function closeServer(s: Pick<net.Server, 'close'>): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/**
 * Polls `check` every `everyMs` until it returns a truthy value (returned) or `ms` pass; then
 * fails naming `what` and the last error `check` threw. Bounded, so a test never hangs here.
 */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms = 10_000,
  everyMs = 20,
): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= until) break;
    await sleep(everyMs);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Writes `text`, ends the stream, and resolves with everything read until the peer's end. */
export function roundTrip(stream: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (got += d));
    stream.once('end', () => resolve(got));
    stream.once('error', reject);
    stream.end(text);
  });
}

/**
 * A TCP front for `targetPort` that accepts its first connection and leaves it silent (as a SYN
 * whose conntrack entry lost its DNAT is: no answer, no error) and pipes every later one through.
 */
export async function silentFirstFront(
  targetPort: number,
): Promise<{ port: number; held: () => number; close: () => Promise<void> }> {
  const held: net.Socket[] = [];
  const piped: net.Socket[] = [];
  const front = net.createServer((s) => {
    if (held.length === 0) {
      held.push(s);
      return;
    }
    const up = net.connect(targetPort, '127.0.0.1');
    piped.push(s, up);
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  const port = await listen(front);
  return {
    port,
    held: () => held.length,
    close: async () => {
      for (const x of [...held, ...piped]) x.destroy();
      await closeServer(front);
    },
  };
}
