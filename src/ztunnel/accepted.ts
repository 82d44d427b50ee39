/**
 * What the two TPROXY listeners (15001, 15006) do with every accepted socket before their own
 * logic: read the connection's 4-tuple (under TPROXY the local address is the original
 * destination), and make sure no failure escapes as an unhandled rejection or leaves the
 * client hanging.
 */
import type net from 'node:net';
import { errorMessage, type CodeOf } from '../errors.js';
import { connectionId, withFields, type Fields, type Logger } from '../log.js';
import { TCP_KEEPALIVE_MS } from '../hbone/settings.js';
import { plainIp } from './headers.js';

export interface Tuple {
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
}

/** Resets (RST), so a refused client sees the failure at once rather than a clean close. */
export function reset(s: net.Socket): void {
  if (!s.destroyed) s.resetAndDestroy();
}

/** `orig` overrides the original destination (tests without TPROXY). */
export function tupleOf(socket: net.Socket, orig?: { ip: string; port: number }): Tuple {
  return {
    srcIp: plainIp(socket.remoteAddress),
    srcPort: socket.remotePort ?? 0,
    dstIp: orig?.ip ?? plainIp(socket.localAddress),
    dstPort: orig?.port ?? socket.localPort ?? 0,
  };
}

/** Runs `proxy` for an accepted socket; any failure is logged and the client reset. */
export function guard(
  log: Logger,
  what: string,
  socket: net.Socket,
  proxy: () => Promise<void>,
): void {
  socket.on('error', () => undefined);
  socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
  proxy().catch((err: unknown) => {
    log.error(`${what} failed`, { error: errorMessage(err) });
    reset(socket);
  });
}

/** An accepted connection: its tuple, `conn=` id and logger, and how to refuse it. */
export interface Accepted extends Tuple {
  connId: string;
  log: Logger;
  /** One `refused` line (its code under `error`, the tuple, `fields`), then a reset. */
  refused(code: CodeOf<'ZTUNNEL'>, reason: string, fields?: Fields): void;
}

export function accepted(
  parent: Logger,
  socket: net.Socket,
  orig?: { ip: string; port: number },
): Accepted {
  const t = tupleOf(socket, orig);
  const connId = connectionId();
  // Made on first use: a connection that is never logged about (most of them) would keep the
  // child logger's closures for its whole life (bench/README.md, per idle connection).
  let log: Logger | undefined;
  const logger = () => (log ??= withFields(parent, { conn: connId }));
  return {
    ...t,
    connId,
    get log() {
      return logger();
    },
    refused(code, reason, fields = {}) {
      logger().warn('refused', {
        error: code,
        reason,
        src: `${t.srcIp}:${t.srcPort}`,
        dst: `${t.dstIp}:${t.dstPort}`,
        ...fields,
      });
      reset(socket);
    },
  };
}
