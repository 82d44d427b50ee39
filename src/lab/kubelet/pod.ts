/**
 * One pod's lifecycle on this node: set up (address, netns + veth, files, CNI ADD), start
 * and restart its containers per restartPolicy with capped backoff, report status, and tear
 * everything down on deletion. Calls into a PodWorker are serialized by the kubelet.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../../errors.js';
import { KubeApiError } from '../../k8s/client.js';
import { resourcePath, resources } from '../../k8s/resources.js';
import type { Container, Pod } from '../../k8s/types.js';
import { netnsExists } from '../../sys/ip.js';
import { isOurs } from '../../sys/process.js';
import type { Sandbox } from '../../sys/sandbox.js';
import { LabAnnotation } from '../conventions.js';
import { invokeCni, type CniPod } from './cni.js';
import { PodContainers } from './containers.js';
import type { KubeletContext } from './context.js';
import { containerEnv } from './env.js';
import { pidFileName, removeLeftover, type Leftover, type PodRecord } from './leftovers.js';
import { podSandbox } from './pod-sandbox.js';
import { createPodNetwork, removePodNetwork, writeHosts, type PodNet } from './pod-network.js';
import { computeStatus } from './status.js';
import { ServiceRange } from '../cluster/service-range.js';
import { CoalescedRun } from '../../serial.js';
import {
  podVolumes,
  SERVICE_ACCOUNT_DIR,
  volumeEnvName,
  writeConfigMapVolumes,
  writeToken,
} from './volumes.js';

export const NETNS_ANNOTATION = LabAnnotation.netns;
export const VETH_ANNOTATION = LabAnnotation.hostVeth;
const RETRY_MS = 1000;
const REPORT_RETRY_MS = 2000;
const REPORT_DELAY_MS = 50;
const TOKEN_RENEW_MS = 12 * 3600_000;

/** What the kubelet's streaming server (logs, exec, port-forward) needs of a container. */
export interface StreamContainer {
  name: string;
  pid?: number;
  env: Record<string, string>;
  cwd: string;
  log: string;
  previousLog: string;
  /** Why it is not running, when it is not (e.g. ContainerCreating, CrashLoopBackOff). */
  waiting?: string;
  /** True while the instance running now is still running. */
  running(): boolean;
}

export class PodWorker {
  pod: Pod;
  readonly uid: string;
  private readonly hostNetwork: boolean;
  private net: PodNet | undefined;
  private initialized = false;
  private cniDone = false;
  private pendingReason: { reason: string; message: string } | undefined;
  private extraEnv: Record<string, string> = {};
  private readonly containers: PodContainers;
  private terminating = false;
  private gone = false;
  private readonly startTime = new Date().toISOString();
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly statusReports = new CoalescedRun(() => this.sendStatus(), REPORT_DELAY_MS);
  private tokenAt = 0;
  private annotated = false;

  constructor(
    private readonly ctx: KubeletContext,
    pod: Pod,
    private readonly enqueue: (fn: () => Promise<void>) => void,
  ) {
    this.pod = pod;
    this.uid = pod.metadata.uid ?? '';
    this.hostNetwork = pod.spec?.hostNetwork === true;
    this.containers = new PodContainers(
      ctx,
      {
        pod: () => this.pod,
        key: () => this.key,
        podDir: () => this.podDir,
        stopped: () => this.terminating || this.gone,
        env: (c) => this.env(c),
        sandbox: (c) => this.sandbox(c),
        logFile: (c) => this.logFile(c),
        pidFile: (c) => this.pidFile(c),
        enqueue,
        report: () => this.report(),
      },
      pod.spec?.containers ?? [],
    );
  }

  get key(): string {
    return `${this.pod.metadata.namespace ?? 'default'}/${this.pod.metadata.name}`;
  }

  get podDir(): string {
    return join(
      this.ctx.paths.pods,
      `${this.pod.metadata.namespace ?? 'default'}_${this.pod.metadata.name}`,
    );
  }

  get isTerminating(): boolean {
    return this.terminating;
  }

  private get podIP(): string | undefined {
    return this.hostNetwork ? this.ctx.node.ip : this.net?.ip;
  }

