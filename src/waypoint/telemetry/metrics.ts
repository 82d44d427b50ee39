/**
 * Istio's standard metrics as a waypoint reports them (waypoint.md §5.1): request count,
 * duration and sizes with `reporter="waypoint"`, source labels from the client workload,
 * destination labels from the chosen endpoint; TCP connection metrics for TCP traffic.
 */
import type { WorkloadFacts } from '../../api/waypoint-config.js';
import { memoryMetricLines } from '../../runtime/memory.js';
import {
  Counter,
  type CounterSeries,
  Histogram,
  type HistogramSeries,
  type Labels,
} from './registry.js';

/** Envoy's default histogram buckets, in ms. */
const DURATION_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
];
/** Byte sizes: decades from 1 B to 100 MB. */
const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

const u = (v: string | undefined) => (v ? v : 'unknown');

export function peerLabels(
  prefix: 'source' | 'destination',
  w: WorkloadFacts | undefined,
  principal?: string,
): Labels {
  return {
    [`${prefix}_workload`]: u(w?.workloadName),
    [`${prefix}_workload_namespace`]: u(w?.namespace),
    [`${prefix}_principal`]: u(principal ?? w?.identity),
    [`${prefix}_app`]: u(w?.app),
    [`${prefix}_version`]: u(w?.version),
    [`${prefix}_canonical_service`]: u(w?.canonicalName),
    [`${prefix}_canonical_revision`]: u(w?.canonicalRevision),
    [`${prefix}_cluster`]: u(w?.clusterId),
  };
}

export interface RequestRecord {
  source?: WorkloadFacts;
  sourcePrincipal: string;
  destination?: WorkloadFacts;
  /** The service the request went to (backend), when any. */
  service?: { hostname: string; name: string; namespace: string };
  protocol: 'http' | 'grpc';
  status: number;
  grpcStatus?: string;
  flags: string;
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
}

export interface TcpRecord {
  source?: WorkloadFacts;
  sourcePrincipal: string;
  destination?: WorkloadFacts;
  service?: { hostname: string; name: string; namespace: string };
  flags: string;
}

/**
 * Who reports: a waypoint reports the whole hop as `reporter="waypoint"` with the client as
 * source; an ingress gateway reports as the client proxy it is (`reporter="source"`, itself as
 * the source workload), as Istio's gateways do.
 */
export type ReporterRole =
  { kind: 'waypoint' } | { kind: 'gateway'; self?: WorkloadFacts; principal: string };

/** Facts of an ingress not listed among its peers: its Deployment is named as its account. */
function ownFacts(
  w: { role?: string; namespace?: string; name?: string },
  identity: string,
): WorkloadFacts | undefined {
  const sa = /\/sa\/([^/]+)$/.exec(identity)?.[1];
  if (!sa || !w.namespace) return undefined;
  return {
    uid: '',
    name: sa,
    namespace: w.namespace,
    identity,
    serviceAccount: sa,
    node: '',
    workloadName: sa,
    canonicalName: sa,
    canonicalRevision: 'latest',
    app: '',
    version: '',
    clusterId: '',
  };
}

/** The role a config gives: an ingress reports as itself (its own entry among the peers, by IP). */
export function reporterRole(
  cfg: {
    source: { waypoint: { role?: string; namespace?: string; name?: string } };
    peers: Map<string, WorkloadFacts>;
  },
  ip: string,
  identity: string,
): ReporterRole {
  if (cfg.source.waypoint.role !== 'ingress') return { kind: 'waypoint' };
  const self = cfg.peers.get(ip) ?? ownFacts(cfg.source.waypoint, identity);
  return { kind: 'gateway', self, principal: identity };
}

/** The four series one request updates, found once per distinct label set. */
interface RequestSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
  requestBytes: HistogramSeries;
  responseBytes: HistogramSeries;
}

const factsKeys = new WeakMap<WorkloadFacts, string>();

/** A string naming every label a workload contributes (cached per config object). */
function factsKey(w: WorkloadFacts | undefined): string {
  if (!w) return '';
  let k = factsKeys.get(w);
  if (k === undefined) {
    k = JSON.stringify([
      w.workloadName,
      w.namespace,
      w.identity,
      w.app,
      w.version,
      w.canonicalName,
      w.canonicalRevision,
      w.clusterId,
    ]);
    factsKeys.set(w, k);
  }
  return k;
}

