/**
 * What a cluster keeps true about itself, written through the registry's own verbs: the
 * standard namespaces, a `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap in every
 * namespace (the service-account and root-CA publisher controllers), the `kubernetes` Service
 * and its Endpoints pointing at the API server, kube-apiserver's RBAC bootstrap objects, and
 * the CRDs the lab ships with.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { AmbitError } from '../../errors.js';
import { apiVersionOf, kindKey, kinds, type Kind } from './catalog.js';
import type { Obj, Store } from './store.js';

/** Namespaces every lab starts with, each with a `default` ServiceAccount. */
export const initialNamespaces = ['default', 'kube-system', 'kube-public', 'istio-system'];

/** What the cluster publishes about itself at every start. */
export interface BootstrapOptions {
  /** The cluster CA, published as ConfigMap `kube-root-ca.crt` in every namespace. */
  caPem?: string;
  /** The API server's in-lab address: the `kubernetes` Service's endpoint. */
  advertise?: { ip: string; port: number };
  /** RBAC objects kept as given (created, or updated when marked autoupdate). */
  policy?: Record<string, unknown>[];
}

/** The registry's verbs these writes use (the Registry itself). */
export interface Writes {
  readonly store: Store;
  create(k: Kind, ns: string | undefined, body: unknown): Obj;
  update(k: Kind, ns: string | undefined, name: string, body: unknown): Obj;
}

const kindOf = (kind: string): Kind => kinds.find((k) => k.kind === kind)!;
const saKind = kindOf('ServiceAccount');
const svcKind = kindOf('Service');
const cmKind = kindOf('ConfigMap');
const epKind = kindOf('Endpoints');
const crdKind = kindOf('CustomResourceDefinition');

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Creates `body` when missing; replaces it when `stale(current)` says it drifted. */
function ensure(
  reg: Writes,
  k: Kind,
  ns: string | undefined,
  body: { metadata: { name: string } } & Record<string, unknown>,
  stale: (cur: Obj) => boolean,
): void {
  const name = body.metadata.name;
  const cur = reg.store.get(kindKey(k), ns, name);
  if (!cur) reg.create(k, ns, body);
  else if (stale(cur))
    reg.update(k, ns, name, {
      ...body,
      metadata: { ...body.metadata, resourceVersion: cur.metadata.resourceVersion },
    });
}

/** A `default` ServiceAccount and, with a cluster CA, the `kube-root-ca.crt` ConfigMap. */
export function ensureNamespaceDefaults(reg: Writes, ns: string, caPem: string | undefined): void {
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } };
  ensure(reg, saKind, ns, sa, () => false);
  if (!caPem) return;
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kube-root-ca.crt' },
    data: { 'ca.crt': caPem },
  };
  ensure(reg, cmKind, ns, cm, (cur) => (cur.data as Record<string, string>)?.['ca.crt'] !== caPem);
}

/**
 * The `kubernetes` Service in `default` (the service range's first address, port 443) and its
 * Endpoints, which kube-apiserver keeps pointing at itself; the EndpointSlice controller
 * mirrors them.
 */
export function ensureKubernetesService(
  reg: Writes,
  clusterIP: string,
  at: { ip: string; port: number },
): void {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: at.port }],
      sessionAffinity: 'None',
    },
  };
  ensure(reg, svcKind, 'default', svc, () => false);
  const subsets = [
    { addresses: [{ ip: at.ip }], ports: [{ name: 'https', port: at.port, protocol: 'TCP' }] },
  ];
  const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kubernetes' }, subsets };
  ensure(reg, epKind, 'default', ep, (cur) => !isDeepStrictEqual(cur.subsets, subsets));
}

/** kube-apiserver's RBAC bootstrap: missing defaults are created, autoupdate ones reset. */
export function ensureBootstrapObject(reg: Writes, o: Record<string, unknown>): void {
  const k = kinds.find((x) => x.kind === o.kind && apiVersionOf(x) === o.apiVersion);
  if (!k) return;
  const body = o as { metadata: { name: string } } & Record<string, unknown>;
  const part = (x: Record<string, unknown>) => ({
    rules: x.rules,
    roleRef: x.roleRef,
    subjects: x.subjects,
  });
  ensure(reg, k, undefined, body, (cur) => {
    const auto = (cur.metadata.annotations as Record<string, string> | undefined)?.[
      'rbac.authorization.kubernetes.io/autoupdate'
    ];
    return auto !== 'false' && !isDeepStrictEqual(part(cur), part(o));
  });
}

/** Creates the CRDs of `files` that do not exist yet (what a cluster ships with). */
export function installCrds(reg: Writes, files: string[]): void {
  for (const f of files) {
    let docs: unknown[];
    try {
      docs = parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as unknown);
    } catch (err) {
      throw new AmbitError(
        'APISERVER_CRD_FILE',
        `cannot read CRDs from ${f}: ${(err as Error).message}`,
        { value: f, hint: 'is the checkout complete (src/lab/manifests/crds/)?', cause: err },
      );
    }
    for (const d of docs) {
      if (!isObj(d) || d.kind !== 'CustomResourceDefinition' || !isObj(d.metadata)) continue;
      if (reg.store.get(kindKey(crdKind), undefined, String(d.metadata.name))) continue;
      reg.create(crdKind, undefined, d);
    }
  }
}
