/**
 * A long-lived client for fault tests: one keep-alive HTTP/1.1 connection, a GET every
 * `everyMs`, until the file `stopFile` exists or `maxMs` passed. Run as a program inside a pod's
 * namespace (`node keepalive-client.js <json options>`); prints one JSON line: requests, how
 * many answered 200, and the local ports used (one port = one connection throughout).
 */
import { existsSync } from 'node:fs';
import http from 'node:http';

export interface KeepaliveOptions {
  url: string;
  everyMs: number;
  maxMs: number;
  stopFile: string;
}

export interface KeepaliveResult {
  requests: number;
  ok: number;
  ports: number[];
  errors: string[];
}

export async function keepalive(o: KeepaliveOptions): Promise<KeepaliveResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const res: KeepaliveResult = { requests: 0, ok: 0, ports: [], errors: [] };
  const deadline = Date.now() + o.maxMs;
  while (Date.now() < deadline && !(res.requests > 0 && existsSync(o.stopFile))) {
    res.requests++;
    await new Promise<void>((resolve) => {
      const req = http.get(o.url, { agent, timeout: 5_000 }, (r) => {
        const port = r.socket.localPort ?? 0;
        if (!res.ports.includes(port)) res.ports.push(port);
        if (r.statusCode === 200) res.ok++;
        r.resume();
        r.on('end', () => resolve());
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        res.errors.push(e.message);
        resolve();
      });
    });
    // Idle until the next request, but stop as soon as the stop file appears.
    const next = Date.now() + o.everyMs;
    while (Date.now() < next && !existsSync(o.stopFile))
      await new Promise((r) => setTimeout(r, Math.min(200, o.everyMs)));
  }
  agent.destroy();
  return res;
}

if (process.argv[1]?.endsWith('keepalive-client.js') && process.argv[2]) {
  void keepalive(JSON.parse(process.argv[2]) as KeepaliveOptions).then((r) =>
    console.log(JSON.stringify(r)),
  );
}