  /** The pod's network namespace (the node's for hostNetwork pods), once set up. */
  get netns(): string | undefined {
    return this.hostNetwork ? this.ctx.nodeNetns : this.net?.netns;
  }

  get containerNames(): string[] {
    return this.containers.names;
  }

  streamContainer(name: string): StreamContainer | undefined {
    const rt = this.containers.get(name);
    if (!rt) return undefined;
    const pid = rt.pid;
    return {
      name,
      pid,
      env: this.env(rt.spec),
      cwd: this.podDir,
      log: this.logFile(name),
      previousLog: this.logFile(name) + '.prev',
      waiting: 'waiting' in rt.state ? rt.state.waiting.reason : undefined,
      running: () => pid !== undefined && rt.pid === pid,
    };
  }

  /** The pod's hostname: its name (at most 63 characters), the node's for hostNetwork pods. */
  get hostname(): string {
    if (this.hostNetwork) return this.ctx.node.name;
    return this.pod.metadata.name.slice(0, 63).replace(/[-.]+$/, '');
  }

  /** Where the sandbox holds the pod's directory while it hides the lab's state. */
  private get stashDir(): string {
    return join(this.ctx.paths.dir, 'mnt', this.uid);
  }

  /** The pod's namespaces for one container (pod-sandbox.ts). */
  private sandbox(c: Container): Sandbox {
    return podSandbox({
      pod: this.pod,
      container: c,
      netns: this.hostNetwork ? this.ctx.nodeNetns : this.net!.netns,
      hostname: this.hostname,
      podDir: this.podDir,
      stash: this.stashDir,
      paths: this.ctx.paths,
    });
  }

  private logFile(container: string): string {
    return join(this.podDir, `${container}.log`);
  }

  private pidFile(container: string): string {
    return join(this.ctx.paths.pids, pidFileName(this.uid, container));
  }

  /** Brings the pod towards running: set up what is missing, then start containers. */
  async sync(): Promise<void> {
    if (this.terminating || this.gone) return;
    if (this.initialized) return;
    try {
      await this.setup();
    } catch (err) {
      const code = err instanceof AmbitError ? err.code : 'ERROR';
      const reason =
        code === 'KUBELET_CONFIGMAP_MISSING' ||
        code === 'KUBELET_NO_TOKEN' ||
        code === 'K8S_API_ERROR'
          ? 'FailedMount'
          : 'FailedCreatePodSandBox';
      const message = errorMessage(err);
      this.pendingReason = { reason, message };
      this.ctx.events.emit(this.pod, 'Warning', reason, message);
      this.report();
      this.retryTimer = setTimeout(() => this.enqueue(() => this.sync()), RETRY_MS);
      return;
    }
    this.initialized = true;
    this.pendingReason = undefined;
    this.writeRecord({
      netns: this.net?.netns,
      hostVeth: this.net?.veth,
      podIP: this.net?.ip,
      complete: true,
      cniDone: this.cniDone,
    });
    for (const name of this.containers.names) this.containers.start(name);
    this.report();
  }

