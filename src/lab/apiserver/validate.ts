/**
 * Defaults and validation per kind: the checks kubectl users rely on (names, required fields,
 * Service ports and cluster IPs, Pod containers), each failure naming its field.
 */
import type { Kind } from './catalog.js';
import { cause, type Cause } from './status.js';
import type { ServiceRange } from '../cluster/service-range.js';

type Obj = Record<string, unknown>;

const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelKey =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const labelValue = /^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$/;

const obj = (v: unknown): Obj =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Kinds whose names must be DNS-1123 labels (no dots), as in Kubernetes. */
const labelNamed = new Set(['Namespace', 'Service']);
/** Kinds whose names need only be path segments (Kubernetes' ValidatePathSegmentName). */
const pathSegmentNamed = new Set(['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);

export function validateName(k: Kind, name: unknown, field = 'metadata.name'): Cause[] {
  if (typeof name !== 'string' || name === '')
    return [cause.required(field, 'name or generateName is required')];
  if (pathSegmentNamed.has(k.kind)) {
    // RBAC objects only need a valid path segment (system:node, system:kube-proxy, …).
    if (name === '.' || name === '..' || /[/%]/.test(name))
      return [cause.invalid(field, name, `may not be '.' or '..' and may not contain '/' or '%'`)];
  } else if (labelNamed.has(k.kind)) {
    if (name.length > 63 || !label.test(name))
      return [
        cause.invalid(
          field,
          name,
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc')",
        ),
      ];
  } else if (name.length > 253 || !subdomain.test(name)) {
    return [
      cause.invalid(
        field,
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
      ),
    ];
  }
  return [];
}

function validateMeta(k: Kind, o: Obj): Cause[] {
  const m = obj(o.metadata);
  const out = validateName(k, m.name);
  for (const [key, value] of Object.entries(obj(m.labels))) {
    if (key.length > 316 || !labelKey.test(key))
      out.push(
        cause.invalid(
          `metadata.labels`,
          key,
          "name part must consist of alphanumeric characters, '-', '_' or '.'",
        ),
      );
    if (typeof value !== 'string' || value.length > 63 || !labelValue.test(value))
      out.push(
        cause.invalid(
          `metadata.labels`,
          value,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'",
        ),
      );
  }
  for (const [key, value] of Object.entries(obj(m.annotations)))
    if (typeof value !== 'string')
      out.push(cause.invalid(`metadata.annotations[${key}]`, value, 'must be a string'));
  return out;
}

function validateContainers(list: unknown, field: string): Cause[] {
  const cs = arr(list);
  if (cs.length === 0) return [cause.required(field)];
  const out: Cause[] = [];
  const seen = new Set<string>();
  cs.forEach((c, i) => {
    const name = obj(c).name;
    const f = `${field}[${i}].name`;
    if (typeof name !== 'string' || name === '') out.push(cause.required(f));
    else if (!label.test(name) || name.length > 63)
      out.push(cause.invalid(f, name, 'a lowercase RFC 1123 label is required'));
    else if (seen.has(name)) out.push(cause.duplicate(f, name));
    else seen.add(name);
    arr(obj(c).ports).forEach((p, j) => {
      const port = obj(p).containerPort;
      // A missing or mistyped port is the schema's to report (builtin-schema.ts).
      if (typeof port === 'number' && (port < 1 || port > 65535))
        out.push(
          cause.invalid(
            `${field}[${i}].ports[${j}].containerPort`,
            port,
            'must be between 1 and 65535, inclusive',
          ),
        );
    });
  });
  return out;
}

function validatePodSpec(spec: unknown, field: string): Cause[] {
  const s = obj(spec);
  const out = validateContainers(s.containers, `${field}.containers`);
  const rp = s.restartPolicy;
  if (rp !== undefined && !['Always', 'OnFailure', 'Never'].includes(rp as string))
    out.push(cause.notSupported(`${field}.restartPolicy`, rp, ['Always', 'OnFailure', 'Never']));
  return out;
}

function defaultPodSpec(spec: Obj): void {
  spec.restartPolicy ??= 'Always';
  spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  for (const c of arr(spec.containers)) {
    const co = obj(c);
    co.imagePullPolicy ??= 'IfNotPresent';
    for (const p of arr(co.ports)) obj(p).protocol ??= 'TCP';
  }
}

function validateWorkload(o: Obj): Cause[] {
  const spec = obj(o.spec);
  const out: Cause[] = [];
  const sel = obj(obj(spec.selector).matchLabels);
  if (!spec.selector) out.push(cause.required('spec.selector'));
  const tpl = obj(spec.template);
  const tplLabels = obj(obj(tpl.metadata).labels);
  for (const [k, v] of Object.entries(sel))
    if (tplLabels[k] !== v) {
      out.push(
        cause.invalid(
          'spec.template.metadata.labels',
          tplLabels,
          '`selector` does not match template `labels`',
        ),
      );
      break;
    }
  out.push(...validatePodSpec(tpl.spec, 'spec.template.spec'));
  if (spec.replicas !== undefined && (typeof spec.replicas !== 'number' || spec.replicas < 0))
    out.push(cause.invalid('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
  return out;
}

/** What validation needs from the store: the Service range and the cluster IPs in use. */
export interface ValidationContext {
  serviceRange: ServiceRange;
  clusterIPInUse(ip: string, exceptUid?: string): boolean;
  allocateClusterIP(): string | undefined;
}

function validateService(o: Obj, old: Obj | undefined, ctx: ValidationContext): Cause[] {
  const spec = obj(o.spec);
  o.spec = spec;
  const out: Cause[] = [];
  spec.type ??= 'ClusterIP';
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(spec.type as string))
    out.push(
      cause.notSupported('spec.type', spec.type, [
        'ClusterIP',
        'NodePort',
        'LoadBalancer',
        'ExternalName',
      ]),
    );
  spec.sessionAffinity ??= 'None';
  const ports = arr(spec.ports);
  if (ports.length === 0 && spec.clusterIP !== 'None') out.push(cause.required('spec.ports'));
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const po = obj(p);
    if (typeof po.port !== 'number' || po.port < 1 || po.port > 65535)
      out.push(
        cause.invalid(`spec.ports[${i}].port`, po.port, 'must be between 1 and 65535, inclusive'),
      );
    po.protocol ??= 'TCP';
    po.targetPort ??= po.port;
    if (ports.length > 1 && !po.name) out.push(cause.required(`spec.ports[${i}].name`));
    const key = `${String(po.port)}/${String(po.protocol)}`;
    if (seen.has(key)) out.push(cause.duplicate(`spec.ports[${i}]`, key));
    seen.add(key);
  });
  const oldIP = obj(old?.spec).clusterIP as string | undefined;
  if (old && oldIP && spec.clusterIP === undefined) spec.clusterIP = oldIP;
  if (old && oldIP && spec.clusterIP !== oldIP)
    out.push(cause.invalid('spec.clusterIP', spec.clusterIP, 'field is immutable'));
  else if (!old && spec.type !== 'ExternalName') {
    const ip = spec.clusterIP;
    if (ip === undefined || ip === '') {
      const got = ctx.allocateClusterIP();
      if (!got)
        out.push(
          cause.invalid('spec.clusterIP', ip, `no free address in ${ctx.serviceRange.text}`),
        );
      else spec.clusterIP = got;
    } else if (ip !== 'None') {
      if (typeof ip !== 'string' || !ctx.serviceRange.contains(ip))
        out.push(
          cause.invalid(
            'spec.clusterIP',
            ip,
            `provided IP is not in the valid range. The range of valid IPs is ${ctx.serviceRange.text}`,
          ),
        );
      else if (ctx.clusterIPInUse(ip))
        out.push(cause.invalid('spec.clusterIP', ip, 'provided IP is already allocated'));
    }
  }
  if (typeof spec.clusterIP === 'string') {
    spec.clusterIPs = [spec.clusterIP];
    if (spec.clusterIP !== 'None') {
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
    }
  }
  spec.internalTrafficPolicy ??= 'Cluster';
  return out;
}

/**
 * Fills defaults into `o` (in place) and returns the field errors; `old` is the stored
 * object on update.
 */
export function defaultAndValidate(
  k: Kind,
  o: Obj,
  old: Obj | undefined,
  ctx: ValidationContext,
): Cause[] {
  const out = validateMeta(k, o);
  switch (k.kind) {
    case 'Pod': {
      const spec = obj(o.spec);
      o.spec = spec;
      defaultPodSpec(spec);
      out.push(...validatePodSpec(spec, 'spec'));
      const st = obj(o.status);
      st.phase ??= 'Pending';
      o.status = st;
      break;
    }
    case 'Service':
      out.push(...validateService(o, old, ctx));
      break;
    case 'Deployment':
    case 'DaemonSet': {
      const spec = obj(o.spec);
      o.spec = spec;
      if (k.kind === 'Deployment') spec.replicas ??= 1;
      spec.revisionHistoryLimit ??= 10;
      const tpl = obj(spec.template);
      spec.template = tpl;
      tpl.spec = obj(tpl.spec);
      defaultPodSpec(tpl.spec as Obj);
      out.push(...validateWorkload(o));
      break;
    }
    case 'Namespace': {
      const st = obj(o.status);
      st.phase ??= 'Active';
      o.status = st;
      break;
    }
    case 'ConfigMap': {
      for (const [key, v] of Object.entries(obj(o.data)))
        if (typeof v !== 'string') out.push(cause.invalid(`data[${key}]`, v, 'must be a string'));
      break;
    }
    case 'Secret': {
      // stringData is write-only: merged into data (base64), as the real API server does.
      const data = obj(o.data);
      for (const [key, v] of Object.entries(obj(o.stringData))) {
        if (typeof v !== 'string')
          out.push(cause.invalid(`stringData[${key}]`, v, 'must be a string'));
        else data[key] = Buffer.from(v).toString('base64');
      }
      delete o.stringData;
      o.data = data;
      o.type ??= 'Opaque';
      break;
    }
  }
  return out;
}
