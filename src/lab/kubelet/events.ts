/** Kubernetes Events about pods, as the kubelet reports them (deduplicated for a while). */
import type { Logger } from '../../log.js';
import type { KubeClient } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { KubeObject, Pod } from '../../k8s/types.js';

const REPEAT_MS = 30_000;

export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly node: string,
    private readonly log: Logger,
  ) {}

  emit(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const key = `${pod.metadata.uid ?? ''}/${reason}/${message}`;
    const now = Date.now();
    if ((this.recent.get(key) ?? 0) > now - REPEAT_MS) return;
    this.recent.set(key, now);
    if (this.recent.size > 1000) this.recent.clear();
    const ns = pod.metadata.namespace ?? 'default';
    const ts = new Date().toISOString();
    const ev = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${pod.metadata.name}.${now.toString(16)}`, namespace: ns },
      involvedObject: {
        kind: 'Pod',
        apiVersion: 'v1',
        name: pod.metadata.name,
        namespace: ns,
        uid: pod.metadata.uid,
      },
      type,
      reason,
      message,
      source: { component: 'kubelet', host: this.node },
      reportingComponent: 'kubelet',
      reportingInstance: this.node,
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    } as KubeObject;
    (type === 'Warning' ? this.log.warn : this.log.info)(reason, {
      pod: `${ns}/${pod.metadata.name}`,
      message,
    });
    this.client.create(resources.events, ev).catch((err: unknown) => {
      this.log.debug('cannot record event', { error: (err as Error).message });
    });
  }
}
