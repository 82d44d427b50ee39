/**
 * One pod's lifecycle on this node: set up (address, netns + veth, files, CNI ADD), start
 * and restart its containers per restartPolicy with capped backoff, report status, and tear
 * everything down on deletion. Calls into a PodWorker are serialized by the kubelet.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../../errors.js';
import { KubeApiError } from '../../k8s/client.js';
import { resourcePath, resources } from '../../k8s/resources.js';
import type { Container, Pod } from '../../k8s/types.js';
import { netnsExists } from '../../sys/ip.js';
import { alive, isOurs, stopProcess } from '../../sys/process.js';
import { netnsNames } from '../cluster/cluster.js';
import { createPodNet, destroyPodNet, etcNetnsDir, hostVethName } from '../net/pod-net.js';
import { invokeCni, type CniPod } from './cni.js';
import type { KubeletContext } from './context.js';
import { IP_ANNOTATION } from './ipam.js';
import { pidFileName, removeLeftover, type Leftover, type PodRecord } from './leftovers.js';
import { probeReady } from './probe.js';
import { containerEnv } from './env.js';
import { containerArgv, startContainer } from './runner.js';
import { computeStatus, type ContainerView } from './status.js';
import type { Sandbox, SandboxBind } from '../../sys/sandbox.js';
import {
  podVolumes,
  SERVICE_ACCOUNT_DIR,
  serviceAccountDir,
  volumeEnvName,
  writeConfigMapVolumes,
  writeToken,
} from './volumes.js';
import { LabAnnotation } from '../conventions.js';

export const NETNS_ANNOTATION = LabAnnotation.netns;
export const VETH_ANNOTATION = LabAnnotation.hostVeth;
const RETRY_MS = 1000;
const REPORT_RETRY_MS = 2000;
const TOKEN_RENEW_MS = 12 * 3600_000;
const BACKOFF_MAX_MS = 30_000;
const BACKOFF_RESET_MS = 60_000;

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

interface ContainerRt extends ContainerView {
  spec: Container;
  child?: ChildProcess;
  startedAtMs: number;
  failures: number;
  timer?: NodeJS.Timeout;
}

export class PodWorker {
  pod: Pod;
  readonly uid: string;
  private readonly hostNetwork: boolean;
  private net: { netns: string; veth: string; ip: string } | undefined;
  private initialized = false;
  private cniDone = false;
  private pendingReason: { reason: string; message: string } | undefined;
  private extraEnv: Record<string, string> = {};
  private readonly containers = new Map<string, ContainerRt>();
  private terminating = false;
  private gone = false;
  private readonly startTime = new Date().toISOString();
  private retryTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
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
    for (const c of pod.spec?.containers ?? []) {
      this.containers.set(c.name, {
        spec: c,
        name: c.name,
        image: c.image ?? '',
        state: { waiting: { reason: 'ContainerCreating' } },
        restartCount: 0,
        ready: false,
        started: false,
        final: false,
        startedAtMs: 0,
        failures: 0,
      });
    }
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
    return [...this.containers.keys()];
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

  /**
   * The pod's namespaces for one container: its files at the Kubernetes paths (the
   * service-account volume, ConfigMap and Secret volumes at their mountPath), the lab's state
   * hidden. A mountPath is created only under /var/run or /run (tmpfs); elsewhere it must
   * already exist on the machine, or the volume stays reachable through AMBIT_VOLUME_* only.
   */
  private sandbox(c: Container): Sandbox {
    const binds: SandboxBind[] = [
      {
        src: serviceAccountDir(this.podDir),
        dst: SERVICE_ACCOUNT_DIR,
        create: true,
        readOnly: true,
      },
    ];
    const volumes = new Set(podVolumes(this.pod).map((v) => v.name));
    const mounts =
      (c as { volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] })
        .volumeMounts ?? [];
    for (const m of mounts) {
      if (!volumes.has(m.name) || !m.mountPath.startsWith('/')) continue;
      const onTmpfs = /^\/(var\/)?run\//.test(m.mountPath);
      if (!onTmpfs && !existsSync(m.mountPath)) continue;
      binds.push({
        src: join(this.podDir, 'volumes', m.name),
        dst: m.mountPath,
        create: onTmpfs,
        readOnly: m.readOnly,
      });
    }
    const p = this.ctx.paths;
    return {
      netns: this.hostNetwork ? this.ctx.nodeNetns : this.net!.netns,
      hostname: this.hostname,
      podDir: this.podDir,
      stash: this.stashDir,
      binds,
      hideDirs: [p.pods, p.pki, join(p.dir, 'apiserver'), join(p.dir, 'kubelet')].filter((d) =>
        existsSync(d),
      ),
      hideFiles: [p.kubeconfig].filter((f) => existsSync(f)),
    };
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
    for (const name of this.containers.keys()) this.startOne(name);
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
    for (const rt of this.containers.values()) {
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
      } else {
        rt.started = rt.restartCount > 0 || prev !== undefined;
        this.startOne(rt.name);
      }
    }
    this.ctx.log.info('adopted pod', { pod: this.key, ip: this.podIP });
    this.report();
  }

  private async setup(): Promise<void> {
    const pod = this.pod;
    const ns = pod.metadata.namespace ?? 'default';
    if (!this.hostNetwork && !this.net) {
      const ip = this.ctx.ipam.allocate(this.uid, {
        pinned: pod.metadata.annotations?.[IP_ANNOTATION],
        previous: pod.status?.podIP,
        taken: this.ctx.takenIps(this.uid),
      });
      const net = {
        netns: netnsNames.pod(this.ctx.lab, this.uid),
        veth: hostVethName(this.uid),
        ip,
      };
      this.writeRecord({ netns: net.netns, hostVeth: net.veth, podIP: ip });
      try {
        await createPodNet({
          nodeNetns: this.ctx.nodeNetns,
          podNetns: net.netns,
          hostVeth: net.veth,
          podIP: ip,
          gateway: this.ctx.ipam.gateway(),
          podCIDR: this.ctx.node.podCIDR,
          namespace: ns,
          dnsIP: this.ctx.cluster.dnsIP,
        });
      } catch (err) {
        await destroyPodNet({
          nodeNetns: this.ctx.nodeNetns,
          podNetns: net.netns,
          hostVeth: net.veth,
        }).catch(() => undefined);
        this.ctx.ipam.release(this.uid);
        throw err;
      }
      this.net = net;
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
    if (this.net) {
      writeFileSync(
        join(etcNetnsDir(this.net.netns), 'hosts'),
        `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${this.net.ip}\t${this.hostname}\n`,
      );
    }
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
      podDir: this.podDir,
      hostname: this.hostname,
      extra: this.extraEnv,
    });
  }

  private startOne(name: string): void {
    const rt = this.containers.get(name);
    if (!rt || this.terminating || this.gone) return;
    rt.timer = undefined;
    let child: ChildProcess;
    // The instance before a restart stays readable as `kubectl logs --previous`.
    if (rt.started && existsSync(this.logFile(name))) {
      renameSync(this.logFile(name), this.logFile(name) + '.prev');
    }
    try {
      child = startContainer({
        sandbox: this.sandbox(rt.spec),
        argv: containerArgv(rt.spec, this.podDir),
        env: this.env(rt.spec),
        cwd: this.podDir,
        logFile: this.logFile(name),
        pidFile: this.pidFile(name),
      });
    } catch (err) {
      const message = errorMessage(err);
      const reason =
        err instanceof AmbitError && err.code === 'KUBELET_UNKNOWN_IMAGE'
          ? 'ErrImagePull'
          : 'CreateContainerError';
      rt.state = { waiting: { reason, message } };
      this.ctx.events.emit(this.pod, 'Warning', 'Failed', `container ${name}: ${message}`);
      this.scheduleRestart(rt);
      this.report();
      return;
    }
    if (rt.started) rt.restartCount++;
    rt.started = true;
    rt.child = child;
    rt.pid = child.pid;
    rt.startedAtMs = Date.now();
    rt.state = { running: { startedAt: new Date().toISOString() } };
    rt.ready = rt.spec.readinessProbe === undefined;
    rt.final = false;
    child.on('exit', (code, signal) => {
      if (rt.child === child) this.onExit(rt, code, signal);
    });
    child.on('error', (err) =>
      this.ctx.log.warn('container error', { pod: this.key, name, error: err.message }),
    );
    this.ctx.events.emit(this.pod, 'Normal', 'Started', `Started container ${name}`);
    this.report();
  }

  private onExit(
    rt: ContainerRt,
    code: number | null,
    signal: NodeJS.Signals | null,
    message?: string,
  ): void {
    rt.child = undefined;
    rt.pid = undefined;
    rt.ready = false;
    try {
      unlinkSync(this.pidFile(rt.name));
    } catch {
      /* already removed */
    }
    const exitCode = code ?? 128 + (signal ? (osSignal(signal) ?? 0) : 0);
    const startedAt = 'running' in rt.state ? rt.state.running.startedAt : undefined;
    rt.state = {
      terminated: {
        exitCode,
        ...(signal ? { signal: osSignal(signal) } : {}),
        reason: message ? 'Unknown' : exitCode === 0 ? 'Completed' : 'Error',
        ...(message ? { message } : {}),
        startedAt,
        finishedAt: new Date().toISOString(),
      },
    };
    if (this.terminating || this.gone) return;
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0)) {
      if (exitCode !== 0) {
        this.ctx.events.emit(
          this.pod,
          'Warning',
          'BackOff',
          `container ${rt.name} exited with ${exitCode}`,
        );
      }
      this.scheduleRestart(rt);
    } else {
      rt.final = true;
    }
    this.report();
  }

  private scheduleRestart(rt: ContainerRt): void {
    if (rt.startedAtMs > 0 && Date.now() - rt.startedAtMs > BACKOFF_RESET_MS) rt.failures = 0;
    const delay = Math.min(RETRY_MS * 2 ** rt.failures, BACKOFF_MAX_MS);
    rt.failures++;
    if ('terminated' in rt.state) {
      rt.lastState = rt.state;
      rt.state = {
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${rt.name} pod=${this.pod.metadata.name}`,
        },
      };
    }
    rt.timer = setTimeout(() => this.enqueue(() => Promise.resolve(this.startOne(rt.name))), delay);
  }

  /** Probes running containers that have a readiness probe; reports on change. */
  async probe(): Promise<void> {
    const ip = this.podIP;
    if (!ip || this.terminating) return;
    for (const rt of this.containers.values()) {
      // Adopted processes are not our children: notice their exit by polling.
      if (rt.pid !== undefined && !rt.child && !alive(rt.pid)) {
        this.onExit(
          rt,
          255,
          null,
          'exit status unknown: the process was adopted after a kubelet restart',
        );
      }
      if (rt.pid === undefined || !rt.spec.readinessProbe) continue;
      const ok = await probeReady(
        rt.spec,
        ip,
        this.hostNetwork ? this.ctx.nodeNetns : this.net?.netns,
      );
      if (ok !== rt.ready && rt.pid !== undefined) {
        rt.ready = ok;
        this.report();
      }
    }
  }

  /** Status reports are coalesced: many changes in a burst become one PATCH. */
  report(delayMs = 50): void {
    if (this.gone || this.reportTimer) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      if (this.gone) return;
      const status = computeStatus({
        initialized: this.initialized,
        podIP: this.podIP,
        hostIP: this.ctx.node.ip,
        startTime: this.startTime,
        containers: [...this.containers.values()],
        pendingReason: this.pendingReason,
      });
      this.ctx.client
        .patch(
          resources.pods,
          this.pod.metadata.name,
          { status },
          { namespace: this.pod.metadata.namespace, subresource: 'status' },
        )
        .catch((err: unknown) => {
          if (err instanceof KubeApiError && err.status === 404) return;
          this.ctx.log.warn('status update failed, retrying', {
            pod: this.key,
            error: errorMessage(err),
          });
          // The API server may be restarting: try again in a while, not in a tight loop.
          this.report(REPORT_RETRY_MS);
        });
    }, delayMs);
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
    await Promise.all(
      [...this.containers.values()].map(async (rt) => {
        clearTimeout(rt.timer);
        if (rt.pid !== undefined) await stopProcess(rt.pid, grace * 1000, true);
        try {
          unlinkSync(this.pidFile(rt.name));
        } catch {
          /* none */
        }
      }),
    );
    if (this.cniDone && this.net) {
      try {
        await invokeCni(this.ctx.cniDir, 'DEL', this.cniPod());
      } catch (err) {
        this.ctx.events.emit(this.pod, 'Warning', 'FailedKillPod', errorMessage(err));
      }
    }
    if (this.net) {
      await destroyPodNet({
        nodeNetns: this.ctx.nodeNetns,
        podNetns: this.net.netns,
        hostVeth: this.net.veth,
      });
    }
    this.ctx.ipam.release(this.uid);
    rmSync(this.podDir, { recursive: true, force: true });
    rmSync(this.stashDir, { recursive: true, force: true });
    rmSync(join(this.ctx.recordDir, `${this.uid}.json`), { force: true });
    this.gone = true;
    clearTimeout(this.reportTimer);
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

function osSignal(s: NodeJS.Signals): number | undefined {
  const table: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGTERM: 15,
    SIGSEGV: 11,
    SIGABRT: 6,
  };
  return table[s];
}
