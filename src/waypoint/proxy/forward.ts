/**
 * Sends a request to a backend service with the rule's timeouts and retries (waypoint.md §4.2):
 * `backendRequestMs` bounds each attempt, `requestMs` the whole exchange (504 when either runs
 * out before a response); retries on connect failures and resets before a response, and on the
 * policy's status codes, only while the request body is replayable. Without a retry policy the
 * mesh default applies: 2 retries on connect failure, reset and 503.
 */
import type { RetryPolicy, WaypointService } from '../../api/waypoint-config.js';
import type { HeaderMap } from '../routing/filters.js';
import type { UpstreamPool } from '../upstream/pool.js';
import {
  AttemptError,
  sendAttempt,
  type UpstreamRequest,
  type UpstreamResponse,
} from './attempt.js';
import { Cancel, type CancelSignal } from './cancel.js';
import { type Chosen, chooseEndpoint } from './endpoints.js';

export const DEFAULT_RETRY: RetryPolicy = { codes: [503], attempts: 2, backoffMs: 25 };

export interface ForwardRequest extends UpstreamRequest {
  service: WaypointService;
  servicePort: number;
  retry?: RetryPolicy;
  backendRequestMs?: number;
  /** Aborted when the whole-request timeout fires or the client goes away. */
  signal: CancelSignal;
  /** Called per attempt with the endpoint it goes to (traceparent, `x-envoy-attempt-count`). */
  beforeAttempt?: (attempt: number, c: Chosen, headers: HeaderMap) => void;
}

export type ForwardResult =
  | { ok: true; response: UpstreamResponse; chosen: Chosen; attempts: number; upstreamMs: number }
  | {
      ok: false;
      status: number;
      flags: string;
      details: string;
      chosen?: Chosen;
      attempts: number;
    };

const sleep = (ms: number, signal: CancelSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

function drain(r: UpstreamResponse): void {
  r.body.resume();
  r.body.on('error', () => undefined);
}

export async function forward(pool: UpstreamPool, f: ForwardRequest): Promise<ForwardResult> {
  const policy = f.retry ?? DEFAULT_RETRY;
  const used = new Set<string>();
  let last: ForwardResult = {
    ok: false,
    status: 503,
    flags: 'UH',
    details: 'no_healthy_upstream',
    attempts: 0,
  };
  for (let attempt = 1; attempt <= 1 + Math.max(0, policy.attempts); attempt++) {
    if (f.signal.aborted) break;
    const chosen = chooseEndpoint(f.service, f.servicePort, used);
    if (!chosen) return { ...last, attempts: attempt - 1 };
    used.add(chosen.endpoint.address);
    // The attempt copies the headers into its request; a hook that edits them gets its own.
    const headers = f.beforeAttempt ? { ...f.headers } : f.headers;
    f.beforeAttempt?.(attempt, chosen, headers);
    const ac = new Cancel();
    const onOuter = () => ac.abort(f.signal.reason);
    f.signal.addEventListener('abort', onOuter, { once: true });
    const timer =
      f.backendRequestMs && f.backendRequestMs > 0
        ? setTimeout(
            () => ac.abort(new AttemptError('timeout', 'backend request timeout')),
            f.backendRequestMs,
          )
        : undefined;
    const t0 = performance.now();
    try {
      const response = await sendAttempt(pool, {
        target: chosen.target,
        protocol: f.protocol,
        method: f.method,
        path: f.path,
        authority: f.authority,
        headers,
        body: f.body,
        signal: ac.signal,
      });
      const retriable =
        policy.codes.includes(response.status) && f.body.complete && attempt <= policy.attempts;
      if (!retriable) {
        // The per-attempt timeout keeps running until the response ends (GEP-1742).
        if (timer) response.body.once('close', () => clearTimeout(timer));
        f.signal.removeEventListener('abort', onOuter);
        if (timer) ac.signal.addEventListener('abort', () => response.abort(), { once: true });
        return {
          ok: true,
          response,
          chosen,
          attempts: attempt,
          upstreamMs: performance.now() - t0,
        };
      }
      clearTimeout(timer);
      drain(response);
      f.body.detach();
      last = {
        ok: false,
        status: response.status,
        flags: 'URX',
        details: 'retry_limit_exceeded',
        chosen,
        attempts: attempt,
      };
    } catch (err) {
      clearTimeout(timer);
      f.body.detach();
      const e = err instanceof AttemptError ? err : new AttemptError('reset', String(err));
      if (e.kind === 'timeout') {
        last = {
          ok: false,
          status: 504,
          flags: 'UT',
          details: 'upstream_response_timeout',
          chosen,
          attempts: attempt,
        };
        if (!f.body.complete) return last;
      } else if (e.kind === 'cancelled') {
        return {
          ok: false,
          status: 504,
          flags: 'UT',
          details: 'request_timeout',
          chosen,
          attempts: attempt,
        };
      } else {
        last = {
          ok: false,
          status: 503,
          flags: e.kind === 'connect' ? 'UF' : 'UC',
          details:
            e.kind === 'connect'
              ? `upstream_reset_before_response_started{connection_failure}`
              : `upstream_reset_before_response_started{connection_termination}`,
          chosen,
          attempts: attempt,
        };
        // A body already (partly) sent and not kept cannot be sent again.
        if (!f.body.replayable || f.body.aborted) return last;
      }
    } finally {
      f.signal.removeEventListener('abort', onOuter);
    }
    if (attempt <= policy.attempts && policy.backoffMs)
      await sleep(policy.backoffMs * 2 ** (attempt - 1), f.signal);
  }
  if (f.signal.aborted && !last.ok && last.status !== 504) {
    const reason: unknown = f.signal.reason;
    if (reason instanceof AttemptError && reason.kind === 'timeout')
      return {
        ok: false,
        status: 504,
        flags: 'UT',
        details: 'request_timeout',
        attempts: last.attempts,
      };
  }
  return last;
}
