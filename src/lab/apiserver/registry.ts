/**
 * The verbs on stored objects, independent of HTTP: create/update/patch/delete with
 * Kubernetes' semantics (generateName, uid, generation, optimistic concurrency, status
 * subresources, graceful pod deletion, namespace and owner cascades).
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../../log.js';
import {
  apiVersionOf,
  kindByKey,
  kindKey,
  kinds,
  registerCrd,
  unregisterCrd,
  type Kind,
} from './catalog.js';
import {
  ensureBootstrapObject,
  ensureKubernetesService,
  ensureNamespaceDefaults,
  initialNamespaces,
  installCrds,
  type BootstrapOptions,
} from './cluster-defaults.js';
import { crdKinds, crdStatus, validateCrd } from './crd.js';
import { validateBuiltin } from './builtin-schema.js';
import { prune, validateSchema } from './schema.js';
import { applyPatch, type PatchKind } from './patch.js';
import {
  alreadyExists,
  ApiError,
  badRequest,
  cause,
  type Cause,
  conflict,
  invalid,
  namespaceNotFound,
  notFound,
} from './status.js';
import { partOf, recordUpdate } from './managed-fields.js';
import type { Obj, Store } from './store.js';
import { defaultAndValidate, type ValidationContext } from './validate.js';
import { DEFAULT_SERVICE_CIDR, ServiceRange } from '../cluster/service-range.js';
import { kubeTime } from '../../k8s/time.js';

export interface WriteOptions {
  dryRun?: boolean;
  /** What to do with fields the schema does not know (Kubernetes' default: Warn). */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  /** Collects the warnings for the answer's `Warning` headers. */
  warnings?: string[];
  /** Who writes, for managedFields (the request's `fieldManager`); the server's own writes: kube-apiserver. */
  fieldManager?: string;
  /** managedFields already computed (server-side apply): recorded as given. */
  managedFieldsFinal?: boolean;
}

export interface DeleteOptions extends WriteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  /** Delete only if the object still has this uid / resourceVersion. */
  preconditions?: { uid?: string; resourceVersion?: string };
}

const nsKind = kinds.find((k) => k.kind === 'Namespace')!;
const podKind = kinds.find((k) => k.kind === 'Pod')!;
const svcKind = kinds.find((k) => k.kind === 'Service')!;
const nodeKind = kinds.find((k) => k.kind === 'Node')!;
const crdKind = kinds.find((k) => k.kind === 'CustomResourceDefinition')!;

const suffixChars = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += suffixChars[Math.floor(Math.random() * suffixChars.length)];
  return s;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** One cause per field and reason (the hand-written checks and the schema may both find it). */