  /**
   * Takes over a pod a previous kubelet of this node set up: its network and the container
   * processes still running (their exits are noticed by polling, as they are not our
   * children). An incomplete setup is removed and done again.
   */
  async adopt(l: Leftover): Promise<void> {
    const r = l.rec;
    const netOk = this.hostNetwork || (r.netns && r.hostVeth && r.podIP && netnsExists(r.netns));
    if (!r.complete || !netOk) {
      await removeLeftover(this.ctx, l);
      return;
    }
    if (!this.hostNetwork) {
      try {
        this.ctx.ipam.allocate(this.uid, { pinned: r.podIP });
      } catch (err) {
        this.ctx.log.warn('cannot adopt pod address, setting the pod up again', {
          pod: this.key,
          error: errorMessage(err),
        });
        await removeLeftover(this.ctx, l);
        return;
      }
      this.net = { netns: r.netns!, veth: r.hostVeth!, ip: r.podIP! };
    }
    this.cniDone = r.cniDone === true;
    this.extraEnv = { AMBIT_KUBE_TOKEN_FILE: `${SERVICE_ACCOUNT_DIR}/token` };
    this.tokenAt = 0; // its age is unknown: renew at the next volume sync
    for (const v of podVolumes(this.pod)) {
      this.extraEnv[volumeEnvName(v.name)] = join(this.podDir, 'volumes', v.name);
    }
    this.initialized = true;
    const reported = new Map((this.pod.status?.containerStatuses ?? []).map((c) => [c.name, c]));
    for (const rt of this.containers.all()) {
      const pr = l.pids.get(rt.name);
      const prev = reported.get(rt.name);
      rt.restartCount = prev?.restartCount ?? 0;
      if (pr && isOurs(pr)) {
        rt.pid = pr.pid;
        rt.started = true;
        rt.startedAtMs = Date.now();
        const running = prev?.state?.running as { startedAt?: string } | undefined;
        rt.state = { running: { startedAt: running?.startedAt ?? new Date().toISOString() } };
        rt.ready = rt.spec.readinessProbe === undefined;
        rt.probes = { fails: 0, oks: 0 };
      } else {
        rt.started = rt.restartCount > 0 || prev !== undefined;
        this.containers.start(rt.name);
      }
    }
    this.ctx.log.info('adopted pod', { pod: this.key, ip: this.podIP });
    this.report();
  }

  private async setup(): Promise<void> {
    const pod = this.pod;
    const ns = pod.metadata.namespace ?? 'default';
    if (!this.hostNetwork && !this.net) {
      this.net = await createPodNetwork(this.ctx, pod, this.uid, (net) =>
        this.writeRecord({ netns: net.netns, hostVeth: net.veth, podIP: net.ip }),
      );
      this.report();
    }
    if (this.net && !this.annotated) {
      const { netns, veth } = this.net;
      await this.ctx.client.patch(
        resources.pods,
        pod.metadata.name,
        { metadata: { annotations: { [NETNS_ANNOTATION]: netns, [VETH_ANNOTATION]: veth } } },
        { namespace: ns },
      );
      this.annotated = true;
    } else if (this.hostNetwork && !pod.metadata.annotations?.[NETNS_ANNOTATION]) {
      this.writeRecord({});
      await this.ctx.client.patch(
        resources.pods,
        pod.metadata.name,
        { metadata: { annotations: { [NETNS_ANNOTATION]: this.ctx.nodeNetns } } },
        { namespace: ns },
      );
    }
    mkdirSync(this.podDir, { recursive: true });
    mkdirSync(this.stashDir, { recursive: true });
    if (this.net) writeHosts(this.net, this.hostname);
    await writeToken(this.ctx.client, pod, this.podDir);
    this.tokenAt = Date.now();
    const volumeEnv = await writeConfigMapVolumes(this.ctx.client, pod, this.podDir);
    // The container reads its token where Kubernetes mounts it (the sandbox binds it there).
    this.extraEnv = { ...volumeEnv, AMBIT_KUBE_TOKEN_FILE: `${SERVICE_ACCOUNT_DIR}/token` };
    if (!this.hostNetwork && !this.cniDone && this.net) {
      await invokeCni(this.ctx.cniDir, 'ADD', this.cniPod());
      this.cniDone = true;
    }
  }

  private cniPod(): CniPod {
    return {
      uid: this.uid,
      name: this.pod.metadata.name,
      namespace: this.pod.metadata.namespace ?? 'default',
      netns: this.net!.netns,
      hostVeth: this.net!.veth,
      podIP: this.net!.ip,
      gateway: this.ctx.ipam.gateway(),
    };
  }

  private writeRecord(r: Omit<PodRecord, 'uid' | 'namespace' | 'name'>): void {
    const rec: PodRecord = {
      uid: this.uid,
      namespace: this.pod.metadata.namespace ?? 'default',
      name: this.pod.metadata.name,
      ...r,
    };
    mkdirSync(this.ctx.recordDir, { recursive: true });
    writeFileSync(join(this.ctx.recordDir, `${this.uid}.json`), JSON.stringify(rec) + '\n');
  }

