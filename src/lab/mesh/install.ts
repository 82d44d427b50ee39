/**
 * Installs the mesh into a running lab through the Kubernetes API, the way Istio's ambient
 * profile does. By default from `ambit manifest generate`'s objects (what `ambit install` applies
 * to a real cluster): istiod's Deployment and the istio-cni-node and ztunnel DaemonSets, whose
 * pods the lab's controllers create (ztunnel at the node's .3 address, the seeds' layout).
 * `mode: 'pods'` keeps the older bare per-node pods for what a DaemonSet would undo (below).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Annotation, Label, scrapeAnnotations } from '../../api/labels.js';
import { Port } from '../../api/ports.js';
import { AmbitError, errorMessage } from '../../errors.js';
import type { KubeClient } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { KubeObject, Node, Pod } from '../../k8s/types.js';
import { BACKEND_SWITCHED } from '../../redirect/paths.js';
import { labPaths, repoRoot } from '../cluster/paths.js';
import { LabAnnotation } from '../conventions.js';
import { CONTROL_PLANE_TAINT } from '../controllers/types.js';
import { applyObjects, parseManifests, resourceFor } from '../orchestrator/manifests.js';
import { generateManifests } from '../../install/manifests.js';
import { CNI_DAEMONSET, ZTUNNEL_DAEMONSET } from '../../install/names.js';
import { applySets, defaultValues } from '../../install/values.js';
import { describePod, podReady } from '../orchestrator/wait.js';
import { proxyRuntimeEnv } from '../../runtime/env.js';

export const MESH_NAMESPACE = 'istio-system';

export interface MeshOptions {
  /** ztunnel answers pods' DNS on 15053 (ISTIO_META_DNS_CAPTURE). */
  dnsCapture?: boolean;
  /** The node agents' redirection backend (`ambit cni run --redirect`); default iptables. */
  redirect?: string;
  /** Per-node backends, over `redirect` (the bench runs iptables and eBPF nodes side by side). */
  redirectByNode?: Record<string, string>;
  timeoutMs?: number;
  /**
   * `manifests` (default): `ambit manifest generate`'s objects, the DaemonSets run by the lab's
   * controllers. `pods`: bare per-node pods (`ztunnel-<node>`, `istio-cni-node-<node>`), for
   * what a DaemonSet would undo at once: different backends on different nodes
   * (`redirectByNode`, which implies it), a node's agent stopped by deleting its pod or replaced
   * by a hand-edited one (the node-agent tests), ztunnels respawned with a profiler's command
   * line (bench/profile.ts).
   */
  mode?: 'manifests' | 'pods';
  /** Reports each step as it completes. */
  progress?: (step: string, ms: number) => void;
  /** The lab (its pod logs): a node agent switched to another backend is waited for until done. */
  lab?: string;
}

/**
 * Where istiod runs in the lab: on the control-plane node at `.10` of its pod CIDR (the seeds'
 * 10.244.0.10), a fixed address that keeps every node's `.3` free for its ztunnel. A cluster
 * file may name and address that node otherwise.
 */
export interface IstiodSite {
  node: string;
  ip: string;
}

export const SEEDS_ISTIOD: IstiodSite = { node: 'control-plane', ip: '10.244.0.10' };

export function istiodSite(nodes: readonly Node[]): IstiodSite {
  const cp = nodes.find((n) => n.metadata.labels?.[CONTROL_PLANE_TAINT] !== undefined) ?? nodes[0];
  const cidr = cp?.spec?.podCIDR;
  if (!cp || !cidr) return SEEDS_ISTIOD;
  return { node: cp.metadata.name, ip: cidr.replace(/\.\d+\/\d+$/, '.10') };
}

/** istiod.yaml (`mode: 'pods'`) placed at `site` instead of the seeds' node and address. */
function placeIstiod(objs: KubeObject[], site: IstiodSite): KubeObject[] {
  for (const o of objs) {
    const tmpl = (
      o.spec as
        | {
            template?: {
              metadata?: { annotations?: Record<string, string> };
              spec?: { nodeSelector?: Record<string, string> };
            };
          }
        | undefined
    )?.template;
    const sel = tmpl?.spec?.nodeSelector;
    if (sel?.['kubernetes.io/hostname']) sel['kubernetes.io/hostname'] = site.node;
    const ann = tmpl?.metadata?.annotations;
    if (ann?.[LabAnnotation.ip]) ann[LabAnnotation.ip] = site.ip;
  }
  return objs;
}

