/**
 * The cluster file (`ambit lab up -f cluster.yaml`): the lab's shape. Everything is validated
 * up front, with errors naming the field and the value, because a bad address found halfway
 * through building namespaces leaves the operator with a half-built lab.
 */
import { parse } from 'yaml';
import { AmbitError } from '../../errors.js';
import { contains, overlaps, parseCidr, parseIp, size, type Cidr } from './ipv4.js';
import { DEFAULT_LAB } from '../conventions.js';
import { DEFAULT_SERVICE_CIDR } from './service-range.js';

export type NodeRole = 'control-plane' | 'worker';

export interface ClusterNode {
  name: string;
  ip: string;
  podCIDR: string;
  role: NodeRole;
}

export interface Cluster {
  name: string;
  underlay: { cidr: string; gateway: string };
  serviceCIDR: string;
  dnsIP: string;
  nodes: ClusterNode[];
}

/** The default lab: the cluster of the demo's packet walk (README.md, "The lab"). */
export function defaultCluster(name = DEFAULT_LAB): Cluster {
  return {
    name,
    underlay: { cidr: '172.18.0.0/16', gateway: '172.18.0.1' },
    serviceCIDR: DEFAULT_SERVICE_CIDR,
    dnsIP: '10.96.0.10',
    nodes: [
      { name: 'control-plane', ip: '172.18.0.2', podCIDR: '10.244.0.0/24', role: 'control-plane' },
      { name: 'worker', ip: '172.18.0.4', podCIDR: '10.244.1.0/24', role: 'worker' },
      { name: 'worker2', ip: '172.18.0.3', podCIDR: '10.244.2.0/24', role: 'worker' },
    ],
  };
}

/** Lab names prefix every netns (`<N>-…`); no '-' so one lab's prefix never matches another's. */
export const LAB_NAME = /^[a-z][a-z0-9]{0,7}$/;
const NODE_NAME = /^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;

function bad(field: string, value: unknown, why: string, hint?: string): AmbitError {
  // A command-line flag (`--name`) is not a field of the cluster file.
  const where = field.startsWith('--') ? '' : 'cluster file: ';
  return new AmbitError('LAB_BAD_CLUSTER', `${where}${field} ${JSON.stringify(value)}: ${why}`, {
    value,
    hint,
  });
}

export function checkLabName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !LAB_NAME.test(name)) {
    throw bad(
      field,
      name,
      'must be 1-8 lowercase letters/digits starting with a letter',
      'it prefixes every network namespace (<name>-worker, …), which must stay unambiguous',
    );
  }
  return name;
}

function str(obj: Record<string, unknown>, key: string, field: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v === '') throw bad(field, v, 'is required and must be a string');
  return v;
}

function cidrOf(v: string, field: string): Cidr {
  const c = parseCidr(v);
  if (!c) throw bad(field, v, 'is not an IPv4 CIDR with host bits zero (like 10.244.0.0/24)');
  return c;
}

function ipOf(v: string, field: string): number {
  const n = parseIp(v);
  if (n === undefined) throw bad(field, v, 'is not an IPv4 address');
  return n;
}

function onlyKeys(obj: Record<string, unknown>, allowed: string[], field: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw bad(`${field}${k}`, obj[k], `unknown field (known: ${allowed.join(', ')})`);
  }
}

function record(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw bad(field, v, 'must be a mapping');
  return v as Record<string, unknown>;
}

