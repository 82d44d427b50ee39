/**
 * The L7 bench's server: HTTP/1.1 on --port, HTTP/2 cleartext (prior knowledge) on --port + 1.
 * A GET answers 200 with `x-size` bytes (default 1024: Istio's 1 KB payload); a gRPC POST
 * (content-type application/grpc) answers its own message back with grpc-status 0.
 *
 *   node dist/bench/l7-server.js [--host 0.0.0.0] [--port 8080]
 */
import http from 'node:http';
import http2 from 'node:http2';

const MAX_SIZE = 1 << 20;

function bodyOf(size: string | string[] | undefined): Buffer {
  const n = Number(Array.isArray(size) ? size[0] : (size ?? 1024));
  return Buffer.alloc(Number.isInteger(n) && n >= 0 && n <= MAX_SIZE ? n : 1024, 0x62);
}

export interface L7Servers {
  h1Port: number;
  h2Port: number;
  close(): Promise<void>;
}

export async function startL7Servers(host: string, port: number): Promise<L7Servers> {
  const h1 = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const body = bodyOf(req.headers['x-size']);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': body.length,
      });
      res.end(body);
    });
  });
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('end', () => {
      if (String(headers['content-type'] ?? '').startsWith('application/grpc')) {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc' },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.concat(chunks));
        return;
      }
      const body = bodyOf(headers['x-size']);
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      stream.end(body);
    });
  });
  const listen = (s: http.Server | http2.Http2Server, p: number) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(p, host, () => resolve((s.address() as { port: number }).port));
    });
  const h1Port = await listen(h1, port);
  const h2Port = await listen(h2, port === 0 ? 0 : port + 1);
  return {
    h1Port,
    h2Port,
    close: async () => {
      h1.closeAllConnections();
      await Promise.all([new Promise((r) => h1.close(r)), new Promise((r) => h2.close(r))]);
    },
  };
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await startL7Servers(arg('host', '0.0.0.0'), Number(arg('port', '8080')));
  process.stdout.write(`l7-server h1 :${s.h1Port} h2c :${s.h2Port}\n`);
}
