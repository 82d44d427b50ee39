/**
 * The node agent (istio-cni, node-level mode): watches this node's pods and all namespaces,
 * points the backend at the active ztunnel, keeps the captured set equal to the enrolled
 * pods, marks them `ambient.istio.io/redirection: enabled`, and answers the CNI plugin's
 * ADD/DEL over a unix socket so a new pod is captured before its app starts.
 *
 * Stopping the agent leaves capture in place (fail closed: a DaemonSet rollout must not let
 * plaintext out); `ambit cni uninstall` is the explicit way to remove it. A restarted agent
 * waits for both informers' first lists before it touches the kernel, then converges.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';
import { AmbitError, errorMessage, isCode } from '../errors.js';
import type { KubeClient } from '../k8s/client.js';
import { Informer, objectKey } from '../k8s/informer.js';
import { resources } from '../k8s/resources.js';
import type { Namespace, Pod } from '../k8s/types.js';
import type { Logger } from '../log.js';
import { CoalescedRun } from '../serial.js';
import { netnsRefPath } from '../sys/exec.js';
import { vethTo } from '../sys/ip.js';
import { vethPeerNetns } from '../sys/netns-probe.js';
import { chainPlugin } from './cni-config.js';
import { activeZtunnel, annotationPatch, podEnrolled, ztunnelTarget } from './enrol.js';
import { PodRecord } from './pod-record.js';
import type { PodTarget, RedirectBackend, ZtunnelTarget } from './types.js';

/** After a failed reconcile pass, the next one (every pass re-reads all it needs). */
const RETRY_MS = 1000;

export interface AgentOptions {
  client: KubeClient;
  node: string;
  backend: RedirectBackend;
  /** The node's CNI config dir: the agent chains its plugin into the primary conflist. */
  cniDir: string;
  /** The unix socket the plugin calls (in `cniDir`'s parent by default). */
  socketPath: string;
  /** The agent's record of pod networks from CNI ADD (survives restarts). */
  podRecordFile: string;
  /** How long start() waits for the node's primary CNI config (default 60 s). */
  cniConfigWaitMs?: number;
  /** Node netns when the agent does not run inside it (tests); undefined in the lab. */
  netns?: string;
  log: Logger;
}

/** What `ambit cni plugin` sends for ADD/DEL. */
export interface CniEvent {
  command: 'ADD' | 'DEL';
  uid: string;
  namespace: string;
  name: string;
  ip?: string;
  hostVeth?: string;
  /** CNI_NETNS: the pod's network namespace path. */
  netns?: string;
}

/** The plugin's request body, or undefined when it is not JSON or names another command. */
function parseCniEvent(body: string): CniEvent | undefined {
  try {
    const ev = JSON.parse(body) as CniEvent | null;
    return ev && (ev.command === 'ADD' || ev.command === 'DEL') ? ev : undefined;
  } catch {
    return undefined;
  }
}

export class NodeAgent {
  private readonly pods: Informer<Pod>;
  private readonly namespaces: Informer<Namespace>;
  private server: http.Server | undefined;
  private current: ZtunnelTarget | null = null;
  /** Pod networks learned from CNI ADD (IP before the pod's status has it, veth, netns). */
  private readonly fromCni: PodRecord;
  /**
   * Reconcile passes: one at a time; a burst of events shares one pass, soon (the 1 s budget is
   * for all of it); `now()` when the caller needs its change applied before it goes on.
   */
  private readonly passes = new CoalescedRun(() => this.pass(), 20);
  /** Set by stop(): no event may touch the kernel after (or during) the exit cleanup. */
  private stopped = false;
  /** resync(): re-add every wanted pod even when the backend's record already has it. */
  private forceAdd = false;

  constructor(private readonly o: AgentOptions) {
    const log = o.log;
    this.fromCni = new PodRecord(o.podRecordFile);
    this.pods = new Informer<Pod>(
      o.client,
      resources.pods,
      { fieldSelector: `spec.nodeName=${o.node}` },
      log,
    );
    this.namespaces = new Informer<Namespace>(o.client, resources.namespaces, {}, log);
  }

  async start(): Promise<void> {
    for (const inf of [this.pods, this.namespaces]) {
      inf.on('add', () => this.passes.request());
      inf.on('update', () => this.passes.request());
      inf.on('delete', () => this.passes.request());
      inf.on('synced', () => this.passes.request());
    }
    await Promise.all([this.pods.start(), this.namespaces.start()]);
    await this.passes.now();
    await this.listen();
    await this.installConfig();
    this.o.log.info('node agent ready', {
      node: this.o.node,
      backend: this.o.backend.name,
      socket: this.o.socketPath,
    });
  }

