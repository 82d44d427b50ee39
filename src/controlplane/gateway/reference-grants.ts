/**
 * ReferenceGrants (Gateway API, gateway.networking.k8s.io): a reference from one namespace to an
 * object in another — a route's backendRef to a Service, a Gateway's certificateRef to a Secret —
 * is permitted exactly when a ReferenceGrant in the target's namespace has a `from` entry with
 * the referring object's group, kind and namespace and a `to` entry with the target's group and
 * kind, and its name when the entry names one (the CRD's text: entries are ORed; no grant, no
 * reference; a removed grant revokes it). Group `""` is the core group (`core` is read the same,
 * as the route translation reads backendRefs). Same-namespace references need no grant. Pure.
 */
import type { ReferenceGrant } from '../model/routes-types.js';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** The referring object. */
export interface RefFrom {
  group: string;
  kind: string;
  namespace: string;
}

/** The object referred to. */
export interface RefTo {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

const core = (g: string | undefined) => (g === undefined || g === 'core' ? '' : g);

export class ReferenceGrants {
  private readonly byNamespace = new Map<string, ReferenceGrant[]>();

  constructor(grants: readonly ReferenceGrant[] = []) {
    for (const g of grants) {
      if (g.metadata.deletionTimestamp) continue;
      const ns = g.metadata.namespace ?? 'default';
      const list = this.byNamespace.get(ns) ?? [];
      list.push(g);
      this.byNamespace.set(ns, list);
    }
  }

  /** Is `from` allowed to refer to `to`? */
  permits(from: RefFrom, to: RefTo): boolean {
    if (from.namespace === to.namespace) return true;
    return (this.byNamespace.get(to.namespace) ?? []).some(
      (g) =>
        (g.spec?.from ?? []).some(
          (f) =>
            core(f.group) === core(from.group) &&
            f.kind === from.kind &&
            f.namespace === from.namespace,
        ) &&
        (g.spec?.to ?? []).some(
          (t) =>
            core(t.group) === core(to.group) &&
            t.kind === to.kind &&
            (t.name === undefined || t.name === '' || t.name === to.name),
        ),
    );
  }
}

/** Why a cross-namespace reference is refused, for a RefNotPermitted condition. */
export function notPermitted(from: RefFrom, to: RefTo): string {
  const g = core(to.group);
  return (
    `no ReferenceGrant in namespace ${to.namespace} allows ${from.kind} from namespace ` +
    `${from.namespace} to refer to ${g ? g + '/' : ''}${to.kind} ${to.name}`
  );
}
