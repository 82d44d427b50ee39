/**
 * One connection from inside a pod's netns (the socket is made there, `connectInNetns`): an
 * HTTP/1.0 request, and the JSON label the far end answers with — `ztunnel` from the capture
 * listeners (with the port that took it and the original destination it saw), `httpbin` from
 * the server. Undefined when nothing answered within the timeout.
 */
import { connectInNetns } from '../src/sys/socket.js';

export interface ProbeAnswer {
  label: string;
  port?: number;
  local?: string;
}

export function probeLabel(
  netns: string,
  ip: string,
  port: number,
  timeoutMs = 2000,
): Promise<ProbeAnswer | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const s = connectInNetns(netns, ip, port);
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write('GET / HTTP/1.0\r\nHost: probe\r\n\r\n'));
    s.on('data', (d: string) => (text += d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as ProbeAnswer);
      } catch {
        resolve(undefined);
      }
    });
  });
}