/** The ztunnel pod of `node`: at `.3` of the node's pod CIDR, as in the seeds. */
export function ztunnelPod(node: Node, dnsCapture: boolean): Pod {
  const cidr = node.spec?.podCIDR;
  if (!cidr) {
    throw new AmbitError(
      'MESH_NODE_NO_POD_CIDR',
      `node ${node.metadata.name} has no spec.podCIDR`,
      {
        value: node.metadata.name,
      },
    );
  }
  const ip = cidr.replace(/\.\d+\/\d+$/, '.3');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `ztunnel-${node.metadata.name}`,
      namespace: MESH_NAMESPACE,
      labels: { app: 'ztunnel', [Label.sidecarInject]: 'false' },
      annotations: {
        [Annotation.redirection]: 'disabled',
        [LabAnnotation.ip]: ip,
        ...scrapeAnnotations(Port.metrics),
      },
    },
    spec: {
      nodeName: node.metadata.name,
      serviceAccountName: 'ztunnel',
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'istio-proxy',
          image: 'ambit/ztunnel',
          env: [{ name: 'DNS_CAPTURE', value: String(dnsCapture) }, ...proxyRuntimeEnv()],
          ports: [
            { containerPort: Port.inbound, name: 'hbone' },
            { containerPort: Port.metrics, name: 'metrics' },
          ],
          readinessProbe: { httpGet: { path: '/healthz/ready', port: Port.readiness } },
        },
      ],
      volumes: [{ name: 'istio-ca-root-cert', configMap: { name: 'istio-ca-root-cert' } }],
    } as Pod['spec'],
  };
}

/** The node agent of `node`: a host-network pod, like the istio-cni-node DaemonSet. */
export function cniPod(node: Node, redirect?: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `istio-cni-node-${node.metadata.name}`,
      namespace: MESH_NAMESPACE,
      labels: { 'k8s-app': 'istio-cni-node' },
      annotations: { [Annotation.redirection]: 'disabled' },
    },
    spec: {
      nodeName: node.metadata.name,
      hostNetwork: true,
      serviceAccountName: 'istio-cni',
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'install-cni',
          image: 'ambit/cni',
          ...(redirect ? { args: ['--redirect', redirect] } : {}),
        },
      ],
    },
  };
}

/**
 * Creates the pods that do not exist yet. Existing ones are left alone: a pod's spec is
 * immutable, and replacing its metadata would drop what the kubelet and agent annotated.
 */
async function createMissing(client: KubeClient, pods: Pod[]): Promise<void> {
  for (const p of pods) {
    const cur = await client.tryGet<Pod>(resources.pods, p.metadata.name, p.metadata.namespace);
    if (!cur) await applyObjects(client, [p as KubeObject]);
  }
}

/** The backend an agent pod runs: its `--redirect`, else AMBIT_REDIRECT_MODE, else iptables. */
const redirectOf = (p: Pod): string => {
  const c = p.spec?.containers?.[0];
  const args = c?.args ?? [];
  const i = args.indexOf('--redirect');
  const env = (c as { env?: { name: string; value?: string }[] } | undefined)?.env;
  return (
    (i >= 0 ? args[i + 1] : undefined) ??
    env?.find((e) => e.name === 'AMBIT_REDIRECT_MODE')?.value ??
    'iptables'
  );
};

/**
 * Node agents running another redirection backend than `redirect` are deleted (and waited
 * for), so createMissing starts them again with it: the new agent takes the node over with
 * pods running, as a node switched between backends does (the agent keeps capture on SIGTERM).
 */
async function replaceOtherBackends(
  client: KubeClient,
  wanted: Pod[],
  timeoutMs: number,
): Promise<string[]> {
  const replaced: Pod[] = [];
  for (const w of wanted) {
    const cur = await client.tryGet<Pod>(resources.pods, w.metadata.name, w.metadata.namespace);
    if (cur && redirectOf(cur) !== redirectOf(w)) replaced.push(w);
  }
  // All deleted first, then waited for together: each agent's graceful stop runs in parallel.
  await deleteAndWait(client, replaced, timeoutMs);
  return replaced.map((w) => w.metadata.name);
}