  /**
   * Stops watching and answering; capture and the chained plugin stay (fail closed: until an
   * agent is back, new pods' ADD fails and the kubelet retries; running pods stay captured).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.passes.stop();
    await Promise.all([this.pods.stop(), this.namespaces.stop()]);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    rmSync(this.o.socketPath, { force: true });
    await this.passes.idle();
  }

  /** Re-applies the active ztunnel and every pod (after another backend's cleanup). */
  async resync(): Promise<void> {
    this.current = null;
    this.forceAdd = true;
    await this.passes.now();
  }

  /** One pass; a failed one is retried in a second. */
  private async pass(): Promise<number | undefined> {
    try {
      await this.reconcile();
      return undefined;
    } catch (err) {
      this.o.log.error('reconcile failed; retrying', { error: errorMessage(err) });
      return RETRY_MS;
    }
  }

  private namespaceOf(p: Pod): Namespace | undefined {
    return this.namespaces.cache.get(p.metadata.namespace ?? '');
  }

  private async hostVethOf(p: Pod, ip: string): Promise<string | undefined> {
    const rec = this.fromCni.get(p.metadata.uid ?? '');
    if (rec?.hostVeth && rec.ip === ip) return rec.hostVeth;
    return vethTo(this.o.netns, ip);
  }

  /** CNI ADD's CNI_NETNS when it still exists; else the veth peer's named namespace. */
  private async netnsOf(p: Pod, hostVeth: string): Promise<string | undefined> {
    const rec = this.fromCni.get(p.metadata.uid ?? '');
    if (rec?.netns && rec.hostVeth === hostVeth && existsSync(netnsRefPath(rec.netns))) {
      return rec.netns;
    }
    return vethPeerNetns(this.o.netns, hostVeth);
  }

  private async reconcile(): Promise<void> {
    // Half a view (pods listed, namespaces not yet) would release enrolled pods.
    if (!this.pods.synced || !this.namespaces.synced) return;
    const pods = this.pods.list();
    await this.reconcileZtunnel(pods);
    const want = new Map<string, PodTarget>();
    const wantPods = new Map<string, Pod>();
    const liveUids = new Set<string>();
    for (const p of pods) {
      const uid = p.metadata.uid ?? '';
      liveUids.add(uid);
      if (!podEnrolled(p, this.namespaceOf(p))) {
        // Unmarked before it is released, so peers stop sending it HBONE first.
        const patch = annotationPatch(p, false);
        if (patch) await this.annotate(p, patch);
        continue;
      }
      const ip = p.status?.podIP ?? this.fromCni.get(uid)?.ip;
      if (!ip) continue;
      const rec = this.fromCni.get(uid);
      wantPods.set(ip, p);
      want.set(ip, {
        ip,
        uid,
        hostVeth: await this.hostVethOf(p, ip),
        ...(rec?.netns && rec.ip === ip ? { netns: rec.netns } : {}),
      });
    }
    this.fromCni.prune(liveUids);
    const have = await this.o.backend.capturedPods();
    const force = this.forceAdd;
    this.forceAdd = false;
    for (const [ip, p] of want) {
      if (force || have.get(ip) !== p.uid) {
        await this.o.backend.addPod(p);
        this.o.log.info('pod captured', { ip, uid: p.uid });
      }
    }
    // Marked only once captured: the control plane announces a pod as HBONE on this marker
    // (Istio's CNI annotates after ztunnel took the pod), and a peer's HBONE to a pod whose
    // node does not redirect 15008 yet would meet the app's closed port 15008 (a reset).
    for (const p of wantPods.values()) {
      const patch = annotationPatch(p, true);
      if (patch) await this.annotate(p, patch);
    }
    for (const ip of have.keys()) {
      if (!want.has(ip)) {
        await this.o.backend.removePod(ip);
        this.o.log.info('pod released', { ip });
      }
    }
  }

