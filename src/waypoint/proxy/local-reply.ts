/**
 * Answers the waypoint gives itself (403 RBAC, 404 no route, 500, 503, 504, redirects). gRPC
 * clients get them as trailers-only responses with the mapped grpc-status, as Envoy does.
 */
import type { Exchange } from '../http/exchange.js';
import type { HeaderMap } from '../routing/filters.js';

/** HTTP status → gRPC status code (Envoy's mapping; grpc/doc/http-grpc-status-mapping.md). */
export function grpcStatusFor(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

export function localReply(
  x: Exchange,
  grpc: boolean,
  status: number,
  body: string,
  headers: HeaderMap = {},
): void {
  if (x.responded) {
    x.abort();
    return;
  }
  if (grpc && status >= 400) {
    x.respond(
      200,
      {
        ...headers,
        'content-type': 'application/grpc',
        'grpc-status': String(grpcStatusFor(status)),
        'grpc-message': encodeURIComponent(body),
      },
      true,
    );
    return;
  }
  const buf = Buffer.from(body);
  x.respond(
    status,
    { 'content-type': 'text/plain', 'content-length': String(buf.length), ...headers },
    buf.length === 0,
  );
  if (buf.length > 0) {
    x.sink.write(buf);
    x.finish();
  }
}