/** Waits until each replaced agent logged that the previous backend is gone and pods re-applied. */
async function waitSwitched(lab: string, agents: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const logOf = (a: string) =>
    join(labPaths(lab).pods, `${MESH_NAMESPACE}_${a}`, 'install-cni.log');
  const done = (a: string) =>
    existsSync(logOf(a)) && readFileSync(logOf(a), 'utf8').includes(BACKEND_SWITCHED);
  for (;;) {
    const pending = agents.filter((a) => !done(a));
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new AmbitError('MESH_NOT_READY', `backend switch not done: ${pending.join(', ')}`, {
        value: pending,
        hint: `see ${logOf(pending[0]!)}`,
      });
    }
    await sleep(250);
  }
}

async function waitReady(
  client: KubeClient,
  names: string[],
  timeoutMs: number,
  lab?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = names.join(', ');
  while (Date.now() < deadline) {
    try {
      const pods = await client.list<Pod>(resources.pods, { namespace: MESH_NAMESPACE });
      const waiting = names.filter((n) => {
        const p = pods.items.find(
          (x) => x.metadata.name === n || x.metadata.name.startsWith(`${n}-`),
        );
        return !p || !podReady(p);
      });
      if (waiting.length === 0) return;
      pending = waiting.join(', ');
    } catch (err) {
      pending = errorMessage(err);
    }
    await sleep(250);
  }
  throw new AmbitError(
    'MESH_NOT_READY',
    `mesh pods not ready after ${timeoutMs / 1000}s: ${pending}${await notReadyDetail(client, lab)}`,
    {
      value: pending,
      hint: 'see the pod logs under the lab state dir (pods/istio-system_*/*.log)',
    },
  );
}

/**
 * The install manifests as the lab applies them: the lab values (istiod at the seeds'
 * address on the control-plane node) and only the kinds this lab's API server serves (the
 * returned `skipped` names what was left out).
 */
export function labManifests(
  dnsCapture: boolean,
  redirect?: string,
  site: IstiodSite = SEEDS_ISTIOD,
): { objs: KubeObject[]; skipped: string[] } {
  const v = applySets(defaultValues(), [
    `lab.istiodNode=${site.node}`,
    `lab.istiodIP=${site.ip}`,
    `dnsCapture=${dnsCapture}`,
    ...(redirect ? [`redirect=${redirect}`] : []),
  ]);
  const objs: KubeObject[] = [];
  const skipped: string[] = [];
  for (const o of generateManifests(v)) {
    try {
      resourceFor(o.apiVersion, o.kind);
      objs.push(o);
    } catch {
      skipped.push(`${o.kind}/${o.metadata.name}`);
    }
  }
  return { objs, skipped };
}

type DaemonSetState = KubeObject<
  unknown,
  {
    observedGeneration?: number;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberReady?: number;
  }
>;

/**
 * Waits until both DaemonSets have rolled out their current template on every node: observed
 * generation caught up, every pod updated and Ready (a template change replaces pods first).
 */
async function waitDaemonSets(
  client: KubeClient,
  nodes: number,
  timeoutMs: number,
  lab?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < deadline) {
    try {
      const parts: string[] = [];
      let done = true;
      for (const name of [CNI_DAEMONSET, ZTUNNEL_DAEMONSET]) {
        const ds = await client.tryGet<DaemonSetState>(resources.daemonsets, name, MESH_NAMESPACE);
        const st = ds?.status ?? {};
        const ok =
          !!ds &&
          (st.observedGeneration ?? 0) >= (ds.metadata.generation ?? 1) &&
          st.desiredNumberScheduled === nodes &&
          st.updatedNumberScheduled === nodes &&
          st.numberReady === nodes;
        done &&= ok;
        parts.push(
          `${name} ${st.numberReady ?? 0}/${nodes} ready, ${st.updatedNumberScheduled ?? 0} updated`,
        );
      }
      if (done) return;
      state = parts.join(', ');
    } catch (err) {
      state = errorMessage(err);
    }
    await sleep(250);
  }
  throw new AmbitError(
    'MESH_NOT_READY',
    `mesh DaemonSets not ready after ${timeoutMs / 1000}s: ${state}${await notReadyDetail(client, lab)}`,
    {
      value: state,
      hint: 'see the pod logs under the lab state dir (pods/istio-system_*/*.log)',
    },
  );
}

