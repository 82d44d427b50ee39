/**
 * Conveniences for HBONE server handlers that tunnel to a TCP socket (ztunnel's inbound), on top
 * of the raw hand-off in `types.ts` (`HboneRequest`): answer 200 and splice into a duplex, or
 * wrap a decide-then-splice function as a handler.
 */
import type { Duplex } from 'node:stream';
import { abort, splice, streamResetError, type SpliceResult } from '../relay/splice.js';
import type { HboneHandler, HboneRequest } from './types.js';

/**
 * Answers 200 (+ `headers`) and copies between the stream and `upstream` until both are done.
 * When the stream is already gone (the peer reset it while the handler was dialling), `upstream`
 * is reset and the result carries why.
 */
export function acceptAndSplice(
  req: HboneRequest,
  upstream: Duplex,
  headers?: Record<string, string>,
): Promise<SpliceResult> {
  if (!req.accept(headers)) {
    abort(upstream);
    const error =
      req.stream.rstCode !== undefined && req.stream.rstCode !== 0
        ? streamResetError(req.stream.rstCode)
        : new Error('the CONNECT stream closed before it was answered');
    return Promise.resolve({ up: 0, down: 0, error });
  }
  return splice(req.stream, upstream);
}

/** What a decide-then-splice handler answers: a refusal, or 200 and the duplex to splice. */
export interface SpliceDecision {
  status: number;
  headers?: Record<string, string>;
  upstream?: Duplex;
  reason?: string;
}

/**
 * A handler from a function that decides and, for 200, returns the upstream to splice (the
 * shape simple servers and tests want). 200 without an upstream is answered 503.
 */
export function decideThenSplice(
  decide: (req: HboneRequest) => Promise<SpliceDecision> | SpliceDecision,
): HboneHandler {
  return async (req) => {
    const answer = await decide(req);
    if (answer.status !== 200 || !answer.upstream) {
      answer.upstream?.destroy();
      req.refuse(answer.status === 200 ? 503 : answer.status, answer.reason);
      return;
    }
    await acceptAndSplice(req, answer.upstream, answer.headers);
  };
}
