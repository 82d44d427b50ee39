/**
 * Built-in kinds checked against the official OpenAPI schemas, through the validators that
 * `kubernetes-models` (and `@kubernetes-models/istio` for the Istio kinds) generate from them:
 * wrong types, unsupported enum values, missing required fields, and fields the schema does not
 * declare. The generated validators report type and constraint errors but not unknown fields
 * (Kubernetes' schemas do not forbid them); those are found by watching which fields the
 * validator reads: it reads every property its schema declares (and enumerates maps), so a field
 * it never looked at is one the schema lacks. A part it never looks into (a free-form object)
 * counts as known. **Lab shortcut:** `status` is not checked (it is what the lab's controllers
 * and kubelets report; the real server validates it too). CustomResourceDefinitions are not among them: the generated schema of
 * JSONSchemaProps lacks `description` and the `x-kubernetes-*` properties (`crd.ts` checks them).
 */
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { EndpointSlice } from 'kubernetes-models/discovery.k8s.io/v1/EndpointSlice';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Endpoints } from 'kubernetes-models/v1/Endpoints';
import { Event } from 'kubernetes-models/v1/Event';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Node } from 'kubernetes-models/v1/Node';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication';
import type { Kind } from './catalog.js';
import { cause, type Cause } from './status.js';

/** What the generated validators report (ajv's ErrorObject). */
interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

interface ModelClass {
  apiVersion: string;
  kind: string;
  prototype: { validate(): void };
}

const models: ModelClass[] = [
  Namespace,
  Node,
  Pod,
  Service,
  Endpoints,
  EndpointSlice,
  ServiceAccount,
  ConfigMap,
  Secret,
  Event,
  Deployment,
  DaemonSet,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  AuthorizationPolicy,
  PeerAuthentication,
];

const byType = new Map(models.map((m) => [`${m.apiVersion}/${m.kind}`, m]));

export interface BuiltinResult {
  /** Wrong JSON types: the real server cannot decode the body (400). */
  typeErrors: string[];
  /** Constraint errors (422 causes). */
  causes: Cause[];
  /** Paths (`spec.template.spec.containers[0].imagee`) of fields the schema lacks. */
  unknown: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

interface Reads {
  keys: Set<string>;
  /** The validator enumerated the object's keys (a map: every key is allowed). */
  all: boolean;
}

/** A read-only view of `root` that records, per object, which keys were read. */
function watched(root: unknown, reads: WeakMap<object, Reads>): unknown {
  const proxies = new WeakMap<object, object>();
  const readsOf = (t: object): Reads => {
    let r = reads.get(t);
    if (!r) reads.set(t, (r = { keys: new Set(), all: false }));
    return r;
  };
  const wrap = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    let p = proxies.get(v);
    if (!p) {
      p = new Proxy(v, {
        get(t, key, recv) {
          if (typeof key === 'string') readsOf(t).keys.add(key);
          return wrap(Reflect.get(t, key, recv));
        },
        has(t, key) {
          if (typeof key === 'string') readsOf(t).keys.add(key);
          return Reflect.has(t, key);
        },
        ownKeys(t) {
          readsOf(t).all = true;
          return Reflect.ownKeys(t);
        },
      });
      proxies.set(v, p);
    }
    return p;
  };
  return wrap(root);
}

function unknownFields(
  v: unknown,
  path: string,
  reads: WeakMap<object, Reads>,
  out: string[],
): void {
  if (Array.isArray(v)) {
    v.forEach((e, i) => unknownFields(e, `${path}[${i}]`, reads, out));
    return;
  }
  if (!isObj(v)) return;
  const r = reads.get(v);
  if (!r) return; // never looked into: free-form
  for (const [k, child] of Object.entries(v)) {
    const p = path ? `${path}.${k}` : k;
    if (!r.all && !r.keys.has(k)) out.push(p);
    else unknownFields(child, p, reads, out);
  }
}

/** `/spec/template/spec/containers/0/name` → `spec.template.spec.containers[0].name`. */
function fieldPath(obj: unknown, pointer: string, extra?: string): string {
  const segs = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) segs.push(extra);
  let cur: unknown = obj;
  let out = '';
  for (const s of segs) {
    if (Array.isArray(cur)) {
      out += `[${s}]`;
      cur = cur[Number(s)];
    } else {
      out += out ? `.${s}` : s;
      cur = isObj(cur) ? cur[s] : undefined;
    }
  }
  return out;
}

function valueAt(obj: unknown, pointer: string): unknown {
  let cur = obj;
  for (const s of pointer.split('/').slice(1)) {
    const k = s.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = Array.isArray(cur) ? cur[Number(k)] : isObj(cur) ? cur[k] : undefined;
  }
  return cur;
}

const jsonType = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v;

/** Whether this server checks `k` against an official schema. */
export function hasBuiltinSchema(k: Kind): boolean {
  return !k.crd && byType.has(`${k.group ? `${k.group}/` : ''}${k.version}/${k.kind}`);
}

/** Checks `o` (an object of built-in kind `k`) against its official schema. */
export function validateBuiltin(k: Kind, o: Record<string, unknown>): BuiltinResult {
  const out: BuiltinResult = { typeErrors: [], causes: [], unknown: [] };
  const model = k.crd
    ? undefined
    : byType.get(`${k.group ? `${k.group}/` : ''}${k.version}/${k.kind}`);
  if (!model) return out;
  const reads = new WeakMap<object, Reads>();
  let errors: SchemaError[] = [];
  try {
    model.prototype.validate.call(watched(o, reads));
  } catch (err) {
    errors = ((err as { errors?: SchemaError[] }).errors ?? []).filter(
      (e) => typeof e.instancePath === 'string',
    );
  }
  unknownFields(o, '', reads, out.unknown);
  // Status is the controllers' and kubelets' report; the lab checks only what users write.
  out.unknown = out.unknown.filter(
    (p) => p !== 'status' && !p.startsWith('status.') && !p.startsWith('status['),
  );
  errors = errors.filter(
    (e) => e.instancePath !== '/status' && !e.instancePath.startsWith('/status/'),
  );
  for (const e of errors) {
    const value = valueAt(o, e.instancePath);
    if (e.keyword === 'type') {
      // A nullable wrapper reports `type` twice for the same place; report it once.
      const msg = `json: cannot unmarshal ${jsonType(value)} into field ${fieldPath(o, e.instancePath)} of type ${String(e.params.type)}`;
      if (!out.typeErrors.includes(msg)) out.typeErrors.push(msg);
    } else if (e.keyword === 'required')
      out.causes.push(
        cause.required(fieldPath(o, e.instancePath, String(e.params.missingProperty))),
      );
    else if (e.keyword === 'enum')
      out.causes.push(
        cause.notSupported(
          fieldPath(o, e.instancePath),
          value,
          ((e.params.allowedValues as unknown[] | undefined) ?? []).map(String),
        ),
      );
    else
      out.causes.push(
        cause.invalid(fieldPath(o, e.instancePath), value, e.message ?? `fails ${e.keyword}`),
      );
  }
  return out;
}
