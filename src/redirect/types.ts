/**
 * The contract between the node agent and a redirection backend (iptables, eBPF). A backend
 * owns every kernel object of the capture path on one node and its ztunnel pod. Nothing here
 * names the lab or a backend's mechanism: namespaces are references the kernel can open, and
 * the captured set is the backend's own persisted record, not something read back from rules.
 */

/**
 * A network namespace: a path to a namespace file (`/proc/<pid>/ns/net`, a CNI runtime's
 * `/var/run/netns/cni-…`, the CNI_NETNS of the pod's ADD), or a name under `/run/netns`.
 */
export type NetnsRef = string;

/** The node's active ztunnel pod. */
export interface ZtunnelTarget {
  podIp: string;
  /** Host-side veth of the ztunnel pod. */
  hostVeth: string;
  /** The ztunnel pod's network namespace. */
  netns: NetnsRef;
  /** ISTIO_META_DNS_CAPTURE=true on the ztunnel: capture enrolled pods' DNS to :15053. */
  dnsCapture: boolean;
}

/** An enrolled pod on this node. */
export interface PodTarget {
  ip: string;
  uid: string;
  /** Host-side veth (rp_filter is turned off on it; eBPF programs attach to it), when known. */
  hostVeth?: string;
  /** The pod's network namespace, when known (CNI ADD's CNI_NETNS). */
  netns?: NetnsRef;
}

export interface BackendStatus {
  backend: string;
  ztunnel: ZtunnelTarget | null;
  hostIp: string | null;
  /** Backend-specific facts for logs and `ambit node rules` (e.g. iptables' tunnel kind). */
  details: Record<string, unknown>;
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
  /** Pods captured now, ip → uid: the backend's persisted record of what it installed. */
  capturedPods(): Promise<Map<string, string>>;
  status(): BackendStatus;
  /** Removes everything: the node returns to its state before the first install. */
  uninstall(): Promise<void>;
}
