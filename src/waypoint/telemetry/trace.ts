/**
 * W3C trace context (traceparent) across the waypoint hop: the trace id is kept (or started),
 * the waypoint's own span gets a new span id, and the upstream request carries it as parent.
 */
import { randomBytes } from 'node:crypto';

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

export function startSpan(incoming: string | undefined): Span {
  const parent = parseTraceparent(incoming);
  return {
    traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
    parentId: parent?.parentId,
    spanId: randomBytes(8).toString('hex'),
    sampled: parent?.sampled ?? false,
  };
}

export function traceparentOf(s: Span): string {
  return `00-${s.traceId}-${s.spanId}-${s.sampled ? '01' : '00'}`;
}