export class WaypointMetrics {
  /**
   * Request series by a key of everything their labels are made of, so a request costs one
   * string and one lookup, not a label object and four JSON keys. Bounded like the registry
   * itself: one entry per label set ever seen.
   */
  private readonly requestSeries = new Map<string, RequestSeries>();

  constructor(private role: ReporterRole = { kind: 'waypoint' }) {}

  /** Switches the role (an ingress gateway learns it from its config). */
  setRole(role: ReporterRole): void {
    this.role = role;
    this.requestSeries.clear();
  }

  readonly requests = new Counter('istio_requests_total', 'Requests processed by the waypoint');
  readonly duration = new Histogram(
    'istio_request_duration_milliseconds',
    'Request duration, ms',
    DURATION_BUCKETS,
  );
  readonly requestBytes = new Histogram(
    'istio_request_bytes',
    'Request body size, bytes',
    SIZE_BUCKETS,
  );
  readonly responseBytes = new Histogram(
    'istio_response_bytes',
    'Response body size, bytes',
    SIZE_BUCKETS,
  );
  readonly tcpOpened = new Counter('istio_tcp_connections_opened_total', 'TCP connections opened');
  readonly tcpClosed = new Counter('istio_tcp_connections_closed_total', 'TCP connections closed');
  readonly tcpSent = new Counter(
    'istio_tcp_sent_bytes_total',
    'Bytes sent to the client (response direction)',
  );
  readonly tcpReceived = new Counter(
    'istio_tcp_received_bytes_total',
    'Bytes received from the client (request direction)',
  );

  private base(r: TcpRecord): Labels {
    const gw = this.role.kind === 'gateway' ? this.role : undefined;
    return {
      reporter: gw ? 'source' : 'waypoint',
      ...(gw
        ? peerLabels('source', gw.self, gw.principal)
        : peerLabels('source', r.source, r.sourcePrincipal || undefined)),
      ...peerLabels('destination', r.destination),
      destination_service: u(r.service?.hostname),
      destination_service_name: u(r.service?.name),
      destination_service_namespace: u(r.service?.namespace),
      // A client-side reporter does not know the server's policy (Istio: `unknown`).
      connection_security_policy: gw ? 'unknown' : 'mutual_tls',
    };
  }

  private labelsOf(r: RequestRecord): Labels {
    return {
      ...this.base(r),
      request_protocol: r.protocol,
      response_code: String(r.status),
      grpc_response_status: r.protocol === 'grpc' ? (r.grpcStatus ?? '') : '',
      response_flags: r.flags || '-',
    };
  }

  recordRequest(r: RequestRecord): void {
    const svc = r.service;
    const key =
      `${factsKey(r.source)}\0${r.sourcePrincipal}\0${factsKey(r.destination)}\0` +
      `${svc ? `${svc.hostname}\0${svc.name}\0${svc.namespace}` : '\0\0'}\0${r.protocol}\0` +
      `${r.status}\0${r.protocol === 'grpc' ? (r.grpcStatus ?? '') : ''}\0${r.flags}`;
    let s = this.requestSeries.get(key);
    if (!s) {
      const labels = this.labelsOf(r);
      s = {
        requests: this.requests.series(labels),
        duration: this.duration.series(labels),
        requestBytes: this.requestBytes.series(labels),
        responseBytes: this.responseBytes.series(labels),
      };
      this.requestSeries.set(key, s);
    }
    s.requests.value++;
    this.duration.observeIn(s.duration, r.durationMs);
    this.requestBytes.observeIn(s.requestBytes, r.requestBytes);
    this.responseBytes.observeIn(s.responseBytes, r.responseBytes);
  }

  tcpOpen(r: TcpRecord): Labels {
    const labels = { ...this.base(r), request_protocol: 'tcp', response_flags: r.flags || '-' };
    this.tcpOpened.inc(labels);
    return labels;
  }

  tcpClose(labels: Labels, sent: number, received: number): void {
    this.tcpClosed.inc(labels);
    this.tcpSent.inc(labels, sent);
    this.tcpReceived.inc(labels, received);
  }

  render(): string {
    return (
      [
        this.requests,
        this.duration,
        this.requestBytes,
        this.responseBytes,
        this.tcpOpened,
        this.tcpClosed,
        this.tcpSent,
        this.tcpReceived,
      ]
        .flatMap((m) => m.render())
        // The process's memory gauges and trim counters (src/runtime/memory.ts).
        .concat(memoryMetricLines())
        .join('\n') + '\n'
    );
  }
}
