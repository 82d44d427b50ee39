/**
 * Istio's tcp-echo sample (istio/tcp-echo-server): `tcp-echo <port,port…> <prefix>` listens on
 * each port and answers every line it reads with `<prefix> <line>`.
 */
import net from 'node:net';
import { AmbitError } from '../../errors.js';

export function tcpEchoServers(portsArg: string, prefix: string): net.Server[] {
  const ports = portsArg.split(',').map(Number);
  if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new AmbitError(
      'LAB_BAD_FLAG',
      `tcp-echo ports must be 1-65535, got ${JSON.stringify(portsArg)}`,
      {
        value: portsArg,
        hint: 'usage: tcp-echo 9000,9001 hello',
      },
    );
  }
  return ports.map((port) => {
    const srv = net.createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          sock.write(`${prefix} ${buf.slice(0, i + 1)}`);
          buf = buf.slice(i + 1);
        }
      });
      sock.on('end', () => {
        if (buf) sock.write(`${prefix} ${buf}`);
        sock.end();
      });
      sock.on('error', () => sock.destroy());
    });
    srv.listen(port, '0.0.0.0');
    return srv;
  });
}
