/**
 * How the waypoint reaches an endpoint (waypoint.md §2.4): a CONNECT over pooled HBONE to
 * `<pod IP>:15008` with `:authority <pod IP>:<target port>`, presenting the waypoint's own
 * identity; plain TCP for endpoints outside the mesh.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { HBONE_PORT } from '../../api/waypoint-config.js';
import type { HboneClient } from '../../hbone/types.js';

export interface UpstreamTarget {
  address: string;
  targetPort: number;
  tunnel: 'HBONE' | 'NONE';
  /** The endpoint's SPIFFE ID: the destination ztunnel must present it. */
  identity: string;
  /**
   * Dial this pod's HBONE port instead of `address`'s: a waypoint, with `address:targetPort`
   * (a service VIP and port) as the CONNECT's `:authority`; `identity` is then the waypoint's.
   */
  via?: string;
}

export type OpenTransport = (
  t: UpstreamTarget,
  headers?: Record<string, string>,
) => Promise<Duplex>;

export function targetKey(t: UpstreamTarget): string {
  return `${t.tunnel}|${t.address}:${t.targetPort}${t.via ? `|via ${t.via}` : ''}`;
}

export interface TransportOptions {
  hbone: HboneClient;
  /** The waypoint's identity and pod IP. */
  identity: string;
  ip: string;
  /** Port to dial for HBONE (15008; tests on one host use others). */
  hbonePort?: (address: string) => { ip: string; port: number };
  /** Plain TCP dial (tests); default net.connect. */
  dialTcp?: (ip: string, port: number) => net.Socket;
}

export function createTransport(o: TransportOptions): OpenTransport {
  return async (t, headers = {}) => {
    if (t.tunnel === 'NONE') {
      const sock = (
        o.dialTcp ?? ((ip, port) => net.connect({ host: ip, port, allowHalfOpen: true }))
      )(t.address, t.targetPort);
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
      return sock;
    }
    const pod = t.via ?? t.address;
    const dst = o.hbonePort?.(pod) ?? { ip: pod, port: HBONE_PORT };
    const { stream } = await o.hbone.connect({
      srcIdentity: o.identity,
      dstIdentities: [t.identity],
      srcIp: o.ip,
      dstIp: dst.ip,
      dstPort: dst.port,
      authority: `${t.address}:${t.targetPort}`,
      headers,
    });
    return stream;
  };
}
