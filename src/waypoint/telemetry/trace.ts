/**
 * W3C trace context (traceparent) across the waypoint hop: the trace id is kept (or started),
 * the waypoint's own span gets a new span id, and the upstream request carries it as parent.
 */
import { randomFillSync } from 'node:crypto';

export interface Span {
  traceId: string;
  /** The waypoint's span. */
  spanId: string;
  /** The client's span, when the request carried one. */
  parentId?: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function parseTraceparent(h: string | undefined): Omit<Span, 'spanId'> | undefined {
  const m = h ? TRACEPARENT.exec(h.trim().toLowerCase()) : null;
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, parentId: m[3]!, sampled: (parseInt(m[4]!, 16) & 1) === 1 };
}

/**
 * Random ids from a pool refilled 4 KiB at a time: two `randomBytes` calls per request (a
 * native call and a Buffer each) were 2–3 % of the waypoint's CPU under load.
 */
const pool = Buffer.allocUnsafe(4096);
let used = pool.length;

export function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const s = pool.toString('hex', used, used + bytes);
  used += bytes;
  return s;
}

export function startSpan(incoming: string | undefined): Span {
  const parent = incoming ? parseTraceparent(incoming) : undefined;
  return {
    traceId: parent?.traceId ?? randomHex(16),
    parentId: parent?.parentId,
    spanId: randomHex(8),
    sampled: parent?.sampled ?? false,
  };
}

export function traceparentOf(s: Span): string {
  return `00-${s.traceId}-${s.spanId}-${s.sampled ? '01' : '00'}`;
}
