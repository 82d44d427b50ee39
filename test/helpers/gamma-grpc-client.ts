/**
 * A small gRPC client on node:http2, run inside a lab pod (`ambit lab exec … node <this file>`)
 * for what curl 7.88 cannot do: many calls on ONE HTTP/2 connection (its prior-knowledge
 * connection reuse fails with "Error in the HTTP2 framing layer"). Like Istio's echo client
 * for `grpc://` URLs (docs/istio/gamma-conformance.md §3.3): `Echo` with message HelloWorld,
 * metadata `x-request-id=<index>`, at most 20 calls in flight, all on one connection. Prints,
 * per call, `[i] StatusCode=<200 for grpc-status 0, else 1000+status>` and the reply's lines
 * prefixed `[i body] `; the last line is `connections=1`.
 *   node gamma-grpc-client.js <host:port> [--count N]
 */
import http2 from 'node:http2';
import { decodeMessage, encodeMessage } from '../../src/lab/apps/echo-proto.js';

function frame(message: string): Buffer {
  const pb = encodeMessage(message);
  const out = Buffer.alloc(5 + pb.length);
  out.writeUInt32BE(pb.length, 1);
  pb.copy(out, 5);
  return out;
}

function call(session: http2.ClientHttp2Session, i: number): Promise<string> {
  return new Promise((resolve) => {
    const req = session.request({
      ':method': 'POST',
      ':path': '/proto.EchoTestService/Echo',
      'content-type': 'application/grpc',
      te: 'trailers',
      'x-request-id': String(i),
    });
    const chunks: Buffer[] = [];
    let status = '';
    req.on('response', (h) => (status = String(h['grpc-status'] ?? status)));
    req.on('trailers', (h) => (status = String(h['grpc-status'] ?? status)));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (e: Error) => resolve(`[${i}] StatusCode=0\n[${i}] Error=${e.message}\n`));
    req.on('end', () => {
      const buf = Buffer.concat(chunks);
      const text = buf.length > 5 ? decodeMessage(buf.subarray(5)) : '';
      const code = status === '0' ? 200 : 1000 + Number(status || 2);
      const body = text
        .split('\n')
        .filter(Boolean)
        .map((l) => `[${i} body] ${l}\n`)
        .join('');
      resolve(`[${i}] StatusCode=${code}\n${body}\n`);
    });
    req.end(frame('HelloWorld'));
  });
}

async function main(): Promise<void> {
  const [target, ...rest] = process.argv.slice(2);
  const at = rest.indexOf('--count');
  const count = at >= 0 ? Number(rest[at + 1]) : 1;
  const session = http2.connect(`http://${target}`);
  let connections = 0;
  session.on('connect', () => connections++);
  session.on('error', (e) => process.stderr.write(`session error: ${e.message}\n`));
  const out: string[] = new Array<string>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await call(session, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(20, count) }, worker));
  process.stdout.write(out.join('') + `connections=${connections}\n`);
  session.close();
}

await main();
