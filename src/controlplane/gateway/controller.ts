/**
 * The Gateway deployment controller (Istio's gateway/waypoint deployment controller): for each
 * Gateway of a class we manage, create or update its ServiceAccount, Deployment and Service
 * (objects.ts) and write its status (status.ts). Runs after every model rebuild on the
 * registry's caches; writes only what differs (the spec hash annotation, the status without
 * transition times), so its own writes coming back as watch events settle at once. Passes
 * never overlap; a failed write is logged and retried on the next change.
 */
import { errorMessage } from '../../errors.js';
import { KubeApiError, type KubeClient } from '../../k8s/client.js';
import { resources, type Resource } from '../../k8s/resources.js';
import type { KubeObject, Pod, Secret, Service as KubeService } from '../../k8s/types.js';
import type { Logger } from '../../log.js';
import type { Gateway, Snapshot } from '../model/types.js';
import { isReady } from '../model/workloads.js';
import {
  classOf,
  deployedName,
  GATEWAY_NAME_LABEL,
  SPEC_HASH_ANNOTATION,
  type ClassInfo,
} from './classes.js';
import { listenerCertificates, secretIndex, type CertificateProblem } from './certificates.js';
import { ReferenceGrants } from './reference-grants.js';
import { gatewayObjects, type DeployOptions } from './objects.js';
import { gatewayStatus, statusChanged, type GatewayRuntime } from './status.js';
import { SerialQueue } from '../../serial.js';

export interface GatewayControllerOptions extends DeployOptions {
  domainSuffix?: string;
  /** Attached routes per Gateway (`ns/name`) and listener, for the listener status. */
  attachedRoutes?: (gw: Gateway) => Record<string, number>;
}

/** The part of a Service's status a LoadBalancer controller writes. */
interface LoadBalancerStatus {
  loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] };
}

/** The HTTPS listeners of `gw` whose certificates cannot be used, by listener name. */
function certificateProblems(
  gw: Gateway,
  secrets: ReadonlyMap<string, Secret>,
  grants: ReferenceGrants,
): Record<string, CertificateProblem> | undefined {
  const out: Record<string, CertificateProblem> = {};
  for (const l of gw.spec?.listeners ?? []) {
    if (l.protocol !== 'HTTPS') continue;
    const c = listenerCertificates(gw, l, secrets, grants);
    if ('problem' in c) out[l.name ?? ''] = c.problem;
  }
  return Object.keys(out).length ? out : undefined;
}

const key = (o: KubeObject) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

export class GatewayController {
  private readonly passes = new SerialQueue();
  /** The queued pass that will take `pendingSnap`; later snapshots replace it and share it. */
  private queued: Promise<void> = Promise.resolve();
  private pendingSnap: Snapshot | undefined;

  constructor(
    private readonly kube: KubeClient,
    private readonly log: Logger,
    private readonly opts: GatewayControllerOptions = {},
  ) {}

  /** Queues a pass over `snap`; only the latest queued snapshot runs. */
  reconcile(snap: Snapshot): Promise<void> {
    const first = this.pendingSnap === undefined;
    this.pendingSnap = snap;
    if (!first) return this.queued;
    this.queued = this.passes
      .run(() => {
        const s = this.pendingSnap!;
        this.pendingSnap = undefined;
        return this.pass(s);
      })
      .catch((err: unknown) => this.log.error('gateway pass failed', { error: errorMessage(err) }));
    return this.queued;
  }

  private async pass(snap: Snapshot): Promise<void> {
    const byKey = <T extends KubeObject>(list: readonly T[]) =>
      new Map(list.map((o) => [key(o), o]));
    const sas = byKey(snap.serviceAccounts);
    const deps = byKey(snap.deployments);
    const svcs = byKey(snap.services);
    const secrets = secretIndex(snap.secrets);
    const grants = new ReferenceGrants(snap.referenceGrants);
    for (const gw of snap.gateways) {
      const info = classOf(gw.spec?.gatewayClassName);
      if (!info || gw.metadata.deletionTimestamp || !gw.metadata.uid) continue;
      try {
        await this.one(gw, info, snap.pods, { sas, deps, svcs, secrets, grants });
      } catch (err) {
        this.log.warn('cannot reconcile gateway', { gateway: key(gw), error: errorMessage(err) });
      }
    }
  }