function uniqueCauses(causes: Cause[]): Cause[] {
  const seen = new Set<string>();
  return causes.filter((c) => {
    const key = `${c.field}\u0000${c.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Everything but metadata and status: a change here bumps metadata.generation. */
function specPart(o: Obj): Record<string, unknown> {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

export class Registry {
  constructor(
    readonly store: Store,
    private readonly log?: Logger,
    /** The cluster file's `serviceCIDR`: ClusterIPs are validated against and allocated from it. */
    readonly serviceRange = new ServiceRange(DEFAULT_SERVICE_CIDR),
  ) {}

  /**
   * First start: the standard namespaces. Every start: a `default` ServiceAccount in every
   * active namespace (what Kubernetes' service-account controller keeps true).
   */
  bootstrap(opts: BootstrapOptions = {}): void {
    this.caPem = opts.caPem;
    if (this.store.resourceVersion === 0)
      for (const name of initialNamespaces)
        this.create(nsKind, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    for (const ns of this.store.list(kindKey(nsKind)))
      if (!ns.metadata.deletionTimestamp)
        ensureNamespaceDefaults(this, ns.metadata.name, this.caPem);
    if (opts.advertise)
      ensureKubernetesService(this, this.serviceRange.kubernetesIP, opts.advertise);
    for (const o of opts.policy ?? []) ensureBootstrapObject(this, o);
  }

  private caPem: string | undefined;

  /** Creates the CRDs of `files` that do not exist yet (what a cluster ships with). */
  installCrds(files: string[]): void {
    installCrds(this, files);
  }

  get(k: Kind, ns: string | undefined, name: string): Obj {
    const o = this.find(k, ns, name);
    if (!o) throw notFound(k, name);
    return o;
  }

  /** The object, or undefined when there is none. */
  find(k: Kind, ns: string | undefined, name: string): Obj | undefined {
    const o = this.store.get(kindKey(k), k.namespaced ? ns : undefined, name);
    return o ? this.withType(k, o) : undefined;
  }

  notFoundError(k: Kind, name: string): ApiError {
    return notFound(k, name);
  }

  list(k: Kind, ns: string | undefined, filter: (o: Obj) => boolean): Obj[] {
    return this.store
      .list(kindKey(k), k.namespaced ? ns : undefined)
      .filter(filter)
      .map((o) => this.withType(k, o));
  }

  create(k: Kind, ns: string | undefined, body: unknown, opts: WriteOptions = {}): Obj {
    const o = this.checkBody(k, body);
    const meta = o.metadata;
    if (k.namespaced) {
      if (meta.namespace && ns && meta.namespace !== ns)
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      meta.namespace = ns ?? meta.namespace;
      if (!meta.namespace) throw badRequest('a namespace is required for this resource');
      const nsObj = this.store.get(kindKey(nsKind), undefined, meta.namespace);
      if (!nsObj) throw namespaceNotFound(meta.namespace);
      if (isObj(nsObj.metadata) && nsObj.metadata.deletionTimestamp)
        throw new ApiError(
          403,
          'Forbidden',
          `${k.plural} "${meta.name || String(meta.generateName)}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`,
        );
    } else delete meta.namespace;
    if (!meta.name && typeof meta.generateName === 'string' && meta.generateName)
      meta.name = meta.generateName + randomSuffix();
    const causes = uniqueCauses([
      ...defaultAndValidate(k, o, undefined, this.validationContext()),
      ...this.checkSchema(k, o, opts),
    ]);
    if (causes.length) throw invalid(k, String(meta.name ?? ''), causes);
    if (this.store.get(kindKey(k), meta.namespace, meta.name)) throw alreadyExists(k, meta.name);
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    meta.uid = randomUUID();
    meta.creationTimestamp = kubeTime();
    meta.generation = 1;
    if (!opts.managedFieldsFinal)
      recordUpdate(
        undefined,
        o,
        this.writer(k, opts),
        partOf(undefined, k.subresources.includes('status')),
      );
    if (opts.dryRun) return o;
    if (k.kind === 'CustomResourceDefinition') o.status = crdStatus(o, undefined);
    const stored = this.store.commit('ADDED', kindKey(k), o);
    if (k.kind === 'Namespace') ensureNamespaceDefaults(this, meta.name, this.caPem);
    if (k.kind === 'CustomResourceDefinition') registerCrd(meta.name, crdKinds(stored));
    return this.withType(k, stored);
  }

  /** PUT of the object (`subresource` undefined) or of its status. */
  update(
    k: Kind,
    ns: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions & { subresource?: string } = {},
  ): Obj {
    const next = this.checkBody(k, body);
    if (next.metadata.name && next.metadata.name !== name)
      throw badRequest(
        `the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`,
      );
    next.metadata.name = name;
    return this.write(k, ns, name, next, opts.subresource, opts);
  }

  patch(
    k: Kind,
    ns: string | undefined,
    name: string,
    kind: PatchKind,
    patch: unknown,
    opts: WriteOptions & { subresource?: string } = {},
  ): Obj {
    const cur = this.get(k, ns, name);
    const patched = applyPatch(kind, cur, patch);
    if (!isObj(patched)) throw badRequest('the patch left no object');
    const asked =
      isObj(patch) && isObj(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    const next = patched as Obj;
    if (!isObj(next.metadata)) next.metadata = { name };
    // A patch is unconditional unless it names a resourceVersion itself.
    next.metadata.resourceVersion =
      typeof asked === 'string' ? asked : cur.metadata.resourceVersion;
    if (next.metadata.name !== name) throw badRequest('a patch cannot change metadata.name');
    return this.write(k, ns, name, next, opts.subresource, opts);
  }

  delete(k: Kind, ns: string | undefined, name: string, opts: DeleteOptions = {}): Obj {
    const cur = this.get(k, ns, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) throw conflict(k, name);
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion)
      throw conflict(k, name);
    if (opts.dryRun) return cur;
    if (k.kind === 'Pod' && isObj(cur.spec) && cur.spec.nodeName) {
      const spec = cur.spec;
      const grace =
        opts.gracePeriodSeconds ??
        (typeof spec.terminationGracePeriodSeconds === 'number'
          ? spec.terminationGracePeriodSeconds
          : 30);
      const phase = isObj(cur.status) ? cur.status.phase : undefined;
      // Pods on a node are stopped by their kubelet, which then deletes them for good; with no
      // such Node there is no kubelet, and they go at once (Kubernetes' pod GC does the same).
      const nodeExists = !!this.store.get(kindKey(nodeKind), undefined, String(spec.nodeName));
      if (grace > 0 && nodeExists && phase !== 'Succeeded' && phase !== 'Failed') {
        if (cur.metadata.deletionTimestamp) return cur;
        cur.metadata.deletionTimestamp = kubeTime(Date.now() + grace * 1000);
        cur.metadata.deletionGracePeriodSeconds = grace;
        return this.withType(k, this.store.commit('MODIFIED', kindKey(k), cur));
      }
    }
    if (k.kind === 'Namespace') return this.deleteNamespace(cur);
    if (k.kind === 'CustomResourceDefinition' && !k.crd) {
      // Its objects go with it (as the CRD finalizer does), then its kinds stop being served.
      const served = kinds.filter((x) => x.crd === name);
      if (served[0])
        for (const o of this.store.list(kindKey(served[0])))
          this.store.commit('DELETED', kindKey(served[0]), o);
      unregisterCrd(name);
    }
    const gone = this.remove(k, cur);
    if (opts.propagationPolicy !== 'Orphan') this.deleteDependents(cur);
    return gone;
  }

  /** pods/binding: the scheduler's way to set spec.nodeName, once. */
  bind(ns: string, name: string, body: unknown): Obj {
    const target = isObj(body) && isObj(body.target) ? body.target : undefined;
    const node = target?.name;
    if (typeof node !== 'string' || node === '')
      throw invalid(podKind, name, [cause.required('target.name')]);
    const pod = this.get(podKind, ns, name);
    const spec = isObj(pod.spec) ? pod.spec : {};
    if (spec.nodeName)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${String(spec.nodeName)}"`,
      );
    if (pod.metadata.deletionTimestamp)
      throw new ApiError(
        409,
        'Conflict',
        `pod ${name} is being deleted, cannot be assigned to a node`,
      );
    return this.patch(podKind, ns, name, 'merge', { spec: { nodeName: node } });
  }

  /** Events older than `maxAgeMs` go, as Kubernetes' event TTL (1 h) removes them. */
  expireEvents(maxAgeMs: number, now = Date.now()): number {
    const evKind = kinds.find((k) => k.kind === 'Event')!;
    let n = 0;
    for (const ev of this.store.list(kindKey(evKind))) {
      const ts = ev.lastTimestamp ?? ev.eventTime ?? ev.metadata.creationTimestamp;
      if (typeof ts === 'string' && now - Date.parse(ts) > maxAgeMs) {
        this.remove(evKind, ev);
        n++;
      }
    }
    return n;
  }

  /** Removes namespaces whose deletion has finished (all their objects gone). */
  finalizeNamespaces(): void {
    for (const ns of this.store.list(kindKey(nsKind))) {
      if (ns.metadata.deletionTimestamp && this.store.namespaceEmpty(ns.metadata.name))
        this.remove(nsKind, ns);
    }
  }

  private deleteNamespace(ns: Obj): Obj {
    let cur = ns;
    if (!cur.metadata.deletionTimestamp) {
      cur.metadata.deletionTimestamp = kubeTime();
      cur.metadata.deletionGracePeriodSeconds = 0;
      cur.status = { ...(isObj(cur.status) ? cur.status : {}), phase: 'Terminating' };
      cur = this.store.commit('MODIFIED', kindKey(nsKind), cur);
    }
    for (const k of kinds) {
      if (!k.namespaced || k.virtual) continue;
      for (const o of this.store.list(kindKey(k), cur.metadata.name)) {
        try {
          this.delete(k, o.metadata.namespace, o.metadata.name, { propagationPolicy: 'Orphan' });
        } catch (err) {
          if (!(err instanceof ApiError && err.httpCode === 404)) throw err;
        }
      }
    }
    this.finalizeNamespaces();
    return this.withType(nsKind, cur);
  }

  private remove(k: Kind, cur: Obj): Obj {
    const gone = this.withType(k, this.store.commit('DELETED', kindKey(k), cur));
    if (k.namespaced && cur.metadata.namespace) {
      const ns = this.store.get(kindKey(nsKind), undefined, cur.metadata.namespace);
      if (ns?.metadata.deletionTimestamp) this.finalizeNamespaces();
    }
    return gone;
  }

  /** Background garbage collection: objects owned by `owner` go with it. */
  private deleteDependents(owner: Obj): void {
    const uid = owner.metadata.uid;
    if (!uid) return;
    for (const k of kinds) {
      if (k.virtual) continue;
      for (const o of this.store.list(
        kindKey(k),
        k.namespaced ? owner.metadata.namespace : undefined,
      )) {
        const refs = o.metadata.ownerReferences;
        if (Array.isArray(refs) && refs.some((r) => isObj(r) && r.uid === uid)) {
          try {
            this.delete(k, o.metadata.namespace, o.metadata.name);
          } catch (err) {
            this.log?.warn('garbage collection failed', {
              name: o.metadata.name,
              error: (err as Error).message,
            });
          }
        }
      }
    }
  }

  private write(
    k: Kind,
    ns: string | undefined,
    name: string,
    next: Obj,
    subresource: string | undefined,
    opts: WriteOptions,
  ): Obj {
    const cur = this.get(k, ns, name);
    const rv = next.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== cur.metadata.resourceVersion)
      throw conflict(k, name);
    let out: Obj;
    if (subresource === 'status') {
      out = structuredClone(cur);
      if (next.status === undefined) delete out.status;
      else out.status = next.status;
    } else {
      out = next;
      if (k.namespaced) {
        if (next.metadata.namespace && next.metadata.namespace !== cur.metadata.namespace)
          throw badRequest('the namespace of the object does not match the namespace on the URL');
        out.metadata.namespace = cur.metadata.namespace;
      } else delete out.metadata.namespace;
      for (const f of [
        'uid',
        'creationTimestamp',
        'deletionTimestamp',
        'deletionGracePeriodSeconds',
      ])
        if (cur.metadata[f] === undefined) delete out.metadata[f];
        else out.metadata[f] = cur.metadata[f];
      delete out.metadata.generateName;
      if (cur.metadata.generateName) out.metadata.generateName = cur.metadata.generateName;
      if (k.subresources.includes('status')) {
        if (cur.status === undefined) delete out.status;
        else out.status = cur.status;
      }
    }
    out.metadata.generation = cur.metadata.generation;
    out.metadata.resourceVersion = cur.metadata.resourceVersion;
    out.kind = k.kind;
    out.apiVersion = apiVersionOf(k);
    const causes = uniqueCauses([
      ...defaultAndValidate(k, out, cur, this.validationContext(cur.metadata.uid as string)),
      ...this.checkSchema(k, out, opts),
    ]);
    if (causes.length) throw invalid(k, name, causes);
    if (k.kind === 'CustomResourceDefinition') out.status = crdStatus(out, cur.status);
    if (!opts.managedFieldsFinal)
      recordUpdate(
        cur,
        out,
        this.writer(k, opts, subresource),
        partOf(subresource, k.subresources.includes('status')),
      );
    if (!isDeepStrictEqual(specPart(out), specPart(cur)))
      out.metadata.generation =
        (typeof cur.metadata.generation === 'number' ? cur.metadata.generation : 0) + 1;
    // No change, no new version: kubectl apply of an unchanged manifest is a no-op.
    if (isDeepStrictEqual(out, cur)) return cur;
    if (opts.dryRun) return out;
    const stored = this.store.commit('MODIFIED', kindKey(k), out);
    if (k.kind === 'CustomResourceDefinition') registerCrd(name, crdKinds(stored));
    return this.withType(k, stored);
  }

  /**
   * A custom resource against its CRD's schema: defaults filled in, type and constraint errors
   * as 422 causes, unknown fields refused (Strict), warned about and dropped (Warn), or dropped.
   * A CRD against what apiextensions requires of one.
   */
  private checkSchema(k: Kind, o: Obj, opts: WriteOptions): Cause[] {
    let r: { causes: Cause[]; unknown: string[] };
    // As kube-apiserver's decoder words it: `Deployment in version "v1" cannot be handled as …`.
    const undecodable = (why: string): ApiError =>
      badRequest(`${k.kind} in version "${k.version}" cannot be handled as a ${k.kind}: ${why}`);
    if (k.schema) r = validateSchema(k.schema, o);
    else {
      const b = validateBuiltin(k, o);
      if (b.typeErrors.length) throw undecodable(b.typeErrors.join(', '));
      r = b;
    }
    if (r.unknown.length) {
      const mode = opts.fieldValidation ?? 'Warn';
      if (mode === 'Strict')
        throw undecodable(
          `strict decoding error: ${r.unknown.map((u) => `unknown field "${u}"`).join(', ')}`,
        );
      if (mode === 'Warn') for (const u of r.unknown) opts.warnings?.push(`unknown field "${u}"`);
      this.log?.debug('unknown fields dropped', {
        kind: k.kind,
        name: o.metadata.name,
        fields: r.unknown,
      });
      prune(o, r.unknown);
    }
    if (k.kind === 'CustomResourceDefinition' && !k.crd) return [...r.causes, ...validateCrd(o)];
    return r.causes;
  }

  /** Serves every stored CRD (at start, before any request). */
  registerStoredCrds(): void {
    for (const crd of this.store.list(kindKey(crdKind)))
      registerCrd(crd.metadata.name, crdKinds(crd));
  }

  private checkBody(k: Kind, body: unknown): Obj {
    if (!isObj(body)) throw badRequest('the request body must be a JSON object');
    const o = structuredClone(body);
    if (
      o.kind !== undefined &&
      o.kind !== k.kind &&
      !(k.kind === 'ServiceAccount' && o.kind === 'TokenRequest')
    )
      throw badRequest(
        `the kind of the object (${String(o.kind)}) does not match the resource (${k.kind})`,
      );
    if (o.apiVersion !== undefined && o.apiVersion !== apiVersionOf(k))
      throw badRequest(
        `the API version of the object (${String(o.apiVersion)}) does not match the resource (${apiVersionOf(k)})`,
      );
    o.kind = k.kind;
    o.apiVersion = apiVersionOf(k);
    if (!isObj(o.metadata)) o.metadata = {};
    return o as Obj;
  }

  private writer(
    k: Kind,
    opts: WriteOptions,
    subresource?: string,
  ): { manager: string; apiVersion: string; subresource?: string } {
    return {
      manager: opts.fieldManager ?? 'kube-apiserver',
      apiVersion: apiVersionOf(k),
      ...(subresource ? { subresource } : {}),
    };
  }

  private withType(k: Kind, o: Obj): Obj {
    // Stored objects of a CRD are read in the version asked for (conversion strategy None).
    const out: Obj = { apiVersion: apiVersionOf(k), kind: k.kind, ...o };
    out.apiVersion = apiVersionOf(k);
    return out;
  }

  private validationContext(exceptUid?: string): ValidationContext {
    const used = (): Set<string> => {
      const s = new Set<string>();
      for (const svc of this.store.list(kindKey(svcKind))) {
        if (svc.metadata.uid === exceptUid) continue;
        const ip = isObj(svc.spec) ? svc.spec.clusterIP : undefined;
        if (typeof ip === 'string') s.add(ip);
      }
      return s;
    };
    return {
      serviceRange: this.serviceRange,
      clusterIPInUse: (ip) => used().has(ip),
      allocateClusterIP: () => this.serviceRange.allocate(used()),
    };
  }
}

export { kindByKey, podKind, initialNamespaces, type BootstrapOptions };
