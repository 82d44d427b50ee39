/**
 * The last hop: ztunnel → the application, from the client's own address so the application
 * sees its real peer (IP_TRANSPARENT via src/sys/socket.ts). In direct tests (`spoof: bind`),
 * a plain bind to the client address stands in; it works only where that address is local.
 */
import net from 'node:net';
import { spoofedConnect } from '../sys/socket.js';
import type { ZtunnelConfig } from './config.js';

export function connectApp(
  config: Pick<ZtunnelConfig, 'spoof'>,
  clientIp: string | undefined,
  ip: string,
  port: number,
  timeoutMs = 10_000,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let s: net.Socket;
    try {
      // Hairpin (client == destination) cannot be spoofed: the kernel would see its own address.
      if (!clientIp || clientIp === ip) s = net.connect({ host: ip, port, allowHalfOpen: true });
      else if (config.spoof === 'transparent') s = spoofedConnect(clientIp, ip, port);
      else s = net.connect({ host: ip, port, localAddress: clientIp, allowHalfOpen: true });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    s.allowHalfOpen = true;
    s.setNoDelay(true);
    const t = setTimeout(() => s.destroy(new Error(`connect ${ip}:${port} timed out`)), timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}
