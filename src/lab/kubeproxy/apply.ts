/**
 * Applies rendered kube-proxy rules to the kernel: one atomic `iptables-restore --noflush` per
 * change, and conntrack clean-up for UDP services (a stale entry would keep sending DNS queries
 * to a dead endpoint or nowhere, as kube-proxy's own clean-up prevents).
 */
import { run } from '../../sys/exec.js';
import { iptablesRestore, iptablesSave } from '../../sys/iptables.js';
import type { Logger } from '../../log.js';
import { parseSave, planRestore, type ProxyRules, type ServicePortRules } from './render.js';

export interface ApplyResult {
  applied: boolean;
  /** The restore input when applied. */
  text?: string;
  conntrackFlushed: string[];
}

export class RuleApplier {
  private last: string | undefined;
  private lastPorts = new Map<string, ServicePortRules>();

  constructor(private readonly opts: { netns?: string; log?: Logger } = {}) {}

  /**
   * Applies `rules` unless they equal the last applied ones and the kernel still has our jumps
   * and chains (a periodic call repairs what someone else removed).
   */
  async apply(rules: ProxyRules, force = false): Promise<ApplyResult> {
    const key = JSON.stringify([rules.nat, rules.filter]);
    const saved = parseSave(await iptablesSave(this.opts.netns));
    const plan = planRestore(rules, saved);
    const drift = plan.jumpsAdded.length > 0 || plan.stale.length > 0 || plan.missing.length > 0;
    if (!force && key === this.last && !drift) return { applied: false, conntrackFlushed: [] };
    await iptablesRestore(this.opts.netns, plan.text);
    this.last = key;
    const flushed = await this.cleanConntrack(rules.ports);
    this.opts.log?.info('rules applied', {
      servicePorts: rules.ports.length,
      natRules: rules.nat.rules.length,
      jumpsAdded: plan.jumpsAdded.length || undefined,
      staleChains: plan.stale.length || undefined,
      conntrackFlushed: flushed.length || undefined,
    });
    return { applied: true, text: plan.text, conntrackFlushed: flushed };
  }

  private async cleanConntrack(ports: ServicePortRules[]): Promise<string[]> {
    const flushed: string[] = [];
    const now = new Map(ports.map((p) => [`${p.spn}/${p.protocol}`, p]));
    for (const [k, p] of now) {
      if (p.protocol !== 'UDP') continue;
      const before = this.lastPorts.get(k);
      const args: string[][] = [];
      if (!before || before.endpoints.length === 0) {
        if (p.endpoints.length > 0)
          args.push([
            '-D',
            '-p',
            'udp',
            '--orig-dst',
            p.clusterIP,
            '--orig-port-dst',
            String(p.port),
          ]);
      } else {
        for (const ep of before.endpoints) {
          if (p.endpoints.includes(ep)) continue;
          const ip = ep.slice(0, ep.lastIndexOf(':'));
          args.push(['-D', '-p', 'udp', '--orig-dst', p.clusterIP, '--dst-nat', ip]);
        }
      }
      for (const a of args) {
        // Exit 1 means "no entry matched": nothing to clean, not an error.
        const r = await run('conntrack', a, { netns: this.opts.netns, allowFail: true });
        if (r.code === 0) flushed.push(a.join(' '));
      }
    }
    this.lastPorts = now;
    return flushed;
  }
}