/**
 * What a timed-out wait names beyond counts: each mesh pod that is not ready, where it runs,
 * its containers' states, and the last lines its containers logged (what a user would look up
 * next; CI keeps no lab dir, so this is all it shows).
 */
async function notReadyDetail(client: KubeClient, lab: string | undefined): Promise<string> {
  try {
    const pods = (await client.list<Pod>(resources.pods, { namespace: MESH_NAMESPACE })).items;
    const lines = pods
      .filter((p) => !podReady(p))
      .map((p) => {
        const tail = lab ? logTail(lab, p, 8) + kubeProxyTail(lab, p.spec?.nodeName, 4) : '';
        return `\n  ${describePod(p)} on ${p.spec?.nodeName ?? '(unscheduled)'}${tail}`;
      });
    return lines.join('');
  } catch (err) {
    return ` (pods not listed: ${errorMessage(err)})`;
  }
}

function logTail(lab: string, p: Pod, n: number): string {
  const dir = join(labPaths(lab).pods, `${MESH_NAMESPACE}_${p.metadata.name}`);
  return (p.spec?.containers ?? [])
    .map((c) => {
      const file = join(dir, `${c.name}.log`);
      if (!existsSync(file)) return `\n    ${c.name}: no log at ${file}`;
      return prefixedTail(file, n, c.name);
    })
    .join('');
}

/**
 * The node's kube-proxy decides whether the control plane's Service VIP answers: a node whose
 * rules still REJECT it keeps its ztunnel unsynced (ECONNREFUSED), so a timeout shows both.
 */
function kubeProxyTail(lab: string, node: string | undefined, n: number): string {
  if (!node) return '';
  const file = join(labPaths(lab).logs, `kube-proxy-${node}.log`);
  return existsSync(file) ? prefixedTail(file, n, `kube-proxy-${node}`) : '';
}

/** The last `n` lines of `file`, each on its own indented line after `who|`. */
function prefixedTail(file: string, n: number, who: string): string {
  const last = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n);
  return last.map((l) => `\n    ${who}| ${l.slice(0, 300)}`).join('');
}

/** The mesh's bare per-node pods of a `mode: 'pods'` install (no owner). */
async function barePods(client: KubeClient): Promise<Pod[]> {
  const pods = (await client.list<Pod>(resources.pods, { namespace: MESH_NAMESPACE })).items;
  return pods.filter(
    (p) =>
      !p.metadata.ownerReferences?.length &&
      (p.metadata.labels?.app === 'ztunnel' || p.metadata.labels?.['k8s-app'] === CNI_DAEMONSET),
  );
}

/** Deletes `pods` and waits until the API server no longer has them. */
async function deleteAndWait(client: KubeClient, pods: Pod[], timeoutMs: number): Promise<void> {
  for (const p of pods) await client.delete(resources.pods, p.metadata.name, MESH_NAMESPACE);
  const deadline = Date.now() + timeoutMs;
  for (const p of pods) {
    while (await client.tryGet<Pod>(resources.pods, p.metadata.name, MESH_NAMESPACE)) {
      if (Date.now() > deadline) {
        throw new AmbitError(
          'MESH_NOT_READY',
          `pod ${p.metadata.name} not gone after ${timeoutMs / 1000}s`,
          {
            value: p.metadata.name,
            hint: 'see its log under the lab state dir (pods/istio-system_*/*.log)',
          },
        );
      }
      await sleep(250);
    }
  }
}

/**
 * The DaemonSet path. Bare pods of an earlier `mode: 'pods'` install go first (their names are
 * the DaemonSets' pods' names; an agent keeps capture on SIGTERM, the new one takes over).
 * Agents on another backend are replaced by the template change; with `lab`, each replaced
 * agent is waited for until it logged the switch.
 */
