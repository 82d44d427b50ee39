/**
 * Istio's and Gateway API's labels and annotations that ambit reads or writes, the one home for
 * these keys (Istio's names from its `pkg/config/constants` and `label`/`annotation` packages).
 */
export const Label = {
  /** Namespace or pod: `ambient` enrols in the mesh, `none` (pod) opts out. */
  dataplaneMode: 'istio.io/dataplane-mode',
  /** Namespace, service or pod: the waypoint that serves it (`none` opts out). */
  useWaypoint: 'istio.io/use-waypoint',
  /** With useWaypoint: the waypoint's namespace when not the object's own. */
  useWaypointNamespace: 'istio.io/use-waypoint-namespace',
  /** Service or namespace: `true` makes ingress gateways send to its waypoint. */
  ingressUseWaypoint: 'istio.io/ingress-use-waypoint',
  /** Gateway: which traffic a waypoint serves: service | workload | all | none. */
  waypointFor: 'istio.io/waypoint-for',
  /** The Gateway a gateway's pods and services belong to (Gateway API). */
  gatewayName: 'gateway.networking.k8s.io/gateway-name',
  /** Pod: the service name in telemetry, before app.kubernetes.io/name and app. */
  canonicalName: 'service.istio.io/canonical-name',
  /** Pod: the revision in telemetry, before app.kubernetes.io/version and version. */
  canonicalRevision: 'service.istio.io/canonical-revision',
  /** ConfigMap: istiod-owned mesh config such as the published root certificate. */
  config: 'istio.io/config',
  /** Pod: `false` keeps the sidecar injector away (ztunnel's own pods). */
  sidecarInject: 'sidecar.istio.io/inject',
} as const;

export const Annotation = {
  /** Pod: `enabled` once the node agent captures it; `disabled` keeps it out of capture. */
  redirection: 'ambient.istio.io/redirection',
  /** Pod: present when a sidecar was injected (such pods are never captured). */
  sidecarStatus: 'sidecar.istio.io/status',
  /** AuthorizationPolicy: `true` evaluates without enforcing. */
  dryRun: 'istio.io/dry-run',
  /** Pod: scraped by Prometheus' `kubernetes-pods` job (samples/addons/prometheus.yaml). */
  prometheusScrape: 'prometheus.io/scrape',
  prometheusPort: 'prometheus.io/port',
  prometheusPath: 'prometheus.io/path',
} as const;

/**
 * The scrape annotations Istio's charts put on its proxies' pods: ztunnel's DaemonSet has
 * scrape and port 15020 (its /metrics), the waypoint and gateway template adds the path
 * /stats/prometheus.
 */
export function scrapeAnnotations(port: number, path?: string): Record<string, string> {
  return {
    [Annotation.prometheusScrape]: 'true',
    [Annotation.prometheusPort]: String(port),
    ...(path ? { [Annotation.prometheusPath]: path } : {}),
  };
}