  private async one(
    gw: Gateway,
    info: ClassInfo,
    pods: readonly Pod[],
    have: {
      sas: Map<string, KubeObject>;
      deps: Map<string, KubeObject>;
      svcs: Map<string, KubeService>;
      secrets: Map<string, Secret>;
      grants: ReferenceGrants;
    },
  ): Promise<void> {
    const ns = gw.metadata.namespace ?? 'default';
    const name = deployedName(gw.metadata.name, info);
    const want = gatewayObjects(gw, info, this.opts);
    const k = `${ns}/${name}`;
    await this.ensure(resources.serviceaccounts, want.serviceAccount, have.sas.get(k), gw);
    await this.ensure(resources.deployments, want.deployment, have.deps.get(k), gw);
    await this.ensure(resources.services, want.service, have.svcs.get(k), gw);

    const svc = have.svcs.get(k);
    const vip = svc?.spec?.clusterIP;
    const rt: GatewayRuntime = {
      clusterIP: vip && vip !== 'None' ? vip : undefined,
      loadBalancer: (svc?.status as LoadBalancerStatus | undefined)?.loadBalancer?.ingress,
      readyPods: pods.filter(
        (p) =>
          (p.metadata.namespace ?? 'default') === ns &&
          p.metadata.labels?.[GATEWAY_NAME_LABEL] === gw.metadata.name &&
          !p.metadata.deletionTimestamp &&
          isReady(p),
      ).length,
      attachedRoutes: this.opts.attachedRoutes?.(gw),
      certificateProblems: certificateProblems(gw, have.secrets, have.grants),
    };
    const status = gatewayStatus(gw, info, rt, this.opts.domainSuffix);
    if (!statusChanged(gw.status, status)) return;
    await this.kube.patch(
      resources.gateways,
      gw.metadata.name,
      { status },
      { namespace: ns, type: 'merge', subresource: 'status' },
    );
    this.log.info('gateway status', {
      gateway: key(gw),
      programmed: status.conditions?.find((c) => c.type === 'Programmed')?.status,
      address: status.addresses?.[0]?.value,
    });
  }

  /** Creates `want` when missing, updates it when its spec hash differs; never takes over objects it does not own. */
  private async ensure(
    res: Resource,
    want: KubeObject,
    cur: KubeObject | undefined,
    gw: Gateway,
  ): Promise<void> {
    const ns = want.metadata.namespace;
    if (!cur) {
      try {
        await this.kube.create(res, want);
        this.log.info('created', { kind: want.kind, name: `${ns}/${want.metadata.name}` });
      } catch (err) {
        // The cache may lag behind our own create; the next pass sees the object.
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      }
      return;
    }
    if (!cur.metadata.ownerReferences?.some((r) => r.uid === gw.metadata.uid)) {
      this.log.warn('not taking over an object the gateway does not own', {
        kind: want.kind,
        name: `${ns}/${want.metadata.name}`,
      });
      return;
    }
    const hash = want.metadata.annotations?.[SPEC_HASH_ANNOTATION];
    if (cur.metadata.annotations?.[SPEC_HASH_ANNOTATION] === hash) return;
    const patch: Record<string, unknown> = {
      metadata: {
        labels: want.metadata.labels,
        annotations: want.metadata.annotations,
        ownerReferences: want.metadata.ownerReferences,
      },
    };
    if (want.spec) patch.spec = want.spec;
    await this.kube.patch(res, want.metadata.name, patch, { namespace: ns, type: 'merge' });
    this.log.info('updated', { kind: want.kind, name: `${ns}/${want.metadata.name}` });
  }
}
