/** Waits until every pod in the lab is Running with condition Ready (or Succeeded). */
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, errorMessage } from '../../errors.js';
import type { KubeClient } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { KubeObject, Pod } from '../../k8s/types.js';

export function podReady(p: Pod): boolean {
  if (p.status?.phase === 'Succeeded') return true;
  return (
    p.status?.phase === 'Running' &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** A pod's phase and, for each container not ready, why: waiting reason, restarts, or "not ready". */
export function describePod(p: Pod): string {
  const cs = p.status?.containerStatuses ?? [];
  const why = cs
    .map((s) => {
      const w = s.state?.waiting as { reason?: string; message?: string } | undefined;
      const restarts = s.restartCount ? ` (${s.restartCount} restarts)` : '';
      if (w) return `${s.name}: ${w.reason ?? ''} ${w.message ?? ''}`.trim() + restarts;
      return s.ready ? '' : `${s.name}: running, not ready${restarts}`;
    })
    .filter((x) => x)
    .join('; ');
  return `${p.metadata.namespace}/${p.metadata.name} ${p.status?.phase ?? 'Pending'}${why ? ` (${why})` : ''}`;
}

/**
 * Resolves once there is at least one pod per expected Deployment replica and all pods are
 * ready; `check` runs each round (it throws when a daemon died).
 */
export async function waitForPods(
  client: KubeClient,
  timeoutMs: number,
  check: () => void,
  progress?: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = 'no answer yet';
  let nextNote = Date.now() + 10_000;
  while (Date.now() < deadline) {
    check();
    try {
      const [pods, deps] = await Promise.all([
        client.list<Pod>(resources.pods),
        client.list<KubeObject<{ replicas?: number }>>(resources.deployments),
      ]);
      const notReady = pods.items.filter((p) => !podReady(p));
      const wanted = deps.items.reduce((n, d) => n + (d.spec?.replicas ?? 1), 0);
      const ready = pods.items.length - notReady.length;
      if (notReady.length === 0 && ready >= wanted) return;
      pending =
        notReady.length > 0
          ? notReady.map(describePod).join(', ')
          : `${ready} of ${wanted} deployment pods exist`;
    } catch (err) {
      pending = errorMessage(err);
    }
    if (progress && Date.now() >= nextNote) {
      progress(`      still waiting: ${pending}`);
      nextNote = Date.now() + 10_000;
    }
    await sleep(250);
  }
  throw new AmbitError(
    'LAB_PODS_TIMEOUT',
    `pods not ready after ${timeoutMs / 1000}s: ${pending}`,
    {
      value: pending,
    },
  );
}
