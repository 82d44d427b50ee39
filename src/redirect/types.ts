/**
 * The contract between the node agent and a redirection backend (iptables today, eBPF next).
 * A backend owns every kernel object of the capture path on one node and its ztunnel pod.
 */

/** The node's active ztunnel pod. */
export interface ZtunnelTarget {
  podIp: string;
  /** Host-side veth of the ztunnel pod. */
  hostVeth: string;
  /** Named network namespace of the ztunnel pod (`/run/netns/<netns>`). */
  netns: string;
  /** ISTIO_META_DNS_CAPTURE=true on the ztunnel: capture enrolled pods' DNS to :15053. */
  dnsCapture: boolean;
}

/** An enrolled pod on this node. */
export interface PodTarget {
  ip: string;
  uid: string;
  /** Host-side veth (rp_filter is turned off on it), when known. */
  hostVeth?: string;
}

export interface BackendStatus {
  backend: string;
  ztunnel: ZtunnelTarget | null;
  hostIp: string | null;
  /** How the node reaches its ztunnel pod, e.g. `vxlan` on 4789. */
  tunnel: { kind: string; port: number } | null;
}

export interface RedirectBackend {
  readonly name: string;
  /**
   * Points capture at `z`: a new ztunnel (other IP, veth or netns) rewires the node (cleanup,
   * then re-create, as Istio does) and keeps enrolled pods; the same one converges without
   * duplicates. `null` = no ztunnel is ready: everything stays in place so captured traffic
   * fails closed instead of escaping the mesh.
   */
  setZtunnel(z: ZtunnelTarget | null): Promise<void>;
  /** Captures a local pod (idempotent). */
  addPod(p: PodTarget): Promise<void>;
  /** Stops capturing a local pod (idempotent). */
  removePod(ip: string): Promise<void>;
  /** Pods captured now, ip → uid, read from the kernel. */
  capturedPods(): Promise<Map<string, string>>;
  status(): BackendStatus;
  /** Removes everything: the node returns to its state before the first install. */
  uninstall(): Promise<void>;
}
