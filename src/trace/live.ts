/**
 * `traceLive`: trace a curl from a pod of a running lab. The lab's API server says where
 * things are: the client pod's address and network namespace (annotation
 * `lab.ambit.dev/netns`), and every pod's and node's namespace for display names; every
 * namespace named `<lab>-*` is armed.
 */
import { Port } from '../api/ports.js';
import { AmbitError } from '../errors.js';
import { KubeClient } from '../k8s/client.js';
import { readKubeconfig } from '../k8s/kubeconfig.js';
import { resources } from '../k8s/resources.js';
import type { Pod } from '../k8s/types.js';
import { labPaths } from '../lab/cluster/paths.js';
import { DEFAULT_LAB, podNetns } from '../lab/conventions.js';
import { nodeNetns } from '../redirect/paths.js';
import { listNetns } from '../sys/nftrace.js';
import { run } from '../sys/exec.js';
import { bpfNodesOf } from './bpf-record.js';
import { traceCurl, type TraceResult } from './session.js';

export interface LiveOptions {
  pod: string;
  url: string;
  lab?: string;
  namespace?: string;
  /** API server URL; default the one in `<state>/labs/<lab>/kubeconfig`. */
  server?: string;
  clientPort?: number;
}

/** The lab's cluster-admin client (its kubeconfig), at `server` when given. */
function apiClient(lab: string, server: string | undefined): KubeClient {
  const file = labPaths(lab).kubeconfig;
  try {
    const creds = readKubeconfig(file);
    return new KubeClient({ ...creds, server: server ?? creds.server });
  } catch (err) {
    throw new AmbitError('TRACE_NO_LAB', `lab ${lab} is not running (no ${file})`, {
      value: lab,
      hint: 'start it with `ambit lab up` or pass --lab',
      cause: err,
    });
  }
}

/** POST ztunnel's admin /debug/release_hbone_pool (localhost-only, so from its netns). */
async function releaseHbonePool(netns: string): Promise<void> {
  await run(
    'curl',
    ['-sS', '-m', '3', '-X', 'POST', `http://127.0.0.1:${Port.admin}/debug/release_hbone_pool`],
    { netns, allowFail: true, timeoutMs: 5000 },
  );
}

export async function traceLive(opts: LiveOptions): Promise<TraceResult> {
  const lab = opts.lab ?? DEFAULT_LAB;
  const kube = apiClient(lab, opts.server);
  const ns = opts.namespace ?? 'default';
  const pods = (await kube.list<Pod>(resources.pods)).items;
  // The pod by name, or a Deployment's only pod by the Deployment's name (`sleep`).
  const inNs = pods.filter((p) => p.metadata.namespace === ns);
  const byPrefix = inNs.filter((p) => p.metadata.name.startsWith(`${opts.pod}-`));
  const pod =
    inNs.find((p) => p.metadata.name === opts.pod) ??
    (byPrefix.length === 1 ? byPrefix[0] : undefined);
  if (!pod) {
    throw new AmbitError('TRACE_NO_POD', `no pod ${ns}/${opts.pod} in lab ${lab}`, {
      value: `${ns}/${opts.pod}`,
      hint: 'list pods with `kubectl get pods -A`; pass -n for another namespace',
    });
  }
  const clientNetns = podNetns(pod);
  const clientIp = pod.status?.podIP;
  if (!clientNetns || !clientIp) {
    throw new AmbitError('TRACE_POD_NOT_RUNNING', `pod ${ns}/${opts.pod} has no netns or IP yet`, {
      value: `${ns}/${opts.pod}`,
      hint: 'wait until it is Running',
    });
  }
  const names = new Map<string, string>();
  for (const p of pods) {
    const n = podNetns(p);
    // hostNetwork pods share their node's namespace, which keeps the node's name.
    if (n && !(p.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork) {
      names.set(n, p.metadata.name);
    }
  }
  const netns = (await listNetns()).filter((n) => n.startsWith(`${lab}-`));
  for (const n of netns) if (!names.has(n)) names.set(n, n.slice(lab.length + 1));
  // Nodes whose agent runs the eBPF backend: their programs report each packet too.
  const ztunnelOf = (node: string) => {
    const z = pods.find(
      (p) => p.metadata.labels?.app === 'ztunnel' && p.spec?.nodeName === node && podNetns(p),
    );
    return z ? { name: z.metadata.name, netns: podNetns(z)! } : undefined;
  };
  const bpfNodes = bpfNodesOf(lab, (node) => nodeNetns(lab, node), ztunnelOf);
  // The client's ztunnel: its HBONE pool is released before the request, so it dials afresh.
  const ztNetns = pod.spec?.nodeName ? ztunnelOf(pod.spec.nodeName)?.netns : undefined;
  const podByIp = new Map<string, string>();
  for (const p of pods) {
    if (p.status?.podIP && !(p.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork)
      podByIp.set(p.status.podIP, p.metadata.name);
  }
  return traceCurl({
    netns,
    names,
    clientNetns,
    clientIp,
    url: opts.url,
    ...(bpfNodes.length ? { bpf: { nodes: bpfNodes, podByIp } } : {}),
    ...(opts.clientPort ? { clientPort: opts.clientPort } : {}),
    ...(ztNetns ? { beforeRequest: () => releaseHbonePool(ztNetns) } : {}),
  });
}
