/**
 * Opens and holds many connections to an echo server, for the ztunnel scale benchmark: each
 * connection sends one byte and waits for its echo (so it is established end to end, through
 * both ztunnels), then stays open. Prints one JSON line when all are open:
 *   {"open": n, "errors": e, "ms": t}
 * Then, on a line "active <seconds> <bytes>" on stdin, every connection sends <bytes> once a
 * second for <seconds> and waits for the echo; prints {"active": n, "errors": e, "echoed": b}.
 * Closing stdin (or SIGTERM) closes every connection and exits.
 *
 *   node hold.js --host H --port P --connections N [--batch 200]
 */
import net from 'node:net';
import { createInterface } from 'node:readline';

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : def;
  if (v === undefined) {
    process.stderr.write(`hold: --${name} is required\n`);
    process.exit(2);
  }
  return v;
}

const host = arg('host');
const port = Number(arg('port'));
const total = Number(arg('connections'));
const batch = Number(arg('batch', '200'));
const sockets: net.Socket[] = [];

/** Sends `bytes` and resolves when as many came back (or rejects on error/close). */
function echo(s: net.Socket, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= bytes) done(undefined);
    };
    const onEnd = () => done(new Error('closed'));
    const done = (err: Error | undefined) => {
      s.off('data', onData);
      s.off('error', onEnd);
      s.off('close', onEnd);
      if (err) reject(err);
      else resolve();
    };
    s.on('data', onData);
    s.once('error', onEnd);
    s.once('close', onEnd);
    s.write(Buffer.alloc(bytes, 0x61));
  });
}

function open(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, noDelay: true });
    s.on('error', () => resolve(false));
    s.once('connect', () => {
      echo(s, 1).then(
        () => {
          sockets.push(s);
          resolve(true);
        },
        () => resolve(false),
      );
    });
  });
}

async function openAll(): Promise<void> {
  const t0 = performance.now();
  let errors = 0;
  for (let i = 0; i < total; i += batch) {
    const ok = await Promise.all(Array.from({ length: Math.min(batch, total - i) }, open));
    errors += ok.filter((x) => !x).length;
  }
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(JSON.stringify({ open: sockets.length, errors, ms }) + '\n');
}

async function active(seconds: number, bytes: number): Promise<void> {
  let errors = 0;
  let echoed = 0;
  for (let t = 0; t < seconds; t++) {
    const tick = performance.now();
    const r = await Promise.allSettled(sockets.map((s) => echo(s, bytes)));
    for (const x of r) {
      if (x.status === 'fulfilled') echoed += bytes;
      else errors++;
    }
    const wait = 1000 - (performance.now() - tick);
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  process.stdout.write(JSON.stringify({ active: sockets.length, errors, echoed }) + '\n');
}

function closeAll(): void {
  for (const s of sockets) s.destroy();
  process.exit(0);
}

process.on('SIGTERM', closeAll);
await openAll();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === 'active') void active(Number(a ?? 5), Number(b ?? 64));
});
rl.on('close', closeAll);
