/**
 * ambit's errors: one root class and the catalogue of every code it may carry (as undici keeps
 * all of its errors in one file). Every error has a stable `code` (what went wrong, for programs
 * and docs), the offending `value` (what exactly) and, where we know it, a `hint` (what the
 * operator should do). Messages are lowercase and name the value. A new code is one line below;
 * `test/unit/errors.test.ts` fails on a code used in src/ but missing here, and on one listed
 * here that nothing uses.
 */

/** Every error code, with what it means. Sorted; grouped by the prefix naming the component. */
export const ERROR_CODES = {
  // lab API server (src/lab/apiserver): its own failures, and Kubernetes Status reasons
  APISERVER_ALREADY_EXISTS: 'create of an object whose name is taken (Status reason AlreadyExists)',
  APISERVER_BAD_REQUEST: 'a request the API server cannot parse (BadRequest)',
  APISERVER_BAD_SNAPSHOT: 'the persisted store snapshot cannot be read',
  APISERVER_CLOSED: 'the store was used after close',
  APISERVER_CONFLICT: 'a write against a stale resourceVersion or a held lock (Conflict)',
  APISERVER_CRD_FILE: 'a file of CustomResourceDefinitions to install at start cannot be read',
  APISERVER_EXPIRED: 'a watch or list from a resourceVersion that was compacted away (Expired)',
  APISERVER_FORBIDDEN: 'the caller may not do this (Forbidden)',
  APISERVER_INTERNAL_ERROR: 'the API server failed while serving (InternalError)',
  APISERVER_INVALID: 'an object that fails validation (Invalid)',
  APISERVER_LISTEN: 'the API server cannot bind its port',
  APISERVER_METHOD_NOT_ALLOWED: 'a verb the resource does not support (MethodNotAllowed)',
  APISERVER_NOT_FOUND: 'no such object or resource (NotFound)',
  APISERVER_PKI: "the lab cluster's CA in <state>/pki cannot be loaded",
  APISERVER_REQUEST_ENTITY_TOO_LARGE: 'a request body over the limit (RequestEntityTooLarge)',
  APISERVER_SERVICE_UNAVAILABLE: 'a backend (a node kubelet) is not reachable (ServiceUnavailable)',
  APISERVER_UNAUTHORIZED: 'a request without valid credentials (Unauthorized, 401)',
  APISERVER_UNSUPPORTED_MEDIA_TYPE:
    'a Content-Type the endpoint does not take (UnsupportedMediaType)',

  // benchmarks (bench/)
  BENCH_BAD_ARG: 'a bench flag of the wrong form',
  BENCH_BAD_PROFILE: 'a --profile that names no mesh workload',
  BENCH_CAPTURE_UNPROVEN:
    'a mesh run whose redirection counters did not move (its traffic bypassed the backend)',
  BENCH_BASELINE_BUILD: 'the --baseline commit could not be checked out or compiled',
  BENCH_CAPTURE_TIMEOUT:
    'scale-capture: a pod, the agent or a connection did not get there in time',
  BENCH_CNI_FAILED: 'scale-capture: the node agent refused or did not answer a CNI ADD/DEL',
  BENCH_NEEDS_ROOT: 'a bench that builds network namespaces was run without root',
  BENCH_HOLD_TIMEOUT: 'the connection-holding tool stopped answering',
  BENCH_IPERF_FAILED: 'an iperf3 run failed',
  BENCH_NO_ZTUNNEL: 'no ztunnel pod on a node to measure',
  BENCH_PODS_NOT_READY: 'the bench workloads were not ready in time',
  BENCH_PROFILE_TIMEOUT: 'a profile did not start or finish in time',

  // eBPF objects (src/sys/bpf.ts)
  BPF_LOAD_FAILED: 'bpftool could not load the eBPF programs',
  BPF_NO_OBJECT: 'the compiled eBPF object is missing (scripts/build-bpf.sh)',
  BPF_NO_SK_ASSIGN: 'sk_assign was forced but tc programs on this kernel cannot call it',
  BPF_RINGBUF_FAILED: 'a pinned BPF ring buffer could not be opened or mapped',

  // control plane CA (src/controlplane/ca) and its client (src/xds/ca-client.ts)
  CA_BAD_CONFIG: 'root CA flags given half (--ca-cert without --ca-key or the reverse)',
  CA_BAD_CSR: 'a certificate request that cannot be parsed or names no valid SPIFFE identity',
  CA_BAD_IDENTITY: 'a certificate was asked for something that is not a SPIFFE identity',
  CA_BAD_RESPONSE: 'the CA answered without a certificate',
  CA_BAD_ROOT: 'the root CA certificate or key cannot be loaded',
  CA_PERMISSION_DENIED: "a caller asked for an identity it may not hold (another node's pod)",
  CA_TTL: 'a certificate request whose validity is above the maximum workload certificate TTL',
  CA_REQUEST_FAILED: 'the CA refused or did not answer a certificate request',
  CA_SAN_MISMATCH: 'the CA issued a certificate for another identity than requested',

  // command line (src/cli, src/flags.ts)
  CLI_BAD_VALUE: 'a flag value of the wrong form (not a number, not a duration)',
  CLI_MISSING_VALUE: 'a flag or argument that is required was not given',
  CLI_UNEXPECTED: 'an argument the command does not take',
  CLI_USAGE: 'a command used wrongly; the message shows its usage',

  // CNI: the plugin shim (src/redirect/plugin.ts) and the lab kubelet's CNI driver
  CNI_AGENT_FAILED: 'the node agent answered a CNI call with an error',
  CNI_AGENT_RUNNING: '`ambit cni uninstall` refused: the node agent is still running',
  CNI_AGENT_STOPPING: 'a CNI call reached an agent that is shutting down (the kubelet retries)',
  CNI_BAD_COMMAND: 'CNI_COMMAND is not one the plugin implements',
  CNI_BAD_CONFIG: 'a CNI config list that cannot be parsed',
  CNI_FAILED: 'a CNI plugin failed for a pod',
  CNI_MISSING_ARG: 'a required `ambit cni` argument is missing',
  CNI_NO_AGENT_SOCKET: "the plugin's config names no agent socket",
  CNI_NO_PRIMARY_CONFIG: 'the node has no pod network conflist for the agent to chain into',

  // control plane xDS and authentication (src/controlplane)
  CP_LISTEN_FAILED: 'the control plane cannot bind its gRPC port',
  CP_PERMISSION_DENIED: 'an authenticated caller may not subscribe to xDS',
  CP_UNAUTHENTICATED: 'a call without a valid service-account token',

  // `ambit demo`
  DEMO_CURL_FAILED: "the demo's traced request failed",
  DEMO_LAB_FAILED: 'the demo could not bring its lab up',
  DEMO_NEEDS_ROOT: 'the demo was started without root',
  DEMO_NOT_ENROLLED: "the demo's pods were not captured in time",
  DEMO_NO_BPF_EVENTS:
    'ambit demo --redirect ebpf found no node whose eBPF programs it could record',
  DEMO_NO_POD: 'a pod the demo needs is not running',
  DEMO_WAYPOINT_FAILED: "the demo's waypoint did not come up or carry traffic",
  DEMO_USAGE: 'an argument `ambit demo` does not take',

  // DNS wire and servers (src/dns), used by the lab's cluster DNS and ztunnel's DNS proxy
  DNS_LISTEN: 'a DNS server cannot bind its UDP or TCP port',
  DNS_MALFORMED:
    'a DNS message that cannot be read: shorter than a header, records that overrun, or not one question',
  DNS_NOT_A_QUERY: 'a DNS message that is a response where a query was expected',
  DNS_UNSUPPORTED: 'a DNS query of an opcode other than QUERY or an EDNS version other than 0',

  // HBONE (src/hbone): HboneError
  HBONE_CONNECT_FAILED: 'an HBONE CONNECT could not be opened (dial, session or stream failed)',
  HBONE_PEER_IDENTITY: "the HBONE server's certificate is not one of the expected identities",
  HBONE_STATUS: 'the HBONE server answered the CONNECT with a non-200 status',
  HBONE_TIMEOUT: 'an HBONE dial, handshake or CONNECT took longer than allowed',
  HBONE_TLS: 'no client certificate, or the mTLS handshake failed',

  // workload certificates (src/identity)
  IDENTITY_BAD_CERT: 'a fetched certificate chain is empty or unparseable',
  IDENTITY_CLOSED: 'the identity manager was used after close',
  IDENTITY_FETCH_TIMEOUT: 'a certificate fetch did not finish in time',
  IDENTITY_UNAVAILABLE: 'no valid certificate for an identity (fetches keep failing)',

  // lab kubelet IPAM (src/lab/kubelet/ipam.ts)
  IPAM_BAD_CIDR: 'a node pod CIDR that cannot be parsed',
  IPAM_BAD_PIN: "a pinned pod address outside the node's pod CIDR",
  IPAM_EXHAUSTED: "no free pod address left in the node's pod CIDR",
  IPAM_IN_USE: 'a pinned pod address another pod already holds',

  // kernel tools (src/sys)
  IPSET_DESTROY_FAILED: 'an ipset cannot be destroyed (a rule still references it)',

  // Kubernetes client (src/k8s)
  K8S_API_ERROR: 'the API server answered non-2xx (KubeApiError carries the status)',
  K8S_BAD_KUBECONFIG: 'a kubeconfig that cannot be read or lacks the context, cluster or server',
  K8S_BAD_RESPONSE: 'the API server answered with a body that is not JSON',
  K8S_NO_SERVER: 'no API server configured (no flag, no AMBIT_KUBE_SERVER, not in a cluster)',
  K8S_UNREACHABLE: 'the API server cannot be reached',

  // install on a cluster (src/install, `ambit install|uninstall|manifest`)
  INSTALL_BAD_VALUE: 'a --set value that is unknown or malformed',
  INSTALL_KUBECTL_FAILED: 'kubectl refused the manifests or could not reach the cluster',
  INSTALL_NOT_READY: 'an installed component did not become ready within --readiness-timeout',

  // lab kubelet (src/lab/kubelet)
  KUBELET_CONFIGMAP_MISSING: 'a pod mounts a ConfigMap that does not exist',
  KUBELET_NO_EXECUTABLE: 'a container command that is not on PATH',
  KUBELET_UNKNOWN_IMAGE: 'an image the lab kubelet does not know, with no command (ErrImagePull)',
  KUBELET_NO_TOKEN: 'a TokenRequest returned no service-account token',

  // the lab (src/lab, `ambit lab`)
  PROMETHEUS_BAD_CONFIG: "the lab's prom/prometheus cannot read or parse its --config.file",
  LAB_APISERVER_NOT_IN_LAB: "the API server does not answer from inside the lab's network",
  LAB_APISERVER_TIMEOUT: 'the API server did not come up in time',
  LAB_BAD_CLUSTER: 'a cluster file with a bad field',
  LAB_BAD_FLAG: 'a built-in app flag with a bad value',
  LAB_BAD_MANIFEST: 'a manifest that is not valid YAML or not an object',
  LAB_DAEMON_DIED: 'a lab daemon exited while the lab came up',
  LAB_DAEMON_START: 'a lab daemon cannot be started',
  LAB_LEFTOVERS: 'a lab of that name is half-built or stopped',
  LAB_NEEDS_ROOT: 'a lab command that changes namespaces was started without root',
  LAB_NOT_BUILT: 'a lab subcommand whose code is not in this checkout',
  LAB_NOT_RUNNING: 'the named lab is not running',
  LAB_NO_APISERVER: 'a lab process cannot find its API server URL',
  LAB_NO_CONTAINER: 'a pod has several containers and none was named',
  LAB_NO_NODE: 'no node of that name in the lab',
  LAB_NO_POD: 'no pod (or several) of that name in the lab',
  LAB_PODS_TIMEOUT: 'pods were not ready in time',
  LAB_POD_NOT_RUNNING: 'a pod has no network yet',
  LAB_BAD_APP_ARG: 'a built-in app argument of the wrong form',
  LAB_UNKNOWN_APP: 'a built-in app name the lab does not have',
  LAB_UNKNOWN_KIND: 'a manifest of a kind the lab API server does not serve',

  // mesh install into a lab (src/lab/mesh)
  MESH_NODE_NO_POD_CIDR: 'a node without spec.podCIDR (its ztunnel address is derived from it)',
  MESH_NOT_READY: "the mesh's pods were not ready in time",

  // network namespaces (src/sys/ip.ts)
  NET_NETNS_EXISTS: 'a network namespace to create exists already',

  // `ambit node`
  NODE_NOT_FOUND: 'no node of that name in the lab',
  NODE_NO_LAB: 'the lab `ambit node` was asked about is not running',

  // control plane model (src/controlplane/model)
  POLICY_INVALID: 'an AuthorizationPolicy field ambit cannot translate',

  // node agent (src/redirect)
  REDIRECT_BAD_MODE: 'a --redirect that names no redirection backend',
  REDIRECT_BAD_TPROXY: 'an --ebpf-tproxy that names no mode (auto, sk_assign, mark)',
  REDIRECT_EBPF_NO_TPROXY: 'neither bpf_sk_assign nor the iptables TPROXY fallback works here',
  REDIRECT_NO_POD_VETH: 'a pod to capture has no host-side veth (yet)',
  REDIRECT_NO_ZTUNNEL_NETNS: "the ztunnel pod's network namespace is gone",
  REDIRECT_ZTUNNEL_LINKS: "the ztunnel pod's host veth or eth0 cannot be found",

  REPO_NOT_FOUND: 'no package.json above the running code (not run from a checkout)',

  // proxy runtime (src/runtime): memory trimmer settings
  RUNTIME_BAD_TRIM_INTERVAL: 'AMBIT_MALLOC_TRIM_MS is not a whole number of milliseconds',

  // SPDY (kubectl port-forward/exec) in the lab kubelet
  SPDY_BAD_HEADERS: 'a truncated SPDY header block',
  SPDY_VERSION: 'a SPDY version other than 3',

  SPIFFE_INVALID: 'a string that is not spiffe://<trust domain>/ns/<ns>/sa/<sa>',

  // system calls and tools (src/sys)
  SYS_BAD_ADDRESS: 'not an IPv4 address',
  SYS_BAD_HOSTNAME: 'a pod hostname that is not a valid DNS label',
  SYS_BAD_NETNS: 'not a network namespace name',
  SYS_BAD_PATH: 'a path with a NUL or newline in it (it cannot reach the sandbox intact)',
  SYS_BAD_PID: 'not a container process',
  SYS_CALL_FAILED: 'a libc call failed (errno in the message)',
  SYS_EXEC_FAILED: 'a command exited non-zero',
  SYS_EXEC_MISSING: 'a command cannot be started (not installed)',
  SYS_FFI_UNAVAILABLE: 'koffi (FFI to libc) cannot be loaded',
  SYS_NETLINK_RCVBUF: "another process's netlink receive buffer cannot be raised",
  SYS_IP_NO_SOURCE: 'the kernel has no source address toward a destination (no route)',
  SYS_MALLOC_TRIM_UNAVAILABLE:
    'Node runs on glibc but libc.so.6 or its malloc_trim cannot be loaded',
  SYS_NETNS_HTTP_FAILED: 'an HTTP GET inside a network namespace failed',
  SYS_NO_COMMAND: 'nothing to run in the container',
  SYS_NO_NETNS: 'no network namespace of that name',

  // `ambit trace`
  TRACE_BAD_PORT: 'a source port that is not 1-65535',
  TRACE_BAD_TABLE: 'an nftables table name of the wrong form',
  TRACE_NO_LAB: 'the lab to trace in is not running',
  TRACE_NO_NETNS: 'no network namespaces to trace',
  TRACE_NO_POD: 'no pod of that name to trace from',
  TRACE_POD_NOT_RUNNING: 'the pod to trace from has no network yet',
  TRACE_USAGE: 'an argument `ambit trace` does not take',

  TUNNEL_CREATE_FAILED: 'a GENEVE/VXLAN tunnel device cannot be created',

  // waypoint (src/waypoint)
  WAYPOINT_CONFIG_FILE: 'the waypoint `--config` file cannot be read or is not JSON',
  WAYPOINT_CONFIG_INVALID:
    'a waypoint config (file or xDS) that does not follow src/api/waypoint-config.ts',
  WAYPOINT_ENROLLED:
    '`waypoint apply --enroll-namespace` on a namespace that uses another waypoint',
  WAYPOINT_NO_NAMESPACE: 'the namespace to put a waypoint in does not exist',
  WAYPOINT_NOT_FOUND: 'no waypoint (Gateway) of that name in the namespace',
  WAYPOINT_POLICY_PATH: 'an AuthorizationPolicy path template that is not valid',
  WAYPOINT_ROUTE_REGEX: 'a route match regex that does not compile',
  WAYPOINT_RUN_CONFIG: '`waypoint run`: a missing or bad flag or environment value',
  WAYPOINT_TIMEOUT: '`waypoint apply --wait`: the waypoint did not become Programmed in time',

  // `ambit x`
  X_NO_CONTROLPLANE: 'no running istiod pod to ask',
  X_NO_NODE: '`ambit x config-dump --node`: no Node object of that name',
  X_NO_LAB: 'the lab to inspect is not running',

  // xDS (src/xds)
  XDS_BAD_IP: 'an address field that is not an IP',
  XDS_DECODE_FAILED: 'a resource that does not decode (field named in the message)',
  XDS_DUPLICATE_TYPE: 'a client subscribed to one resource type twice',
  XDS_TOKEN_UNREADABLE: 'the service-account token file cannot be read',
  XDS_UNKNOWN_TYPE: 'a resource type URL this client or store does not handle',
  XDS_WRONG_NAME: 'a resource whose name is not the one its content implies',

  // ztunnel (src/ztunnel): configuration
  ZTUNNEL_CONFIG_BAD_BOOL: 'an environment variable that must be true/false',
  ZTUNNEL_CONFIG_BAD_DURATION: 'an environment variable that must be a duration',
  ZTUNNEL_CONFIG_BAD_IP: 'INSTANCE_IP is not an IPv4 address',
  ZTUNNEL_CONFIG_BAD_PORT: 'an environment variable that must be a port',
  ZTUNNEL_CONFIG_MISSING: 'a required environment variable is not set',
  ZTUNNEL_CONFIG_ROOT_CERT: 'the root certificate file cannot be read',
  // ztunnel: state and admission
  ZTUNNEL_CONNECT_CANCELLED: 'a dial to the application was cancelled: its client went away',
  ZTUNNEL_NOT_SYNCED: 'no state from the control plane yet',
  // ztunnel: refusals of one connection, logged once as `refused error=<code>`
  ZTUNNEL_NO_HEALTHY_UPSTREAM: 'a service with no healthy endpoint for the port',
  ZTUNNEL_SELF_CALL: "a destination that is one of ztunnel's own ports (it would loop)",
  ZTUNNEL_UNKNOWN_SOURCE: "the connection's source is not a workload on this node",
  ZTUNNEL_UNKNOWN_WAYPOINT: 'the waypoint of the destination is not known',
  ZTUNNEL_NO_LOCAL_WORKLOAD: 'no workload on this node holds the address',
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes of one component, e.g. `CodeOf<'HBONE'>`. */
export type CodeOf<P extends string> = Extract<ErrorCode, `${P}_${string}`>;

export class AmbitError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly value: unknown;
  readonly hint: string | undefined;

  constructor(
    code: C,
    message: string,
    opts: { value?: unknown; hint?: string; cause?: unknown } = {},
  ) {
    super(opts.hint ? `${message} (${opts.hint})` : message, { cause: opts.cause });
    this.name = 'AmbitError';
    this.code = code;
    this.value = opts.value;
    this.hint = opts.hint;
  }
}

/** True when `err` is an AmbitError with the given code. */
export function isCode<C extends ErrorCode>(err: unknown, code: C): err is AmbitError<C> {
  return err instanceof AmbitError && err.code === code;
}

/**
 * An expected refusal of one connection or request: a catalogued code and the detail that
 * names the value, logged once by whoever owns the connection (`error=<code>`), not thrown.
 */
export interface Refusal<C extends ErrorCode = ErrorCode> {
  code: C;
  detail: string;
}

/** Any caught value as text, for logs: `<code>: <message>` for ambit's errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof AmbitError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
