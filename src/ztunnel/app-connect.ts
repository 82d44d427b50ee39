/**
 * The last hop: ztunnel → the application, from the client's own address so the application
 * sees its real peer (IP_TRANSPARENT via src/sys/socket.ts). In direct tests (`spoof: bind`),
 * a plain bind to the client address stands in; it works only where that address is local.
 */
import net from 'node:net';
import { AmbitError } from '../errors.js';
import { TCP_KEEPALIVE_MS } from '../hbone/settings.js';
import { spoofedConnect } from '../sys/socket.js';
import type { ZtunnelConfig } from './config.js';

export function connectApp(
  config: Pick<ZtunnelConfig, 'spoof'>,
  clientIp: string | undefined,
  ip: string,
  port: number,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<net.Socket> {
  const { timeoutMs = 10_000, signal } = opts;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled(signal, ip, port));
      return;
    }
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
    s.setKeepAlive(true, TCP_KEEPALIVE_MS);
    const t = setTimeout(() => s.destroy(new Error(`connect ${ip}:${port} timed out`)), timeoutMs);
    const onAbort = () => s.destroy(cancelled(signal, ip, port));
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
    };
    s.once('connect', () => {
      settle();
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e) => {
      settle();
      reject(e);
    });
  });
}

function cancelled(signal: AbortSignal | undefined, ip: string, port: number): Error {
  const why = signal?.reason instanceof Error ? signal.reason.message : 'cancelled';
  return new AmbitError('ZTUNNEL_CONNECT_CANCELLED', `connect ${ip}:${port} cancelled: ${why}`, {
    value: `${ip}:${port}`,
    hint: 'the client went away (its stream was reset) before the application answered',
  });
}
