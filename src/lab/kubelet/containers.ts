/**
 * A pod's containers as the kubelet runs them: start each in the pod's sandbox, restart it
 * per restartPolicy with capped exponential backoff (CrashLoopBackOff), keep the previous
 * instance's log for `kubectl logs --previous`, probe readiness, and stop them all on deletion.
 * The pod (its files, network, status reports) is the PodWorker's (pod.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, renameSync, unlinkSync } from 'node:fs';
import { AmbitError, errorMessage } from '../../errors.js';
import type { Container, Pod } from '../../k8s/types.js';
import type { Sandbox } from '../../sys/sandbox.js';
import { alive, stopProcess } from '../../sys/process.js';
import type { KubeletContext } from './context.js';
import { type ProbeStreak, probeReady, readinessAfter } from './probe.js';
import { containerArgv, startContainer } from './runner.js';
import type { ContainerView } from './status.js';

const RETRY_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const BACKOFF_RESET_MS = 60_000;

export interface ContainerRt extends ContainerView {
  spec: Container;
  child?: ChildProcess;
  startedAtMs: number;
  failures: number;
  /** Readiness probe results in a row (thresholds). */
  probes: ProbeStreak;
  timer?: NodeJS.Timeout;
}

/** What the containers need of their pod. */
export interface ContainerHost {
  pod(): Pod;
  key(): string;
  podDir(): string;
  /** True once the pod is terminating or gone: nothing starts or restarts any more. */
  stopped(): boolean;
  env(c: Container): Record<string, string>;
  sandbox(c: Container): Sandbox;
  logFile(container: string): string;
  pidFile(container: string): string;
  enqueue(fn: () => Promise<void>): void;
  report(): void;
}

export class PodContainers {
  private readonly byName = new Map<string, ContainerRt>();

  constructor(
    private readonly ctx: KubeletContext,
    private readonly host: ContainerHost,
    specs: readonly Container[],
  ) {
    for (const c of specs) {
      this.byName.set(c.name, {
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
        probes: { fails: 0, oks: 0 },
      });
    }
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  get(name: string): ContainerRt | undefined {
    return this.byName.get(name);
  }

  all(): ContainerRt[] {
    return [...this.byName.values()];
  }

  start(name: string): void {
    const rt = this.byName.get(name);
    if (!rt || this.host.stopped()) return;
    rt.timer = undefined;
    const pod = this.host.pod();
    const log = this.host.logFile(name);
    let child: ChildProcess;
    // The instance before a restart stays readable as `kubectl logs --previous`.
    if (rt.started && existsSync(log)) renameSync(log, log + '.prev');
    try {
      child = startContainer({
        sandbox: this.host.sandbox(rt.spec),
        argv: containerArgv(rt.spec, this.host.podDir()),
        env: this.host.env(rt.spec),
        cwd: this.host.podDir(),
        logFile: log,
        pidFile: this.host.pidFile(name),
      });
    } catch (err) {
      const message = errorMessage(err);
      const reason =
        err instanceof AmbitError && err.code === 'KUBELET_UNKNOWN_IMAGE'
          ? 'ErrImagePull'
          : 'CreateContainerError';
      rt.state = { waiting: { reason, message } };
      this.ctx.events.emit(pod, 'Warning', 'Failed', `container ${name}: ${message}`);
      this.scheduleRestart(rt);
      this.host.report();
      return;
    }
    if (rt.started) rt.restartCount++;
    rt.started = true;
    rt.child = child;
    rt.pid = child.pid;
    rt.startedAtMs = Date.now();
    rt.state = { running: { startedAt: new Date().toISOString() } };
    rt.ready = rt.spec.readinessProbe === undefined;
    rt.probes = { fails: 0, oks: 0 };
    rt.final = false;
    child.on('exit', (code, signal) => {
      if (rt.child === child) this.onExit(rt, code, signal);
    });
    child.on('error', (err) =>
      this.ctx.log.warn('container error', { pod: this.host.key(), name, error: err.message }),
    );
    this.ctx.events.emit(pod, 'Normal', 'Started', `Started container ${name}`);
    this.host.report();
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
      unlinkSync(this.host.pidFile(rt.name));
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
    if (this.host.stopped()) return;
    const pod = this.host.pod();
    const policy = pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0)) {
      if (exitCode !== 0) {
        this.ctx.events.emit(
          pod,
          'Warning',
          'BackOff',
          `container ${rt.name} exited with ${exitCode}`,
        );
      }
      this.scheduleRestart(rt);
    } else {
      rt.final = true;
    }
    this.host.report();
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
          message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${rt.name} pod=${this.host.pod().metadata.name}`,
        },
      };
    }
    rt.timer = setTimeout(
      () => this.host.enqueue(() => Promise.resolve(this.start(rt.name))),
      delay,
    );
  }

  /** Probes running containers that have a readiness probe (at `ip` in `netns`); reports on change. */
  async probe(ip: string, netns: string | undefined): Promise<void> {
    for (const rt of this.byName.values()) {
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
      const passed = await probeReady(rt.spec, ip, netns);
      const ok = readinessAfter(rt.ready, passed, rt.probes, rt.spec.readinessProbe);
      if (ok !== rt.ready && rt.pid !== undefined) {
        rt.ready = ok;
        this.host.report();
      }
    }
  }

  /** SIGTERM to every container, SIGKILL after `graceMs`; their pid files removed. */
  async stopAll(graceMs: number): Promise<void> {
    await Promise.all(
      [...this.byName.values()].map(async (rt) => {
        clearTimeout(rt.timer);
        if (rt.pid !== undefined) await stopProcess(rt.pid, graceMs, true);
        try {
          unlinkSync(this.host.pidFile(rt.name));
        } catch {
          /* none */
        }
      }),
    );
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
