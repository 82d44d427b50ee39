/**
 * The cluster's Service range (`serviceCIDR` of the cluster file), as the API server's
 * ClusterIP allocator and the kubelet see it: the `kubernetes` Service takes the first host
 * address, as on a real cluster, and other addresses are validated against and allocated
 * from the range (network and broadcast addresses excluded).
 */
import { AmbitError } from '../../errors.js';
import { contains, formatIp, nth, parseCidr, parseIp, size, type Cidr } from './ipv4.js';

export class ServiceRange {
  private readonly cidr: Cidr;

  constructor(text: string) {
    const c = parseCidr(text);
    if (!c || c.prefix > 30) {
      throw new AmbitError('LAB_BAD_CLUSTER', `serviceCIDR ${JSON.stringify(text)} is not usable`, {
        value: text,
        hint: 'an IPv4 CIDR of /30 or larger with host bits zero, like 10.96.0.0/16',
      });
    }
    this.cidr = c;
  }

  get text(): string {
    return this.cidr.text;
  }

  /** The `kubernetes` Service's ClusterIP: the range's first host address. */
  get kubernetesIP(): string {
    return nth(this.cidr, 1);
  }

  /** A host address of the range (not the network or broadcast address). */
  contains(ip: string): boolean {
    const n = parseIp(ip);
    if (n === undefined || !contains(this.cidr, n)) return false;
    const off = n - this.cidr.base;
    return off > 0 && off < size(this.cidr) - 1;
  }

  /**
   * A free address. Dynamic ones come from above the first /24 (or the upper half of a
   * smaller range) so that the low band stays for pinned ones (cluster DNS .10, the seeds'
   * httpbin .105), as Kubernetes reserves a static band; the low band is the fallback.
   */
  allocate(taken: ReadonlySet<string>): string | undefined {
    const total = size(this.cidr);
    const low = total > 512 ? 256 : Math.floor(total / 2);
    const pick = (from: number, to: number): string | undefined => {
      for (let off = from; off < to; off++) {
        const ip = formatIp((this.cidr.base + off) >>> 0);
        if ((total <= 256 || (off % 256 !== 0 && off % 256 !== 255)) && !taken.has(ip)) return ip;
      }
      return undefined;
    };
    return pick(low + 1, total - 1) ?? pick(2, low + 1);
  }
}

/** The default lab's range (`defaultCluster().serviceCIDR`). */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
