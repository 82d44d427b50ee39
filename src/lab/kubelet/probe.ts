/** Readiness probes (httpGet, tcpSocket from the node's netns like the real kubelet; exec in the pod). */
import http from 'node:http';
import net from 'node:net';
import type { Container } from '../../k8s/types.js';
import { run } from '../../sys/exec.js';

/** Kubernetes' defaults for a readiness probe. */
const PROBE_DEFAULTS = {
  timeoutSeconds: 1,
  periodSeconds: 10,
  failureThreshold: 3,
  successThreshold: 1,
};

/** Consecutive results of one container's readiness probe. */
export interface ProbeStreak {
  fails: number;
  oks: number;
  /** When the current run of failures began. */
  failingSinceMs?: number;
}

/**
 * Readiness after one probe result, with the kubelet's thresholds: ready after
 * `successThreshold` passes in a row; not ready after `failureThreshold` failures in a row
 * spanning what that many probes `periodSeconds` apart take (Kubernetes' defaults: 3 and 10 s,
 * so 20 s of failing). The lab kubelet probes every second, faster than `periodSeconds`, so a
 * pod is Ready soon after it can serve; the failure window keeps Kubernetes' tolerance, so a
 * few slow answers from a busy process (a proxy under a burst) do not take it out of its
 * Service.
 */
export function readinessAfter(
  ready: boolean,
  ok: boolean,
  streak: ProbeStreak,
  probe: Container['readinessProbe'],
  nowMs = Date.now(),
): boolean {
  if (ok) {
    streak.fails = 0;
    streak.failingSinceMs = undefined;
    streak.oks++;
    return ready || streak.oks >= (probe?.successThreshold ?? PROBE_DEFAULTS.successThreshold);
  }
  streak.oks = 0;
  streak.fails++;
  streak.failingSinceMs ??= nowMs;
  const threshold = probe?.failureThreshold ?? PROBE_DEFAULTS.failureThreshold;
  const windowMs = (threshold - 1) * (probe?.periodSeconds ?? PROBE_DEFAULTS.periodSeconds) * 1000;
  return ready && !(streak.fails >= threshold && nowMs - streak.failingSinceMs >= windowMs);
}

function resolvePort(c: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/**
 * True when the container has no readiness probe or its probe passes: httpGet/tcpSocket
 * against `ip`, exec inside `netns` (exit 0).
 */
export async function probeReady(c: Container, ip: string, netns?: string): Promise<boolean> {
  const p = c.readinessProbe as
    (Container['readinessProbe'] & { exec?: { command?: string[] } }) | undefined;
  if (!p) return true;
  const timeoutMs = (p.timeoutSeconds ?? PROBE_DEFAULTS.timeoutSeconds) * 1000;
  const cmd = p.exec?.command;
  if (cmd && cmd.length > 0) {
    try {
      const r = await run(cmd[0]!, cmd.slice(1), { netns, allowFail: true, timeoutMs: 5000 });
      return r.code === 0;
    } catch {
      return false;
    }
  }
  if (p.httpGet) {
    const port = resolvePort(c, p.httpGet.port);
    if (port === undefined) return false;
    return new Promise((resolve) => {
      const req = http.get(
        { host: ip, port, path: p.httpGet!.path ?? '/', timeout: timeoutMs, agent: false },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve(code >= 200 && code < 400);
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }
  if (p.tcpSocket) {
    const port = resolvePort(c, p.tcpSocket.port);
    if (port === undefined) return false;
    return new Promise((resolve) => {
      const s = net.connect({ host: ip, port, timeout: timeoutMs });
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.on('error', () => resolve(false));
    });
  }
  return true;
}
