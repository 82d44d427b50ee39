/**
 * Pod addresses of one node: the lowest free address from .2 of the node's pod CIDR (.1 is
 * the node's gateway address on every pod veth), or the address a pod pins with the
 * annotation `lab.ambit.dev/ip`. .3 is left for the node's ztunnel, which pins it.
 */
import { AmbitError } from '../../errors.js';
import { contains, formatIp, parseCidr, parseIp, size, type Cidr } from '../cluster/ipv4.js';
import { LabAnnotation } from '../conventions.js';

export const IP_ANNOTATION = LabAnnotation.ip;
const ZTUNNEL_OFFSET = 3;

export class Ipam {
  private readonly cidr: Cidr;
  /** ip → pod uid */
  private readonly owners = new Map<string, string>();

  constructor(podCIDR: string) {
    const c = parseCidr(podCIDR);
    if (!c) throw new AmbitError('IPAM_BAD_CIDR', `bad pod CIDR ${podCIDR}`, { value: podCIDR });
    this.cidr = c;
  }

  gateway(): string {
    return formatIp(this.cidr.base + 1);
  }

  ownerOf(ip: string): string | undefined {
    return this.owners.get(ip);
  }

  /**
   * Allocates for `uid`: `pinned` if given (it must be a free host address of this node's
   * CIDR), else `previous` when still free (a restarted kubelet keeps pods' addresses), else
   * the lowest free one. `taken` holds addresses other pods already report.
   */
  allocate(uid: string, opts: { pinned?: string; previous?: string; taken?: Set<string> }): string {
    for (const [ip, owner] of this.owners) if (owner === uid) return ip;
    const busy = (ip: string) => this.owners.has(ip) || (opts.taken?.has(ip) ?? false);
    if (opts.pinned !== undefined) {
      const n = parseIp(opts.pinned);
      if (n === undefined || !this.isHost(n)) {
        throw new AmbitError(
          'IPAM_BAD_PIN',
          `${IP_ANNOTATION} ${opts.pinned} is not a pod address of ${this.cidr.text}`,
          { value: opts.pinned, hint: `use an address from .2 to the end of ${this.cidr.text}` },
        );
      }
      if (busy(opts.pinned)) {
        throw new AmbitError('IPAM_IN_USE', `pinned address ${opts.pinned} is already in use`, {
          value: opts.pinned,
          hint: `owned by pod ${this.owners.get(opts.pinned) ?? 'another pod'}`,
        });
      }
      this.owners.set(opts.pinned, uid);
      return opts.pinned;
    }
    if (opts.previous !== undefined) {
      const n = parseIp(opts.previous);
      if (n !== undefined && this.isHost(n) && !busy(opts.previous)) {
        this.owners.set(opts.previous, uid);
        return opts.previous;
      }
    }
    for (let off = 2; off < size(this.cidr) - 1; off++) {
      if (off === ZTUNNEL_OFFSET) continue;
      const ip = formatIp(this.cidr.base + off);
      if (!busy(ip)) {
        this.owners.set(ip, uid);
        return ip;
      }
    }
    throw new AmbitError('IPAM_EXHAUSTED', `no free pod address in ${this.cidr.text}`, {
      value: this.cidr.text,
      hint: 'delete some pods on this node',
    });
  }

  release(uid: string): void {
    for (const [ip, owner] of [...this.owners]) if (owner === uid) this.owners.delete(ip);
  }

  private isHost(n: number): boolean {
    return (
      contains(this.cidr, n) && n >= this.cidr.base + 2 && n < this.cidr.base + size(this.cidr) - 1
    );
  }
}