  private async reconcileZtunnel(pods: Pod[]): Promise<void> {
    const z = activeZtunnel(pods);
    let target: ZtunnelTarget | null = null;
    if (z) {
      const veth = await this.hostVethOf(z, z.status!.podIP!);
      const netns = veth ? await this.netnsOf(z, veth) : undefined;
      target = veth && netns ? (ztunnelTarget(z, veth, netns) ?? null) : null;
      if (!target) this.o.log.warn('ztunnel pod without netns/veth yet', { pod: objectKey(z) });
    }
    if (JSON.stringify(target) === JSON.stringify(this.current)) return;
    // A restarted agent meets the installed ztunnel again: the backend converges, no rewire.
    await this.o.backend.setZtunnel(target);
    this.current = target;
    this.o.log.info(target ? 'active ztunnel' : 'no ztunnel ready (fail closed)', {
      ztunnel: target?.podIp,
      veth: target?.hostVeth,
      ...this.o.backend.status().details,
    });
  }

  private async annotate(p: Pod, patch: Record<string, unknown>): Promise<void> {
    try {
      await this.o.client.patch(resources.pods, p.metadata.name, patch, {
        namespace: p.metadata.namespace,
        type: 'merge',
      });
    } catch (err) {
      this.o.log.warn('cannot annotate pod', { pod: objectKey(p), error: errorMessage(err) });
    }
  }

  /** The plugin's ADD: capture now if enrolled, so the app's first packet is already captured. */
  async handleCni(ev: CniEvent): Promise<{ captured: boolean }> {
    if (this.stopped) {
      throw new AmbitError('CNI_AGENT_STOPPING', 'node agent is shutting down', {
        value: ev.uid,
        hint: 'the kubelet retries the pod; the next agent answers',
      });
    }
    if (ev.command === 'DEL') {
      // Istio's CmdDelete is a no-op; releasing the IP here keeps a quick reuse clean.
      this.fromCni.delete(ev.uid);
      if (ev.ip) {
        const have = await this.o.backend.capturedPods();
        if (have.get(ev.ip) === ev.uid) await this.o.backend.removePod(ev.ip);
      }
      return { captured: false };
    }
    let pod = this.pods.cache.get(`${ev.namespace}/${ev.name}`);
    if (!pod || pod.metadata.uid !== ev.uid) {
      pod = await this.o.client.tryGet<Pod>(resources.pods, ev.name, ev.namespace);
    }
    if (!pod || !ev.ip) return { captured: false };
    // Every pod's network is recorded (the ztunnel's netns comes from here, too).
    this.fromCni.set({
      ip: ev.ip,
      uid: ev.uid,
      ...(ev.hostVeth ? { hostVeth: ev.hostVeth } : {}),
      ...(ev.netns ? { netns: ev.netns } : {}),
    });
    const ns =
      this.namespaces.cache.get(ev.namespace) ??
      (await this.o.client.tryGet<Namespace>(resources.namespaces, ev.namespace));
    if (!podEnrolled(pod, ns)) return { captured: false };
    await this.o.backend.addPod(this.fromCni.get(ev.uid)!);
    this.o.log.info('pod captured (cni add)', { pod: `${ev.namespace}/${ev.name}`, ip: ev.ip });
    this.passes.request();
    return { captured: true };
  }

  private listen(): Promise<void> {
    mkdirSync(dirname(this.o.socketPath), { recursive: true });
    rmSync(this.o.socketPath, { force: true });
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        const reply = (code: number, obj: unknown) => {
          res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
        };
        const ev = parseCniEvent(body);
        if (!ev) {
          reply(400, { error: 'expected {command: ADD|DEL, uid, namespace, name, ip}' });
          return;
        }
        this.handleCni(ev).then(
          (r) => reply(200, r),
          (err: unknown) => {
            this.o.log.error('cni event failed', { uid: ev.uid, error: errorMessage(err) });
            reply(500, { error: errorMessage(err) });
          },
        );
      });
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.socketPath, () => resolve());
    });
  }

  /**
   * Chains `ambit-cni` into the node's primary conflist (istio-cni's install-cni), waiting a
   * bounded time for the pod network to be configured first.
   */
  private async installConfig(): Promise<void> {
    const plugin = { agentSocket: this.o.socketPath, logLevel: 'info' };
    const deadline = Date.now() + (this.o.cniConfigWaitMs ?? 60_000);
    for (;;) {
      try {
        const file = chainPlugin(this.o.cniDir, plugin);
        this.o.log.info('cni plugin chained', { conflist: file });
        return;
      } catch (err) {
        if (!isCode(err, 'CNI_NO_PRIMARY_CONFIG')) throw err;
        if (Date.now() > deadline || this.stopped) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
