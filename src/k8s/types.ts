/**
 * The slice of the Kubernetes object model ambit reads and writes. Field names are the
 * Kubernetes API's; only what the mesh and the lab use is typed, the rest is preserved.
 */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  generateName?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
  }[];
}

export interface KubeObject<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
}

/** A core/v1 Secret: `data` values are base64 (kubernetes.io/tls: `tls.crt`, `tls.key`). */
export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface KubeList<T> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { containerPort: number; name?: string; protocol?: string }[];
  readinessProbe?: {
    httpGet?: { path?: string; port: number | string };
    tcpSocket?: { port: number | string };
    timeoutSeconds?: number;
    periodSeconds?: number;
    failureThreshold?: number;
    successThreshold?: number;
  };
}

export interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  serviceAccountName?: string;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  containers: Container[];
  terminationGracePeriodSeconds?: number;
}

export interface PodStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  podIP?: string;
  podIPs?: { ip: string }[];
  hostIP?: string;
  startTime?: string;
  conditions?: {
    type: string;
    status: 'True' | 'False' | 'Unknown';
    lastTransitionTime?: string;
  }[];
  containerStatuses?: {
    name: string;
    ready: boolean;
    restartCount: number;
    state?: Record<string, unknown>;
  }[];
}

export type Pod = KubeObject<PodSpec, PodStatus>;

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP';
  appProtocol?: string;
}

export interface ServiceSpec {
  type?: 'ClusterIP';
  clusterIP?: string;
  clusterIPs?: string[];
  selector?: Record<string, string>;
  ports?: ServicePort[];
}

export type Service = KubeObject<ServiceSpec>;

export interface EndpointAddress {
  ip: string;
  nodeName?: string;
  targetRef?: { kind: string; name: string; namespace: string; uid: string };
}

export interface Endpoints extends KubeObject {
  subsets?: {
    addresses?: EndpointAddress[];
    notReadyAddresses?: EndpointAddress[];
    ports?: { name?: string; port: number; protocol?: string }[];
  }[];
}

/** discovery.k8s.io/v1 EndpointSlice. */
export interface EndpointSlice extends KubeObject {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    targetRef?: { kind: string; name: string; namespace: string; uid: string };
  }[];
  ports?: { name?: string; port?: number; protocol?: string; appProtocol?: string }[];
}

/** The label naming an EndpointSlice's Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type Namespace = KubeObject<unknown, { phase?: string }>;

export interface NodeSpec {
  podCIDR?: string;
  podCIDRs?: string[];
}

export interface NodeStatus {
  addresses?: { type: string; address: string }[];
  conditions?: { type: string; status: string }[];
}

export type Node = KubeObject<NodeSpec, NodeStatus>;

/** A watch event, as the API streams it. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}
