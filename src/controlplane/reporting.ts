/**
 * Tells users how their AuthorizationPolicies were taken: condition `ZtunnelAccepted` on the
 * policy's status (via the status subresource) and, for anything not accepted as written, a
 * Warning Event. Writes only when the condition changes, so status updates (which come back as
 * watch events) do not loop.
 */
import { errorMessage } from '../errors.js';
import type { KubeClient } from '../k8s/client.js';
import { resources } from '../k8s/resources.js';
import type { Logger } from '../log.js';
import type { AuthorizationPolicy, Condition, PolicyReport } from './model/index.js';
import { kubeTime } from '../k8s/time.js';
import { SerialQueue } from '../serial.js';

export const CONDITION = 'ZtunnelAccepted';

export function conditionOf(r: PolicyReport): Condition {
  return {
    type: r.conditionType ?? CONDITION,
    status: r.accepted ? 'True' : 'False',
    reason: r.reason,
    message: r.message,
    observedGeneration: r.generation,
    lastTransitionTime: kubeTime(),
  };
}

export class PolicyReporter {
  /** uid|generation|message already turned into an Event. */
  private readonly evented = new Set<string>();
  private readonly passes = new SerialQueue();

  constructor(
    private readonly kube: KubeClient,
    private readonly log: Logger,
  ) {}

  /** Queues a pass over the reports; passes never overlap. */
  report(
    reports: PolicyReport[],
    policy: (ns: string, name: string) => AuthorizationPolicy | undefined,
  ): Promise<void> {
    return this.passes
      .run(() => this.pass(reports, policy))
      .catch((err: unknown) =>
        this.log.error('policy status pass failed', { error: errorMessage(err) }),
      );
  }

  private async pass(
    reports: PolicyReport[],
    policy: (ns: string, name: string) => AuthorizationPolicy | undefined,
  ): Promise<void> {
    // A policy can have two reports (ztunnel's and the waypoint's): the second builds on what
    // the first wrote in this pass, not on the (older) cached object.
    const written = new Map<string, Condition[]>();
    for (const r of reports) {
      const p = policy(r.namespace, r.name);
      if (!p) continue;
      const want = conditionOf(r);
      const pkey = `${r.namespace}/${r.name}`;
      const conditions = written.get(pkey) ?? p.status?.conditions ?? [];
      const have = conditions.find((c) => c.type === want.type);
      const same =
        have &&
        have.status === want.status &&
        have.reason === want.reason &&
        have.message === want.message &&
        have.observedGeneration === want.observedGeneration;
      if (!same) {
        const next = [...conditions.filter((c) => c.type !== want.type), want];
        written.set(pkey, next);
        try {
          await this.kube.patch(
            resources.authorizationpolicies,
            r.name,
            { status: { conditions: next } },
            { namespace: r.namespace, type: 'merge', subresource: 'status' },
          );
        } catch (err) {
          this.log.warn('cannot write policy status', {
            policy: `${r.namespace}/${r.name}`,
            error: errorMessage(err),
          });
        }
      }
      if (!r.accepted) {
        const key = `${r.uid ?? ''}|${r.generation ?? ''}|${r.message}`;
        if (this.evented.has(key)) continue;
        this.evented.add(key);
        this.log.warn('policy not enforced as written', {
          policy: `${r.namespace}/${r.name}`,
          reason: r.reason,
          message: r.message,
        });
        await this.event(r).catch((err: unknown) =>
          this.log.warn('cannot create event', { error: errorMessage(err) }),
        );
      }
    }
  }

  private async event(r: PolicyReport): Promise<void> {
    const now = kubeTime();
    await this.kube.create(resources.events, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${r.name}.${Date.now().toString(16)}`, namespace: r.namespace },
      involvedObject: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        name: r.name,
        namespace: r.namespace,
        uid: r.uid,
      },
      reason: r.reason,
      message: r.message,
      type: 'Warning',
      source: { component: 'istiod' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as never);
  }
}
