/**
 * The model kept incrementally: the control plane feeds it every watched object as it changes
 * (`set`), and `flush` recomputes only the entries the changes can affect — the pods a Service,
 * slice, policy, namespace or waypoint selects or names, the Services of a changed namespace —
 * and returns the difference as resources to upsert and names to remove. Per event the work is
 * proportional to what the event touches (plus a cheap scan of one namespace's pods for
 * selector changes), not to the cluster: the full rebuild (`buildModel`, index.ts) is the
 * definition, and test/unit/controlplane-incremental.test.ts checks after random event
 * sequences that both agree and that the deltas, applied in order, give the full model.
 */
import {
  addressResourceName,
  authorizationResourceName,
  type Address,
  type Authorization,
  type Service,
  type Workload,
} from '../../api/workload.js';
import {
  SERVICE_NAME_LABEL,
  type EndpointSlice,
  type KubeObject,
  type Namespace,
  type Pod,
  type Service as KubeService,
} from '../../k8s/types.js';
import { convertPolicy } from './authorization.js';
import {
  buildService,
  byQualifiedName,
  podRefUid,
  workloadFor,
  type ConvertedPolicy,
} from './index.js';
import { indexPeerAuthentications, type PeerAuthIndex } from './peer-authentication.js';
import {
  defaultModelOptions,
  type AuthorizationPolicy,
  type Gateway,
  type Model,
  type ModelOptions,
  type PeerAuthentication,
  type Snapshot,
} from './types.js';
import { USE_WAYPOINT, WaypointIndex } from './waypoints.js';
import { isMeshCandidate } from './workloads.js';

export type ModelKind = keyof Snapshot;

/** What changed since the previous flush, as xDS resources. */
export interface ModelDelta {
  addresses: { upserted: Address[]; removed: string[] };
  authorizations: { upserted: Authorization[]; removed: string[] };
  /** The policy reports changed (status to write). */
  reports: boolean;
}

const KINDS: readonly ModelKind[] = [
  'namespaces',
  'pods',
  'services',
  'endpointSlices',
  'serviceAccounts',
  'policies',
  'gateways',
  'deployments',
  'httpRoutes',
  'grpcRoutes',
  'tcpRoutes',
  'referenceGrants',
  'secrets',
  'peerAuthentications',
];

const nsOf = (o: KubeObject) => o.metadata.namespace ?? 'default';

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (!s.size) m.delete(k);
}

interface WorkloadEntry {
  workload: Workload;
  peerAuthorizations: Authorization[];
}

export class IncrementalModel {
  private readonly opts: ModelOptions;
  private readonly objects = new Map<ModelKind, Map<string, KubeObject>>(
    KINDS.map((k) => [k, new Map()]),
  );
  // Indexes over the inputs.
  private readonly podsByNs = new Map<string, Set<string>>();
  private readonly podsByRefUid = new Map<string, Set<string>>();
  private readonly servicesByNs = new Map<string, Map<string, KubeService>>();
  private readonly slicesByPodUid = new Map<string, Set<string>>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly selectorPoliciesByNs = new Map<string, Map<string, ConvertedPolicy>>();
  private wps = new WaypointIndex([]);
  private peerAuth: PeerAuthIndex;
  // Outputs.
  private readonly workloads = new Map<string, WorkloadEntry>();
  private readonly services = new Map<string, Service>();
  private readonly converted = new Map<string, ConvertedPolicy>();
  private readonly peerAuthRefs = new Map<string, { count: number; value: Authorization }>();
  // Work queued for the next flush.
  private readonly dirtyPods = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  /** Authorization names a policy or a workload's peer authentication touched. */
  private readonly authzTouched = new Set<string>();
  private reportsChanged = false;
  private cached: Model | undefined;

  constructor(options: Partial<ModelOptions> = {}) {
    this.opts = { ...defaultModelOptions, ...options };
    this.peerAuth = indexPeerAuthentications([], this.opts);
  }

  /** The objects as the model holds them (for the full rebuild and the waypoint configs). */
  snapshot(): Snapshot {
    const of = <T>(k: ModelKind) => [...this.objects.get(k)!.values()] as T[];
    return {
      namespaces: of('namespaces'),
      pods: of('pods'),
      services: of('services'),
      endpointSlices: of('endpointSlices'),
      serviceAccounts: of('serviceAccounts'),
      policies: of('policies'),
      gateways: of('gateways'),
      deployments: of('deployments'),
      httpRoutes: of('httpRoutes'),
      grpcRoutes: of('grpcRoutes'),
      tcpRoutes: of('tcpRoutes'),
      referenceGrants: of('referenceGrants'),
      secrets: of('secrets'),
      peerAuthentications: of('peerAuthentications'),
    };
  }