  private env(c: Container): Record<string, string> {
    return containerEnv({
      pod: this.pod,
      container: c,
      nodeName: this.ctx.node.name,
      hostIP: this.ctx.node.ip,
      podIP: this.podIP ?? '',
      lab: this.ctx.lab,
      stateBase: this.ctx.stateBase,
      server: this.ctx.inLabServer,
      kubernetesIP: new ServiceRange(this.ctx.cluster.serviceCIDR).kubernetesIP,
      podDir: this.podDir,
      hostname: this.hostname,
      extra: this.extraEnv,
    });
  }

  /** Probes running containers that have a readiness probe; reports on change. */
  async probe(): Promise<void> {
    const ip = this.podIP;
    if (!ip || this.terminating) return;
    await this.containers.probe(ip, this.netns);
  }

  /**
   * Status reports are coalesced: many changes in a burst become one PATCH, one in flight at a
   * time (an older ContainerCreating must never land over a newer Running). Once the pod is
   * gone the reporter is stopped and ignores requests.
   */
  report(): void {
    this.statusReports.request();
  }

  /** One status PATCH; the ms to retry after when the API server did not take it. */
  private async sendStatus(): Promise<number | undefined> {
    if (this.gone) return undefined;
    try {
      const status = computeStatus({
        initialized: this.initialized,
        podIP: this.podIP,
        hostIP: this.ctx.node.ip,
        startTime: this.startTime,
        containers: this.containers.all(),
        pendingReason: this.pendingReason,
      });
      await this.ctx.client.patch(
        resources.pods,
        this.pod.metadata.name,
        { status },
        { namespace: this.pod.metadata.namespace, subresource: 'status' },
      );
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) {
        this.ctx.log.warn('status update failed, retrying', {
          pod: this.key,
          error: errorMessage(err),
        });
        // The API server may be restarting: try again in a while, not in a tight loop.
        return REPORT_RETRY_MS;
      }
    }
    return undefined;
  }

  /** Rewrites ConfigMap volumes from the API (Kubernetes syncs them periodically too), and renews the token. */
  async refreshVolumes(): Promise<void> {
    if (!this.initialized || this.terminating || this.gone) return;
    await writeConfigMapVolumes(this.ctx.client, this.pod, this.podDir);
    // Tokens live 24 h; renew at half-life.
    if (Date.now() - this.tokenAt > TOKEN_RENEW_MS) {
      await writeToken(this.ctx.client, this.pod, this.podDir);
      this.tokenAt = Date.now();
    }
  }

  /**
   * Stops containers (SIGTERM, SIGKILL after the grace period), CNI DEL, removes the network
   * and files; with `deleteFromApi`, finally deletes the Pod object for good.
   */
  async terminate(deleteFromApi: boolean): Promise<void> {
    if (this.gone) return;
    this.terminating = true;
    clearTimeout(this.retryTimer);
    const meta = this.pod.metadata as { deletionGracePeriodSeconds?: number };
    const grace =
      meta.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    await this.containers.stopAll(grace * 1000);
    if (this.cniDone && this.net) {
      try {
        await invokeCni(this.ctx.cniDir, 'DEL', this.cniPod());
      } catch (err) {
        this.ctx.events.emit(this.pod, 'Warning', 'FailedKillPod', errorMessage(err));
      }
    }
    if (this.net) await removePodNetwork(this.ctx, this.net);
    this.ctx.ipam.release(this.uid);
    rmSync(this.podDir, { recursive: true, force: true });
    rmSync(this.stashDir, { recursive: true, force: true });
    rmSync(join(this.ctx.recordDir, `${this.uid}.json`), { force: true });
    this.gone = true;
    this.statusReports.stop();
    if (deleteFromApi) {
      const ns = this.pod.metadata.namespace ?? 'default';
      try {
        await this.ctx.client.request(
          'DELETE',
          resourcePath(resources.pods, ns, this.pod.metadata.name),
          {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            gracePeriodSeconds: 0,
            preconditions: { uid: this.uid },
          },
        );
      } catch (err) {
        if (!(err instanceof KubeApiError && (err.status === 404 || err.status === 409))) throw err;
      }
    }
    this.ctx.log.info('pod removed', { pod: this.key, uid: this.uid });
  }
}
