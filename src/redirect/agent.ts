/**
 * The node agent (istio-cni, node-level iptables mode): watches this node's pods and all
 * namespaces, points the backend at the active ztunnel, keeps the captured set equal to the
 * enrolled pods, marks them `ambient.istio.io/redirection: enabled`, and answers the CNI
 * plugin's ADD/DEL over a unix socket so a new pod is captured before its app starts.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { KubeClient } from '../k8s/client.js';
import { Informer, objectKey } from '../k8s/informer.js';
import { resources } from '../k8s/resources.js';
import type { Namespace, Pod } from '../k8s/types.js';
import type { Logger } from '../log.js';
import { vethTo } from '../sys/ip.js';
import { Annot } from './constants.js';
import { activeZtunnel, annotationPatch, podEnrolled, ztunnelTarget } from './enrol.js';
import type { PodTarget, RedirectBackend, ZtunnelTarget } from './types.js';

export interface AgentOptions {
  client: KubeClient;
  node: string;
  backend: RedirectBackend;
  /** The node's CNI config dir: the agent writes `10-ambit.conflist` there. */
  cniDir: string;
  /** The unix socket the plugin calls (in `cniDir`'s parent by default). */
  socketPath: string;
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
}

export const CONFLIST_NAME = '10-ambit.conflist';

export class NodeAgent {
  private readonly pods: Informer<Pod>;
  private readonly namespaces: Informer<Namespace>;
  private server: http.Server | undefined;
  private current: ZtunnelTarget | null = null;
  /** Pod IPs learned from CNI ADD before the pod's status carries them, by uid. */
  private readonly fromCni = new Map<string, PodTarget>();
  private running: Promise<void> | undefined;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  /** Set by stop(): no event may touch the kernel after (or during) the exit cleanup. */
  private stopped = false;

  constructor(private readonly o: AgentOptions) {
    const log = o.log;
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
      inf.on('add', () => this.schedule());
      inf.on('update', () => this.schedule());
      inf.on('delete', () => this.schedule());
      inf.on('synced', () => this.schedule());
    }
    await Promise.all([this.pods.start(), this.namespaces.start()]);
    await this.reconcileNow();
    await this.listen();
    this.installConfig();
    this.o.log.info('node agent ready', {
      node: this.o.node,
      backend: this.o.backend.name,
      socket: this.o.socketPath,
    });
  }

  /** Stops watching; with `uninstall`, removes every capture rule (Istio does on exit). */
  async stop(uninstall: boolean): Promise<void> {
    this.stopped = true;
    rmSync(join(this.o.cniDir, CONFLIST_NAME), { force: true });
    clearTimeout(this.timer);
    await Promise.all([this.pods.stop(), this.namespaces.stop()]);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    rmSync(this.o.socketPath, { force: true });
    await this.running;
    if (uninstall) await this.o.backend.uninstall();
  }

  /** Coalesces bursts of events into one pass, soon (the 1 s budget is for all of it). */
  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reconcileNow();
    }, 20);
  }

  private reconcileNow(): Promise<void> {
    if (this.running) {
      this.dirty = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.dirty = false;
        if (this.stopped) break;
        try {
          await this.reconcile();
        } catch (err) {
          this.o.log.error('reconcile failed; retrying', { error: errorMessage(err) });
          setTimeout(() => this.schedule(), 1000).unref();
        }
      } while (this.dirty);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private namespaceOf(p: Pod): Namespace | undefined {
    return this.namespaces.cache.get(p.metadata.namespace ?? '');
  }

  private async hostVethOf(p: Pod, ip: string): Promise<string | undefined> {
    return p.metadata.annotations?.[Annot.hostVeth] ?? (await vethTo(this.o.netns, ip));
  }

  private async reconcile(): Promise<void> {
    const pods = this.pods.list();
    await this.reconcileZtunnel(pods);
    const want = new Map<string, PodTarget>();
    const liveUids = new Set<string>();
    for (const p of pods) {
      const uid = p.metadata.uid ?? '';
      liveUids.add(uid);
      const enrolled = podEnrolled(p, this.namespaceOf(p));
      const patch = annotationPatch(p, enrolled);
      if (patch) await this.annotate(p, patch);
      if (!enrolled) continue;
      const ip = p.status?.podIP ?? this.fromCni.get(uid)?.ip;
      if (!ip) continue;
      want.set(ip, { ip, uid, hostVeth: await this.hostVethOf(p, ip) });
    }
    for (const uid of this.fromCni.keys()) if (!liveUids.has(uid)) this.fromCni.delete(uid);
    const have = await this.o.backend.capturedPods();
    for (const [ip, p] of want) {
      if (have.get(ip) !== p.uid) {
        await this.o.backend.addPod(p);
        this.o.log.info('pod captured', { ip, uid: p.uid });
      }
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
      target = veth ? (ztunnelTarget(z, veth) ?? null) : null;
      if (!target) this.o.log.warn('ztunnel pod without netns/veth yet', { pod: objectKey(z) });
    }
    if (JSON.stringify(target) === JSON.stringify(this.current)) return;
    // A restarted agent meets the installed ztunnel again: the backend converges, no rewire.
    await this.o.backend.setZtunnel(target);
    this.current = target;
    this.o.log.info(target ? 'active ztunnel' : 'no ztunnel ready (fail closed)', {
      ztunnel: target?.podIp,
      veth: target?.hostVeth,
      tunnel: this.o.backend.status().tunnel,
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
    if (this.stopped) throw new Error('node agent is shutting down');
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
    const ns =
      this.namespaces.cache.get(ev.namespace) ??
      (await this.o.client.tryGet<Namespace>(resources.namespaces, ev.namespace));
    if (!podEnrolled(pod, ns)) return { captured: false };
    const target = { ip: ev.ip, uid: ev.uid, hostVeth: ev.hostVeth };
    this.fromCni.set(ev.uid, target);
    await this.o.backend.addPod(target);
    this.o.log.info('pod captured (cni add)', { pod: `${ev.namespace}/${ev.name}`, ip: ev.ip });
    this.schedule();
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
        let ev: CniEvent;
        try {
          ev = JSON.parse(body) as CniEvent;
          if (ev.command !== 'ADD' && ev.command !== 'DEL') throw new Error('command');
        } catch {
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

  /** Chains `ambit-cni` after the pod network, like istio-cni's install-cni does. */
  private installConfig(): void {
    mkdirSync(this.o.cniDir, { recursive: true });
    const conf = {
      cniVersion: '1.0.0',
      name: 'ambit',
      plugins: [
        { type: 'ptp', ipMasq: false },
        { type: 'ambit-cni', agentSocket: this.o.socketPath, logLevel: 'info' },
      ],
    };
    const file = join(this.o.cniDir, CONFLIST_NAME);
    writeFileSync(`${file}.tmp`, JSON.stringify(conf, null, 2) + '\n');
    // rename: the kubelet never reads a half-written file.
    renameSync(`${file}.tmp`, file);
  }
}