  /** Records an object's new state (undefined = deleted) and marks what it affects. */
  set(kind: ModelKind, key: string, obj: KubeObject | undefined): void {
    const store = this.objects.get(kind)!;
    const old = store.get(key);
    if (!old && !obj) return;
    if (obj) store.set(key, obj);
    else store.delete(key);
    switch (kind) {
      case 'namespaces':
        return this.onNamespace(key);
      case 'pods':
        return this.onPod(key, old as Pod | undefined, obj as Pod | undefined);
      case 'services':
        return this.onService(key, old as KubeService | undefined, obj as KubeService | undefined);
      case 'endpointSlices':
        return this.onSlice(key, old as EndpointSlice | undefined, obj as EndpointSlice);
      case 'policies':
        return this.onPolicy(key, old as AuthorizationPolicy, obj as AuthorizationPolicy);
      case 'peerAuthentications':
        return this.onPeerAuthentication(old as PeerAuthentication, obj as PeerAuthentication);
      case 'gateways':
        return this.onGateway(old as Gateway | undefined, obj as Gateway | undefined);
      default:
        // Service accounts, deployments, routes, grants and secrets feed the waypoint configs, not this model.
        return;
    }
  }

  private onNamespace(name: string): void {
    for (const k of this.podsByNs.get(name) ?? []) this.dirtyPods.add(k);
    for (const k of this.servicesByNs.get(name)?.keys() ?? []) this.dirtyServices.add(k);
  }

  private onPod(key: string, old: Pod | undefined, pod: Pod | undefined): void {
    if (old) {
      removeFrom(this.podsByNs, nsOf(old), key);
      removeFrom(this.podsByRefUid, podRefUid(old, this.opts), key);
    }
    if (pod) {
      addTo(this.podsByNs, nsOf(pod), key);
      addTo(this.podsByRefUid, podRefUid(pod, this.opts), key);
    }
    this.dirtyPods.add(key);
  }

  /** Marks the pods of a namespace (every namespace when undefined) that `match` selects. */
  private markPods(namespace: string | undefined, match: (pod: Pod) => boolean): void {
    const pods = this.objects.get('pods')! as Map<string, Pod>;
    const keys =
      namespace === undefined ? pods.keys() : (this.podsByNs.get(namespace) ?? new Set<string>());
    for (const k of keys) {
      const p = pods.get(k);
      if (p && match(p)) this.dirtyPods.add(k);
    }
  }

  private selects(svc: KubeService | undefined, pod: Pod): boolean {
    const sel = svc?.spec?.selector ?? {};
    const keys = Object.keys(sel);
    if (!keys.length) return false;
    const labels = pod.metadata.labels ?? {};
    return keys.every((k) => labels[k] === sel[k]);
  }

  private onService(key: string, old: KubeService | undefined, svc: KubeService | undefined): void {
    const ns = nsOf((svc ?? old)!);
    if (svc) {
      let m = this.servicesByNs.get(ns);
      if (!m) this.servicesByNs.set(ns, (m = new Map()));
      m.set(key, svc);
    } else {
      this.servicesByNs.get(ns)?.delete(key);
      if (!this.servicesByNs.get(ns)?.size) this.servicesByNs.delete(ns);
    }
    this.dirtyServices.add(key);
    this.markPods(ns, (p) => this.selects(old, p) || this.selects(svc, p));
    // Pods named by this Service's slices (used while it has no selector).
    for (const sk of this.slicesByService.get(key) ?? []) this.markSlicePods(this.slice(sk));
  }

  private slice(key: string): EndpointSlice | undefined {
    return this.objects.get('endpointSlices')!.get(key) as EndpointSlice | undefined;
  }

  private sliceUids(slice: EndpointSlice | undefined): Set<string> {
    return new Set(
      (slice?.endpoints ?? []).flatMap((ep) =>
        ep.targetRef?.kind === 'Pod' ? [ep.targetRef.uid] : [],
      ),
    );
  }

  private markSlicePods(slice: EndpointSlice | undefined): void {
    for (const uid of this.sliceUids(slice)) {
      for (const pk of this.podsByRefUid.get(uid) ?? []) this.dirtyPods.add(pk);
    }
  }

  private sliceService(slice: EndpointSlice): string | undefined {
    const name = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    return name ? `${nsOf(slice)}/${name}` : undefined;
  }

