/**
 * ztunnel's view of the mesh: workloads, services and authorization policies as pushed by the
 * control plane. Indexed the ways the proxies ask: workload by uid and by IP, service by VIP and
 * by `namespace/hostname`, endpoints of a service by the services map carried on each workload
 * (the workload API references services from workloads, not the other way round).
 */
import { EventEmitter } from 'node:events';
import type { Address, Authorization, Service, Workload } from '../api/workload.js';
import { authorizationResourceName, spiffeId } from '../api/workload.js';
import type { XdsDelta } from '../xds/types.js';

export interface StateEvents {
  /** Workloads or services changed. */
  addresses: [];
  /** Authorization policies changed (or workloads' policy references did). */
  policies: [];
}

export function serviceKey(s: Pick<Service, 'namespace' | 'hostname'>): string {
  return `${s.namespace}/${s.hostname}`;
}

export function workloadIdentity(w: Workload): string {
  return spiffeId(w.trustDomain || 'cluster.local', w.namespace, w.serviceAccount || 'default');
}

export class ZtunnelState extends EventEmitter<StateEvents> {
  private readonly workloads = new Map<string, Workload>();
  private readonly workloadsByIp = new Map<string, Workload>();
  private readonly services = new Map<string, Service>();
  private readonly servicesByVip = new Map<string, Service>();
  private readonly policyStore = new Map<string, Authorization>();
  /** service key → workload uids selected by it. */
  private readonly endpointIndex = new Map<string, Set<string>>();

  /** Applies one delta from the xDS client; emits `addresses` / `policies` when something changed. */
  applyDelta(delta: XdsDelta): void {
    let addr = false;
    let pol = false;
    if (delta.addresses) {
      for (const name of delta.addresses.removed) addr = this.removeAddress(name) || addr;
      for (const a of delta.addresses.added) {
        this.putAddress(a);
        addr = true;
        // A workload's authorizationPolicies list is a policy input too.
        if (a.workload) pol = true;
      }
    }
    if (delta.authorizations) {
      for (const name of delta.authorizations.removed) pol = this.policyStore.delete(name) || pol;
      for (const p of delta.authorizations.added) {
        this.policyStore.set(authorizationResourceName(p), p);
        pol = true;
      }
    }
    if (addr) this.emit('addresses');
    if (pol) this.emit('policies');
  }

  private putAddress(a: Address): void {
    if (a.workload) {
      this.removeWorkload(a.workload.uid);
      const w = a.workload;
      this.workloads.set(w.uid, w);
      for (const ip of w.addresses) this.workloadsByIp.set(ip, w);
      for (const key of Object.keys(w.services)) {
        let set = this.endpointIndex.get(key);
        if (!set) this.endpointIndex.set(key, (set = new Set()));
        set.add(w.uid);
      }
    } else {
      const s = a.service;
      const key = serviceKey(s);
      this.removeService(key);
      this.services.set(key, s);
      for (const vip of s.addresses) this.servicesByVip.set(vip.address, s);
    }
  }

  private removeAddress(name: string): boolean {
    return this.removeWorkload(name) || this.removeService(name);
  }

  private removeWorkload(uid: string): boolean {
    const old = this.workloads.get(uid);
    if (!old) return false;
    this.workloads.delete(uid);
    for (const ip of old.addresses) {
      if (this.workloadsByIp.get(ip) === old) this.workloadsByIp.delete(ip);
    }
    for (const key of Object.keys(old.services)) this.endpointIndex.get(key)?.delete(uid);
    return true;
  }

  private removeService(key: string): boolean {
    const old = this.services.get(key);
    if (!old) return false;
    this.services.delete(key);
    for (const vip of old.addresses) {
      if (this.servicesByVip.get(vip.address) === old) this.servicesByVip.delete(vip.address);
    }
    return true;
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.workloads.get(uid);
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.workloadsByIp.get(ip);
  }

  serviceByVip(ip: string): Service | undefined {
    return this.servicesByVip.get(ip);
  }

  serviceByHost(namespace: string, hostname: string): Service | undefined {
    return this.services.get(`${namespace}/${hostname}`);
  }

  /** Any service with this hostname, preferring one in `preferNamespace`. */
  serviceByHostname(hostname: string, preferNamespace?: string): Service | undefined {
    let found: Service | undefined;
    for (const s of this.services.values()) {
      if (s.hostname !== hostname) continue;
      if (s.namespace === preferNamespace) return s;
      found ??= s;
    }
    return found;
  }

  /** Workloads selected by the service (any health). */
  endpoints(svc: Service): Workload[] {
    const uids = this.endpointIndex.get(serviceKey(svc));
    if (!uids) return [];
    const out: Workload[] = [];
    for (const uid of uids) {
      const w = this.workloads.get(uid);
      if (w) out.push(w);
    }
    return out;
  }

  policy(name: string): Authorization | undefined {
    return this.policyStore.get(name);
  }

  allWorkloads(): Workload[] {
    return [...this.workloads.values()];
  }

  allServices(): Service[] {
    return [...this.services.values()];
  }

  allPolicies(): Authorization[] {
    return [...this.policyStore.values()];
  }

  /** Workloads scheduled to `node`. */
  workloadsOnNode(node: string): Workload[] {
    return this.allWorkloads().filter((w) => w.node === node);
  }

  /** Replaces everything with a full snapshot (used when an xDS client hands over its whole state). */
  replaceAll(addresses: Iterable<Address>, authorizations: Iterable<Authorization>): void {
    const removedAddr = [...this.workloads.keys(), ...this.services.keys()];
    const removedPol = [...this.policyStore.keys()];
    this.applyDelta({
      typeUrl: 'snapshot',
      version: '',
      addresses: { added: [...addresses], removed: removedAddr },
      authorizations: { added: [...authorizations], removed: removedPol },
    });
  }
}
