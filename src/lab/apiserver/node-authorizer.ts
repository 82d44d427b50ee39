/**
 * The Node authorizer and NodeRestriction, as kube-apiserver runs them before RBAC
 * (`--authorization-mode=Node,RBAC`, `--enable-admission-plugins=NodeRestriction`): a kubelet
 * (user `system:node:<name>` in group `system:nodes`) may read a Secret, ConfigMap or
 * PersistentVolumeClaim only when a pod bound to its node references it (volumes, projected
 * sources, env and envFrom of every container, imagePullSecrets; the `kube-root-ca.crt`
 * ConfigMap of a namespace with such a pod, which here every pod's service-account volume
 * carries), never list or watch them, request tokens only for its pods' service accounts, and
 * write (update, patch, delete) only its own Node and the pods bound to it. Anything else is
 * left to RBAC (the `system:node` ClusterRole: read pods, nodes, services; events).
 */
import { kindKey, kinds } from './catalog.js';
import { RbacAuthorizer, type Attributes, type Decision } from './rbac.js';
import type { Obj, Store } from './store.js';
import type { UserInfo } from './user.js';

const podKey = kindKey(kinds.find((k) => k.kind === 'Pod')!);

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isObj) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

export interface PodReferences {
  secrets: Set<string>;
  configmaps: Set<string>;
  persistentvolumeclaims: Set<string>;
  serviceaccounts: Set<string>;
}

/** What a pod makes its node able to read: the edges of the Node authorizer's graph. */
export function podReferences(pod: Obj): PodReferences {
  const refs: PodReferences = {
    secrets: new Set(),
    configmaps: new Set(['kube-root-ca.crt']),
    persistentvolumeclaims: new Set(),
    serviceaccounts: new Set(),
  };
  const add = (set: Set<string>, v: unknown): void => {
    const s = str(v);
    if (s) set.add(s);
  };
  const spec = isObj(pod.spec) ? pod.spec : {};
  add(refs.serviceaccounts, spec.serviceAccountName ?? spec.serviceAccount ?? 'default');
  for (const s of list(spec.imagePullSecrets)) add(refs.secrets, s.name);
  for (const v of list(spec.volumes)) {
    if (isObj(v.secret)) add(refs.secrets, v.secret.secretName);
    if (isObj(v.configMap)) add(refs.configmaps, v.configMap.name);
    if (isObj(v.persistentVolumeClaim))
      add(refs.persistentvolumeclaims, v.persistentVolumeClaim.claimName);
    // A generic ephemeral volume's claim is named after the pod and the volume.
    if (isObj(v.ephemeral) && str(v.name))
      refs.persistentvolumeclaims.add(`${pod.metadata.name}-${String(v.name)}`);
    for (const src of list(isObj(v.projected) ? v.projected.sources : undefined)) {
      if (isObj(src.secret)) add(refs.secrets, src.secret.name);
      if (isObj(src.configMap)) add(refs.configmaps, src.configMap.name);
    }
  }
  const containers = [
    ...list(spec.initContainers),
    ...list(spec.containers),
    ...list(spec.ephemeralContainers),
  ];
  for (const c of containers) {
    for (const e of list(c.env)) {
      const from = isObj(e.valueFrom) ? e.valueFrom : {};
      if (isObj(from.secretKeyRef)) add(refs.secrets, from.secretKeyRef.name);
      if (isObj(from.configMapKeyRef)) add(refs.configmaps, from.configMapKeyRef.name);
    }
    for (const e of list(c.envFrom)) {
      if (isObj(e.secretRef)) add(refs.secrets, e.secretRef.name);
      if (isObj(e.configMapRef)) add(refs.configmaps, e.configMapRef.name);
    }
  }
  return refs;
}

const graphResources = new Set(['secrets', 'configmaps', 'persistentvolumeclaims']);
const writeVerbs = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** The node a user is the kubelet of, or undefined. */
export function nodeOf(u: UserInfo): string | undefined {
  if (!u.groups.includes('system:nodes')) return undefined;
  const m = u.name.match(/^system:node:(.+)$/);
  return m ? m[1] : undefined;
}

export class NodeAuthorizer extends RbacAuthorizer {
  constructor(private readonly objects: Store) {
    super(objects);
  }

  private podsOn(node: string, namespace: string | undefined): Obj[] {
    return this.objects
      .list(podKey, namespace)
      .filter((p) => isObj(p.spec) && p.spec.nodeName === node);
  }

  /**
   * The Node authorizer's and NodeRestriction's answer: allowed, refused (`final`), or no
   * opinion with a reason (RBAC decides; its refusal carries that reason); undefined: no opinion.
   */
  private nodeDecision(node: string, a: Attributes): (Decision & { final?: boolean }) | undefined {
    if (a.kind !== 'resource' || a.group !== '') return undefined;
    const deny = (reason: string): Decision & { final: boolean } => ({
      allowed: false,
      reason,
      final: true,
    });
    const noOpinion = (reason: string): Decision => ({ allowed: false, reason });
    if (graphResources.has(a.resource) && !a.subresource) {
      if (a.verb !== 'get' || !a.name)
        return noOpinion(`can only get individual resources of this type`);
      const res = a.resource as 'secrets' | 'configmaps' | 'persistentvolumeclaims';
      const linked = this.podsOn(node, a.namespace).some((p) => podReferences(p)[res].has(a.name!));
      return linked
        ? { allowed: true, reason: `node '${node}' has a pod that references this object` }
        : noOpinion(`no relationship found between node '${node}' and this object`);
    }
    if (a.resource === 'serviceaccounts' && a.subresource === 'token') {
      if (a.verb !== 'create' || !a.name)
        return noOpinion('can only create tokens for individual service accounts');
      const linked = this.podsOn(node, a.namespace).some((p) =>
        podReferences(p).serviceaccounts.has(a.name!),
      );
      return linked
        ? { allowed: true, reason: `node '${node}' has a pod of this service account` }
        : noOpinion(`no relationship found between node '${node}' and this object`);
    }
    if (a.resource === 'nodes' && writeVerbs.has(a.verb) && a.name !== undefined && a.name !== node)
      return deny(`node "${node}" is not allowed to modify node "${a.name}"`);
    if (a.resource === 'pods' && writeVerbs.has(a.verb)) {
      if (a.verb === 'create' && !a.subresource)
        return deny(`node "${node}" can not create pods (mirror pods are not supported)`);
      if (a.name === undefined) return deny(`node "${node}" can only modify pods by name`);
      const pod = this.objects.get(podKey, a.namespace, a.name);
      const on = pod && isObj(pod.spec) ? pod.spec.nodeName : undefined;
      // A pod that is gone is no one's; let RBAC and the 404 answer it.
      if (pod && on !== node)
        return deny(
          a.subresource === 'status'
            ? `node "${node}" can only update pod status for pods with spec.nodeName set to itself`
            : `node "${node}" can only modify pods with spec.nodeName set to itself`,
        );
    }
    return undefined;
  }

  override authorize(u: UserInfo, a: Attributes): Decision {
    const node = nodeOf(u);
    const d = node === undefined ? undefined : this.nodeDecision(node, a);
    if (d?.allowed || d?.final) return { allowed: d.allowed, reason: d.reason };
    const rbac = super.authorize(u, a);
    return rbac.allowed || !d ? rbac : { allowed: false, reason: d.reason };
  }
}
