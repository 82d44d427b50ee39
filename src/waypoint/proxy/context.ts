/** What the request pipeline needs: the connection it arrived on and the waypoint's services. */
import type { Logger } from '../../log.js';
import type { CompiledConfig } from '../config/compiled.js';
import type { Destination } from '../destination.js';
import type { WaypointMetrics } from '../telemetry/metrics.js';
import type { UpstreamPool } from '../upstream/pool.js';

export interface ConnContext {
  /** Sequence number of the CONNECT, for logs. */
  id: number;
  dest: Destination;
  /** `:authority` of the CONNECT (the original destination). */
  authority: string;
  /** Client workload identity (HBONE peer certificate). */
  peerPrincipal: string;
  /** Client workload IP (the CONNECT's `forwarded for=`, else the HBONE peer). */
  clientIp: string;
  /** The HBONE peer (the client's ztunnel) address. */
  peerAddress: string;
}

export interface ProxyDeps {
  config(): CompiledConfig | undefined;
  pool: UpstreamPool;
  metrics: WaypointMetrics;
  accessLog(line: string): void;
  log: Logger;
}