  private onSlice(key: string, old: EndpointSlice | undefined, slice: EndpointSlice | undefined) {
    for (const [s, add] of [
      [old, false],
      [slice, true],
    ] as const) {
      if (!s) continue;
      const svcKey = this.sliceService(s);
      for (const uid of this.sliceUids(s))
        (add ? addTo : removeFrom)(this.slicesByPodUid, uid, key);
      if (svcKey) (add ? addTo : removeFrom)(this.slicesByService, svcKey, key);
      this.markSlicePods(s);
    }
  }

  private onPolicy(
    key: string,
    old: AuthorizationPolicy | undefined,
    policy: AuthorizationPolicy | undefined,
  ): void {
    const prev = this.converted.get(key);
    if (prev?.authorization) this.authzTouched.add(authorizationResourceName(prev.authorization));
    const ns = nsOf((policy ?? old)!);
    this.selectorPoliciesByNs.get(ns)?.delete(key);
    if (policy) {
      const c: ConvertedPolicy = { policy, ...convertPolicy(policy, this.opts) };
      this.converted.set(key, c);
      if (c.authorization) {
        this.authzTouched.add(authorizationResourceName(c.authorization));
        if (c.authorization.scope === 'WORKLOAD_SELECTOR') {
          let m = this.selectorPoliciesByNs.get(ns);
          if (!m) this.selectorPoliciesByNs.set(ns, (m = new Map()));
          m.set(key, c);
        }
      }
    } else this.converted.delete(key);
    this.reportsChanged = true;
    // Only selector policies are named by workloads; a root-namespace one can select anywhere.
    const selected = (p: AuthorizationPolicy | undefined, pod: Pod) => {
      const sel = p?.spec?.selector?.matchLabels ?? {};
      const keys = Object.keys(sel);
      const labels = pod.metadata.labels ?? {};
      return keys.length > 0 && keys.every((k) => labels[k] === sel[k]);
    };
    this.markPods(ns === this.opts.rootNamespace ? undefined : ns, (pod) => {
      return selected(old, pod) || selected(policy, pod);
    });
  }

  private onPeerAuthentication(
    old: PeerAuthentication | undefined,
    pa: PeerAuthentication | undefined,
  ): void {
    this.peerAuth = indexPeerAuthentications(
      [...this.objects.get('peerAuthentications')!.values()] as PeerAuthentication[],
      this.opts,
    );
    // A namespace's modes can change every pod in it; the mesh-wide one every pod.
    const ns = nsOf((pa ?? old)!);
    this.markPods(ns === this.opts.rootNamespace ? undefined : ns, () => true);
  }

  private onGateway(old: Gateway | undefined, gw: Gateway | undefined): void {
    this.wps = new WaypointIndex([...this.objects.get('gateways')!.values()] as Gateway[]);
    // Objects bound by name (their own label or their namespace's) to this Gateway.
    const names = new Set([old?.metadata.name, gw?.metadata.name]);
    const namespaces = this.objects.get('namespaces')! as Map<string, Namespace>;
    const bound = (o: KubeObject) =>
      names.has(
        o.metadata.labels?.[USE_WAYPOINT] ??
          namespaces.get(nsOf(o))?.metadata.labels?.[USE_WAYPOINT],
      );
    this.markPods(undefined, bound);
    for (const [k, svc] of this.objects.get('services')!) if (bound(svc)) this.dirtyServices.add(k);
  }

  private computeWorkload(pod: Pod): WorkloadEntry {
    const ns = nsOf(pod);
    const slices = [...(this.slicesByPodUid.get(podRefUid(pod, this.opts)) ?? [])].flatMap((k) => {
      const s = this.slice(k);
      return s ? [s] : [];
    });
    return workloadFor(pod, {
      ns: this.objects.get('namespaces')!.get(ns) as Namespace | undefined,
      wps: this.wps,
      services: this.servicesByNs.get(ns)?.values() ?? [],
      slices,
      serviceByName: (n, name) => this.servicesByNs.get(n)?.get(`${n}/${name}`),
      selectorPolicies: [
        ...(this.selectorPoliciesByNs.get(ns)?.values() ?? []),
        ...(ns === this.opts.rootNamespace
          ? []
          : (this.selectorPoliciesByNs.get(this.opts.rootNamespace)?.values() ?? [])),
      ],
      peerAuth: this.peerAuth,
      opts: this.opts,
    });
  }

