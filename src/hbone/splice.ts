/**
 * Joins a CONNECT stream to the TCP connection it tunnels, preserving TCP semantics across the
 * tunnel: FIN ↔ END_STREAM, TCP RST ↔ RST_STREAM(CONNECT_ERROR) (RFC 9113 §8.5).
 */
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { forward } from '../relay/write-batch.js';

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/** Works for either end of the tunnel: a server stream or a client stream. */
export function splice(
  stream: Duplex & { close?: (code?: number) => void; rstCode?: number },
  upstream: Duplex,
): void {
  // Node ends the readable side of a stream for a received RST_STREAM too (even NO_ERROR, what
  // a plain destroy() sends), so the upstream FIN is sent by hand, never for an aborted stream.
  let aborted = false;
  forward(stream, upstream);
  upstream.pipe(stream);
  const resetUpstream = () => {
    if (upstream.destroyed) return;
    const sock = upstream as Duplex & { resetAndDestroy?: () => void };
    if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
    else upstream.destroy();
  };
  stream.on('aborted', () => {
    aborted = true;
    resetUpstream();
  });
  stream.on('end', () => {
    if (!aborted && (stream.rstCode ?? NGHTTP2_NO_ERROR) === NGHTTP2_NO_ERROR) upstream.end();
  });
  stream.on('error', resetUpstream);
  stream.on('close', () => {
    const clean =
      !aborted && (stream.rstCode ?? NGHTTP2_NO_ERROR) === NGHTTP2_NO_ERROR && stream.readableEnded;
    if (!clean) resetUpstream();
  });
  upstream.on('error', () => {
    if (!stream.destroyed) stream.close?.(NGHTTP2_CONNECT_ERROR);
    stream.destroy();
  });
  upstream.on('close', () => {
    if (!stream.destroyed && !upstream.readableEnded) stream.close?.(NGHTTP2_CONNECT_ERROR);
  });
}
