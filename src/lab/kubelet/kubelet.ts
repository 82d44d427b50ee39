/**
 * The lab kubelet of one node: watches Pods with spec.nodeName=<node>, runs one PodWorker per
 * pod (calls into a worker are serialized), probes readiness, keeps the Node Ready, and on
 * start adopts the pods a previous kubelet of this node started (removing those deleted since).
 */
import type http from 'node:http';
import { errorMessage } from '../../errors.js';
import { Informer } from '../../k8s/informer.js';
import { resources } from '../../k8s/resources.js';
import type { Pod } from '../../k8s/types.js';
import { nodeStatus } from '../orchestrator/nodes.js';
import { ensurePrimaryConflist } from './cni.js';
import type { KubeletContext } from './context.js';
import { loadLeftovers, removeLeftover, type Leftover } from './leftovers.js';
import { PodWorker } from './pod.js';
import { startStreamServer } from './server.js';
import { kubeletSocket } from '../cluster/paths.js';

const PROBE_MS = 1000;
const HEARTBEAT_MS = 10_000;
const VOLUME_SYNC_MS = 5000;

export class Kubelet {
  private readonly workers = new Map<string, PodWorker>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly informer: Informer<Pod>;
  private timers: NodeJS.Timeout[] = [];
  private leftovers = new Map<string, Leftover>();
  private stream: http.Server | undefined;

  constructor(private readonly ctx: KubeletContext) {
    this.informer = new Informer<Pod>(
      ctx.client,
      resources.pods,
      { fieldSelector: `spec.nodeName=${ctx.node.name}` },
      ctx.log,
    );
    this.informer.on('add', (p) => this.onPod(p));
    this.informer.on('update', (p) => this.onPod(p));
    this.informer.on('delete', (p) => this.onDeleted(p));
    ctx.takenIps = (except) => {
      const s = new Set<string>();
      for (const p of this.informer.list()) {
        if (p.metadata.uid !== except && !p.spec?.hostNetwork && p.status?.podIP)
          s.add(p.status.podIP);
      }
      return s;
    };
  }

  async start(): Promise<void> {
    this.leftovers = loadLeftovers(this.ctx);
    ensurePrimaryConflist(this.ctx.cniDir);
    await this.heartbeat();
    await this.informer.start();
    // Pods of a previous kubelet that no longer exist in the API: remove what they left.
    for (const [uid, l] of this.leftovers) {
      this.leftovers.delete(uid);
      this.enqueue(uid, () => removeLeftover(this.ctx, l));
    }
    this.stream ??= await startStreamServer({
      socket: kubeletSocket(this.ctx.paths.dir, this.ctx.node.name),
      find: (ns, name) => this.find(ns, name),
      log: this.ctx.log,
    });
    this.timers.push(setInterval(() => this.probeAll(), PROBE_MS));
    this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_MS));
    this.timers.push(setInterval(() => this.refreshVolumes(), VOLUME_SYNC_MS));
    this.ctx.log.info('kubelet running', { node: this.ctx.node.name, pods: this.workers.size });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.informer.stop();
    this.stream?.close();
    this.stream?.closeAllConnections();
  }

  /** The live (not terminating) pod of that name on this node. */
  find(namespace: string, name: string): PodWorker | undefined {
    for (const w of this.workers.values()) {
      const m = w.pod.metadata;
      if (m.name === name && (m.namespace ?? 'default') === namespace && !w.isTerminating) return w;
    }
    return undefined;
  }

  private enqueue(uid: string, fn: () => Promise<void>): void {
    const prev = this.queues.get(uid) ?? Promise.resolve();
    const next = prev
      .then(fn)
      .catch((err: unknown) =>
        this.ctx.log.error('pod work failed', { uid, error: errorMessage(err) }),
      );
    this.queues.set(uid, next);
    void next.then(() => {
      if (this.queues.get(uid) === next) this.queues.delete(uid);
    });
  }

  private onPod(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    let w = this.workers.get(uid);
    if (!w) {
      const phase = pod.status?.phase;
      if ((phase === 'Succeeded' || phase === 'Failed') && !pod.metadata.deletionTimestamp) return;
      w = new PodWorker(this.ctx, pod, (fn) => this.enqueue(uid, fn));
      this.workers.set(uid, w);
      const left = this.leftovers.get(uid);
      if (left) {
        this.leftovers.delete(uid);
        const worker = w;
        this.enqueue(uid, () => worker.adopt(left));
      }
    }
    w.pod = pod;
    const worker = w;
    if (pod.metadata.deletionTimestamp) {
      if (worker.isTerminating) return;
      this.enqueue(uid, async () => {
        await worker.terminate(true);
        this.workers.delete(uid);
      });
    } else {
      this.enqueue(uid, () => worker.sync());
    }
  }

  private onDeleted(pod: Pod): void {
    const uid = pod.metadata.uid ?? '';
    const w = this.workers.get(uid);
    if (!w) return;
    this.enqueue(uid, async () => {
      await w.terminate(false);
      this.workers.delete(uid);
    });
  }

  private probeAll(): void {
    for (const w of this.workers.values()) {
      w.probe().catch((err: unknown) =>
        this.ctx.log.debug('probe failed', { pod: w.key, error: errorMessage(err) }),
      );
    }
  }

  private refreshVolumes(): void {
    for (const w of this.workers.values()) {
      this.enqueue(w.uid, () =>
        w
          .refreshVolumes()
          .catch((err: unknown) =>
            this.ctx.log.debug('volume refresh failed', { pod: w.key, error: errorMessage(err) }),
          ),
      );
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.ctx.client.patch(
        resources.nodes,
        this.ctx.node.name,
        { status: nodeStatus(this.ctx.node) },
        { subresource: 'status' },
      );
    } catch (err) {
      this.ctx.log.warn('node status update failed', { error: errorMessage(err) });
    }
  }
}