  private refPeerAuth(list: Authorization[], by: 1 | -1): void {
    for (const a of list) {
      const name = authorizationResourceName(a);
      const r = this.peerAuthRefs.get(name);
      const count = (r?.count ?? 0) + by;
      if (count <= 0) {
        this.peerAuthRefs.delete(name);
        this.authzTouched.add(name);
      } else {
        this.peerAuthRefs.set(name, { count, value: by > 0 ? a : r!.value });
        if (by > 0) this.authzTouched.add(name);
      }
    }
  }

  /** Recomputes what the changes since the last flush affect; returns the difference. */
  flush(): ModelDelta {
    const delta: ModelDelta = {
      addresses: { upserted: [], removed: [] },
      authorizations: { upserted: [], removed: [] },
      reports: this.reportsChanged,
    };
    const pods = this.objects.get('pods')! as Map<string, Pod>;
    for (const key of this.dirtyPods) {
      const pod = pods.get(key);
      const prev = this.workloads.get(key);
      const next = pod && isMeshCandidate(pod) ? this.computeWorkload(pod) : undefined;
      if (prev) this.refPeerAuth(prev.peerAuthorizations, -1);
      if (next) this.refPeerAuth(next.peerAuthorizations, 1);
      if (next) {
        this.workloads.set(key, next);
        if (prev && prev.workload.uid !== next.workload.uid)
          delta.addresses.removed.push(prev.workload.uid);
        delta.addresses.upserted.push({ workload: next.workload });
      } else if (prev) {
        this.workloads.delete(key);
        delta.addresses.removed.push(prev.workload.uid);
      }
    }
    const kubeServices = this.objects.get('services')! as Map<string, KubeService>;
    const namespaces = this.objects.get('namespaces')! as Map<string, Namespace>;
    for (const key of this.dirtyServices) {
      const svc = kubeServices.get(key);
      const prev = this.services.get(key);
      if (svc) {
        const next = buildService(svc, namespaces.get(nsOf(svc)), this.wps, this.opts);
        this.services.set(key, next);
        delta.addresses.upserted.push({ service: next });
      } else if (prev) {
        this.services.delete(key);
        delta.addresses.removed.push(addressResourceName({ service: prev }));
      }
    }
    // A name touched by a policy or a workload: its current value (another source may still
    // produce a name one source dropped), or a removal.
    for (const n of this.authzTouched) {
      const cur = this.authorizationNamed(n);
      if (cur) delta.authorizations.upserted.push(cur);
      else delta.authorizations.removed.push(n);
    }
    const changed =
      delta.addresses.upserted.length +
      delta.addresses.removed.length +
      delta.authorizations.upserted.length +
      delta.authorizations.removed.length;
    if (changed || this.reportsChanged) this.cached = undefined;
    this.dirtyPods.clear();
    this.dirtyServices.clear();
    this.authzTouched.clear();
    this.reportsChanged = false;
    return delta;
  }

  private authorizationNamed(name: string): Authorization | undefined {
    for (const c of this.converted.values())
      if (c.authorization && authorizationResourceName(c.authorization) === name)
        return c.authorization;
    return this.peerAuthRefs.get(name)?.value;
  }

  /**
   * The whole model, sorted as buildModel sorts it. Each list is built on first use after a
   * change, so a consumer that needs only the delta (the xDS push) never pays for sorting the
   * cluster.
   */
  get model(): Model {
    if (this.cached) return this.cached;
    const lazy = <T>(make: () => T) => {
      let v: T | undefined;
      return () => (v ??= make());
    };
    const workloads = lazy(() =>
      [...this.workloads.values()].map((e) => e.workload).sort(byQualifiedName),
    );
    const services = lazy(() => [...this.services.values()].sort(byQualifiedName));
    const authorizations = lazy(() =>
      [
        ...[...this.converted.values()].flatMap((c) => (c.authorization ? [c.authorization] : [])),
        ...[...this.peerAuthRefs.values()].map((r) => r.value),
      ].sort(byQualifiedName),
    );
    const reports = lazy(() => [...this.converted.values()].map((c) => c.report));
    this.cached = {
      get workloads() {
        return workloads();
      },
      get services() {
        return services();
      },
      get authorizations() {
        return authorizations();
      },
      get reports() {
        return reports();
      },
    };
    return this.cached;
  }

  /** Sizes without building the lists. */
  get counts(): { workloads: number; services: number; policies: number } {
    return {
      workloads: this.workloads.size,
      services: this.services.size,
      policies: [...this.converted.values()].filter((c) => c.authorization).length,
    };
  }
}