/** Validates a parsed cluster document; missing top-level fields take the default's values. */
export function validateCluster(doc: unknown): Cluster {
  const o = record(doc ?? {}, '(document)');
  onlyKeys(o, ['name', 'underlay', 'serviceCIDR', 'dnsIP', 'nodes'], '');
  const def = defaultCluster();
  const name = checkLabName(o.name ?? def.name);
  const u = record(o.underlay ?? def.underlay, 'underlay');
  onlyKeys(u, ['cidr', 'gateway'], 'underlay.');
  const underlayCidr = str(u, 'cidr', 'underlay.cidr');
  const underlay = cidrOf(underlayCidr, 'underlay.cidr');
  if (underlay.prefix > 29)
    throw bad('underlay.cidr', underlayCidr, 'is too small for a few nodes');
  const gateway = str(u, 'gateway', 'underlay.gateway');
  const gw = ipOf(gateway, 'underlay.gateway');
  const inHostRange = (c: Cidr, ip: number) =>
    contains(c, ip) && ip !== c.base && ip !== c.base + size(c) - 1;
  if (!inHostRange(underlay, gw))
    throw bad('underlay.gateway', gateway, `is not a host address in ${underlayCidr}`);

  const serviceCIDR = typeof o.serviceCIDR === 'string' ? o.serviceCIDR : def.serviceCIDR;
  const svc = cidrOf(serviceCIDR, 'serviceCIDR');
  if (overlaps(svc, underlay))
    throw bad('serviceCIDR', serviceCIDR, `overlaps underlay.cidr ${underlayCidr}`);
  const dnsIP = typeof o.dnsIP === 'string' ? o.dnsIP : def.dnsIP;
  if (!inHostRange(svc, ipOf(dnsIP, 'dnsIP')))
    throw bad('dnsIP', dnsIP, `is not inside serviceCIDR ${serviceCIDR}`);

  const rawNodes = o.nodes ?? def.nodes;
  if (!Array.isArray(rawNodes) || rawNodes.length === 0)
    throw bad('nodes', rawNodes, 'must be a non-empty list');
  const nodes: ClusterNode[] = [];
  const seenIps = new Map<number, string>([[gw, 'underlay.gateway']]);
  const cidrs: { c: Cidr; field: string }[] = [];
  rawNodes.forEach((raw: unknown, i: number) => {
    const f = `nodes[${i}]`;
    const n = record(raw, f);
    onlyKeys(n, ['name', 'ip', 'podCIDR', 'role'], `${f}.`);
    const nodeName = str(n, 'name', `${f}.name`);
    if (!NODE_NAME.test(nodeName) || nodeName === 'underlay' || /^p[0-9a-f]{8}$/.test(nodeName)) {
      throw bad(
        `${f}.name`,
        nodeName,
        'must be 1-32 lowercase letters, digits or "-" (not "underlay", not p<8 hex>)',
        'node names become network namespace names <lab>-<node>',
      );
    }
    if (nodes.some((x) => x.name === nodeName))
      throw bad(`${f}.name`, nodeName, 'is a duplicate node name');
    const ip = str(n, 'ip', `${f}.ip`);
    const ipn = ipOf(ip, `${f}.ip`);
    if (!inHostRange(underlay, ipn))
      throw bad(`${f}.ip`, ip, `is not a host address inside underlay.cidr ${underlayCidr}`);
    const clash = seenIps.get(ipn);
    if (clash) throw bad(`${f}.ip`, ip, `is already used by ${clash}`);
    seenIps.set(ipn, `${f}.ip`);
    const podCIDR = str(n, 'podCIDR', `${f}.podCIDR`);
    const pc = cidrOf(podCIDR, `${f}.podCIDR`);
    if (pc.prefix > 28) throw bad(`${f}.podCIDR`, podCIDR, 'is too small (at most /28)');
    for (const other of [
      ...cidrs,
      { c: underlay, field: 'underlay.cidr' },
      { c: svc, field: 'serviceCIDR' },
    ]) {
      if (overlaps(pc, other.c))
        throw bad(`${f}.podCIDR`, podCIDR, `overlaps ${other.field} ${other.c.text}`);
    }
    cidrs.push({ c: pc, field: `${f}.podCIDR` });
    const role = n.role ?? 'worker';
    if (role !== 'control-plane' && role !== 'worker') {
      throw bad(`${f}.role`, role, 'must be control-plane or worker');
    }
    nodes.push({ name: nodeName, ip, podCIDR, role });
  });
  const cps = nodes.filter((n) => n.role === 'control-plane');
  if (cps.length !== 1) {
    throw bad(
      'nodes',
      cps.map((n) => n.name),
      'exactly one node must have role control-plane',
    );
  }
  return { name, underlay: { cidr: underlayCidr, gateway }, serviceCIDR, dnsIP, nodes };
}

/** Parses and validates cluster YAML text; `source` names the file in errors. */
export function parseCluster(text: string, source = 'cluster file'): Cluster {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new AmbitError(
      'LAB_BAD_CLUSTER',
      `${source}: not valid YAML: ${(err as Error).message}`,
      {
        value: source,
        cause: err,
      },
    );
  }
  return validateCluster(doc);
}

export function controlPlane(c: Cluster): ClusterNode {
  return c.nodes.find((n) => n.role === 'control-plane')!;
}

export function findNode(c: Cluster, name: string): ClusterNode {
  const n = c.nodes.find((x) => x.name === name);
  if (!n) {
    throw new AmbitError('LAB_NO_NODE', `no node ${JSON.stringify(name)} in lab ${c.name}`, {
      value: name,
      hint: `nodes: ${c.nodes.map((x) => x.name).join(', ')}`,
    });
  }
  return n;
}

/** Network namespace names: `<lab>-underlay`, `<lab>-<node>`, `<lab>-p<8 hex of pod uid>`. */
export const netnsNames = {
  underlay: (lab: string) => `${lab}-underlay`,
  node: (lab: string, node: string) => `${lab}-${node}`,
  pod: (lab: string, uid: string) => `${lab}-p${uid.replace(/-/g, '').slice(0, 8)}`,
};

/** The API server address inside the lab: the control-plane node's underlay IP, port 6443. */
export function inLabServer(c: Cluster): string {
  return `https://${controlPlane(c).ip}:6443`;
}