async function installFromManifests(
  client: KubeClient,
  opts: MeshOptions,
  timeoutMs: number,
): Promise<void> {
  const nodeList = (await client.list<Node>(resources.nodes)).items;
  const nodes = nodeList.length;
  const wanted = opts.redirect ?? 'iptables';
  const agents = (
    await client.list<Pod>(resources.pods, { namespace: MESH_NAMESPACE })
  ).items.filter(
    (p) => p.metadata.labels?.['k8s-app'] === CNI_DAEMONSET && !p.metadata.deletionTimestamp,
  );
  const switched = agents.filter((p) => redirectOf(p) !== wanted).map((p) => p.metadata.name);
  await deleteAndWait(client, await barePods(client), timeoutMs);
  const t = Date.now();
  await applyObjects(
    client,
    labManifests(opts.dnsCapture ?? false, opts.redirect, istiodSite(nodeList)).objs,
  );
  await waitReady(client, ['istiod'], timeoutMs, opts.lab);
  opts.progress?.('control plane (istiod) ready', Date.now() - t);
  const t2 = Date.now();
  await waitDaemonSets(client, nodes, timeoutMs, opts.lab);
  if (opts.lab && switched.length > 0) await waitSwitched(opts.lab, switched, timeoutMs);
  opts.progress?.(`istio-cni and ztunnel DaemonSets on ${nodes} nodes`, Date.now() - t2);
}

export async function installMesh(client: KubeClient, opts: MeshOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const mode = opts.mode ?? (opts.redirectByNode ? 'pods' : 'manifests');
  if (mode === 'manifests') {
    if (opts.redirectByNode) {
      throw new AmbitError(
        'INSTALL_BAD_VALUE',
        'redirectByNode needs per-node pods: a DaemonSet runs one template on every node',
        {
          value: opts.redirectByNode,
          hint: "installMesh(client, { mode: 'pods', redirectByNode })",
        },
      );
    }
    return installFromManifests(client, opts, timeoutMs);
  }
  for (const name of [CNI_DAEMONSET, ZTUNNEL_DAEMONSET]) {
    if (await client.tryGet(resources.daemonsets, name, MESH_NAMESPACE)) {
      throw new AmbitError(
        'INSTALL_BAD_VALUE',
        `mode 'pods': the mesh already runs from DaemonSet ${MESH_NAMESPACE}/${name}`,
        { value: name, hint: 'ambit uninstall (or ambit lab down) first' },
      );
    }
  }
  const step = async (name: string, fn: () => Promise<void>) => {
    const t = Date.now();
    await fn();
    opts.progress?.(name, Date.now() - t);
  };
  const nodes = (await client.list<Node>(resources.nodes)).items;
  const manifest = join(repoRoot(), 'src', 'lab', 'mesh', 'istiod.yaml');
  await step('control plane (istiod) ready', async () => {
    await applyObjects(
      client,
      placeIstiod(parseManifests(readFileSync(manifest, 'utf8'), manifest), istiodSite(nodes)),
    );
    // The same RBAC a real install grants the mesh's service accounts.
    await applyObjects(
      client,
      labManifests(opts.dnsCapture ?? false).objs.filter((o) =>
        ['ClusterRole', 'ClusterRoleBinding'].includes(o.kind),
      ),
    );
    await waitReady(client, ['istiod'], timeoutMs, opts.lab);
  });
  await step(`node agents (istio-cni) on ${nodes.length} nodes`, async () => {
    const agents = nodes.map((n) =>
      cniPod(n, opts.redirectByNode?.[n.metadata.name] ?? opts.redirect),
    );
    const replaced = await replaceOtherBackends(client, agents, timeoutMs);
    await createMissing(client, agents);
    await waitReady(
      client,
      nodes.map((n) => `istio-cni-node-${n.metadata.name}`),
      timeoutMs,
      opts.lab,
    );
    if (opts.lab && replaced.length > 0) await waitSwitched(opts.lab, replaced, timeoutMs);
  });
  await step(`ztunnels on ${nodes.length} nodes`, async () => {
    await createMissing(
      client,
      nodes.map((n) => ztunnelPod(n, opts.dnsCapture ?? false)),
    );
    await waitReady(
      client,
      nodes.map((n) => `ztunnel-${n.metadata.name}`),
      timeoutMs,
      opts.lab,
    );
  });
}

/** Enrols (or releases) a namespace: the label the node agent and control plane act on. */
export async function setAmbient(
  client: KubeClient,
  namespace: string,
  enabled: boolean,
): Promise<void> {
  await client.patch(
    resources.namespaces,
    namespace,
    { metadata: { labels: { [Label.dataplaneMode]: enabled ? 'ambient' : null } } },
    { type: 'merge' },
  );
}
