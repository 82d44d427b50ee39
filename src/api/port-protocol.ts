/**
 * Istio's protocol selection for a Service port (docs/istio/waypoint.md §2.2): `appProtocol` wins, else
 * the port name's prefix before the first `-` (`http-web` → http). Shared by the control plane
 * (which fills `WaypointServicePort.protocol`) and the waypoint (for ports it was not told about).
 */
import type { PortProtocol } from './waypoint-config.js';

const BY_NAME: Record<string, PortProtocol> = {
  http: 'HTTP',
  'http-proxy': 'HTTP',
  'kubernetes.io/ws': 'HTTP',
  'kubernetes.io/wss': 'TLS',
  http2: 'HTTP2',
  h2c: 'HTTP2',
  'kubernetes.io/h2c': 'HTTP2',
  grpc: 'GRPC',
  'grpc-web': 'HTTP2',
  https: 'TLS',
  tls: 'TLS',
  tcp: 'TCP',
  mongo: 'TCP',
  mysql: 'TCP',
  redis: 'TCP',
};

/** Protocol of a port from its `appProtocol` and name; `UNKNOWN` means "sniff". */
export function portProtocol(name: string | undefined, appProtocol?: string): PortProtocol {
  if (appProtocol) {
    const p = BY_NAME[appProtocol.toLowerCase()];
    if (p) return p;
  }
  if (name) {
    const lower = name.toLowerCase();
    // grpc-web is a whole protocol name; everything else is `<protocol>[-<suffix>]`.
    if (lower === 'grpc-web' || lower.startsWith('grpc-web-')) return 'HTTP2';
    const prefix = lower.split('-')[0] ?? '';
    const p = BY_NAME[prefix];
    if (p) return p;
  }
  return 'UNKNOWN';
}
