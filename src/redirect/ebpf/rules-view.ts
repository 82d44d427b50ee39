/**
 * `ambit node rules` for a node on the eBPF backend: the programs attached per device (read
 * from tc, with their kernel ids), the pinned maps' contents and the per-program counters, in
 * the seeds' `=== … ===` style. Everything printed is read from the kernel and the pins.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bpfMapDump, hostBpfPath } from '../../sys/bpf.js';
import { run } from '../../sys/exec.js';
import { tcFilters } from '../../sys/tc.js';
import {
  decodeAppInfo,
  decodeCounters,
  decodeFlowKey,
  decodeZtunnelInfo,
  ipString,
  progByKernelName,
  ZtunnelFlag,
} from './maps.js';
import { MARK_CHAIN } from './ztunnel-netns.js';

/** A node may hold thousands of old connections; the listing shows the first ones. */
const SHOWN_FLOWS = 32;

async function devices(netns: string | undefined): Promise<{ ifname: string; ifindex: number }[]> {
  const r = await run('ip', ['-j', 'link', 'show'], { netns, allowFail: true });
  return r.code === 0 ? (JSON.parse(r.stdout) as { ifname: string; ifindex: number }[]) : [];
}

async function programs(netns: string | undefined, where: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await devices(netns)) {
    for (const f of await tcFilters(netns, d.ifname)) {
      const name = progByKernelName(f.name) ?? f.name;
      out.push(
        `    ${where} tc ${f.hook} ${d.ifname} (ifindex ${d.ifindex}): ${name} id ${f.id} tag ${f.tag}`,
      );
    }
  }
  return out;
}

export async function ebpfRulesReport(
  nodeNetns: string,
  pinDir: string,
  ztunnelNetns: string | undefined,
): Promise<string> {
  const out: string[] = ['=== eBPF programs (tc, direct-action) ==='];
  out.push(...(await programs(nodeNetns, 'node')));
  if (ztunnelNetns) out.push(...(await programs(ztunnelNetns, 'ztunnel')));
  const maps = join(hostBpfPath(pinDir), 'maps');
  if (!existsSync(maps)) {
    out.push(`=== maps ===\n    (nothing pinned at ${pinDir})`);
    return out.join('\n') + '\n';
  }
  out.push(`=== map app_info (${join(maps, 'app_info')}) ===`);
  for (const e of await bpfMapDump(join(maps, 'app_info'))) {
    const v = decodeAppInfo(e.values[0]!);
    out.push(`    ${ipString(e.key)} → host veth ifindex ${v.ifindex}, pod MAC ${v.mac}`);
  }
  const precapture = join(maps, 'precapture');
  if (existsSync(precapture)) {
    const flows = await bpfMapDump(precapture);
    out.push('=== map precapture (TCP open before capture: kept off ztunnel) ===');
    for (const e of flows.slice(0, SHOWN_FLOWS)) {
      const f = decodeFlowKey(e.key);
      out.push(`    pod ${f.podIp}:${f.podPort} ↔ ${f.peerIp}:${f.peerPort}`);
    }
    if (flows.length > SHOWN_FLOWS) out.push(`    … and ${flows.length - SHOWN_FLOWS} more`);
  }
  out.push('=== map ztunnel_info ===');
  for (const e of await bpfMapDump(join(maps, 'ztunnel_info'))) {
    const z = decodeZtunnelInfo(e.values[0]!);
    const flags = [z.flag & ZtunnelFlag.captureDns ? 'CAPTURE_DNS' : ''].filter(Boolean);
    out.push(
      z.ifindex === 0
        ? '    (no ztunnel: captured traffic is dropped)'
        : `    ztunnel ${z.ip}: host veth ifindex ${z.ifindex}, eth0 MAC ${z.mac}, flags ${flags.join('|') || '0'}`,
    );
  }
  out.push('=== map host_ip_info ===');
  const [h] = await bpfMapDump(join(maps, 'host_ip_info'));
  if (h) out.push(`    host IP ${ipString(h.values[0]!)} (probes from it pass)`);
  out.push('=== counters (packets) ===');
  for (const [k, n] of decodeCounters(await bpfMapDump(join(maps, 'counters')))) {
    out.push(`    ${k.padEnd(32)} ${n}`);
  }
  if (ztunnelNetns) {
    const r = await run('ip', ['rule', 'show', 'priority', '20000'], {
      netns: ztunnelNetns,
      allowFail: true,
    });
    out.push('=== ztunnel netns: ip rule 20000, table 100 ===', `    ${r.stdout.trim()}`);
    const t = await run('ip', ['route', 'show', 'table', '100'], {
      netns: ztunnelNetns,
      allowFail: true,
    });
    out.push(`    ${t.stdout.trim()}`);
    // The mark+TPROXY fallback's rules, when the node runs it (ztunnel_ingress on eth0).
    const saved = await run('iptables-save', ['-t', 'mangle', '-c'], {
      netns: ztunnelNetns,
      allowFail: true,
    });
    const mark = saved.stdout.split('\n').filter((l) => l.includes(MARK_CHAIN));
    if (mark.length > 0) {
      const bh = await run('ip', ['rule', 'show'], { netns: ztunnelNetns, allowFail: true });
      out.push(
        '=== ztunnel netns: mark+TPROXY fallback (mangle, [packets:bytes]) ===',
        ...mark.map((l) => `    ${l}`),
        ...bh.stdout
          .split('\n')
          .filter((l) => /^2000[12]:/.test(l))
          .map((l) => `    ${l}`),
      );
    }
  }
  return out.join('\n') + '\n';
}
