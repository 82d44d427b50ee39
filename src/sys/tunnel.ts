/**
 * The point-to-point tunnels between a node and its ztunnel pod. Istio uses GENEVE; kernels
 * without it get VXLAN with the same ids, addresses and remotes, chosen at run time.
 */
import { AmbitError } from '../errors.js';
import { out, run } from './exec.js';

export type TunnelKind = 'geneve' | 'vxlan';

let probed: TunnelKind | undefined;

/** GENEVE if this kernel can create it (probed once in `netns`), else VXLAN. */
export async function tunnelKind(netns: string | undefined): Promise<TunnelKind> {
  if (probed) return probed;
  const name = `ambprobe${process.pid % 10000}`;
  const r = await run(
    'ip',
    ['link', 'add', name, 'type', 'geneve', 'id', '1', 'remote', '127.0.0.1'],
    { netns, allowFail: true },
  );
  if (r.code === 0) {
    await run('ip', ['link', 'del', name], { netns, allowFail: true });
    probed = 'geneve';
  } else {
    probed = 'vxlan';
  }
  return probed;
}

export interface TunnelSpec {
  kind: TunnelKind;
  dev: string;
  vni: number;
  remote: string;
  port: number;
}

/** UDP ports used by other tunnel devices of `kind` in `netns` (not in `except`). */
export async function tunnelPortsInUse(
  netns: string | undefined,
  kind: TunnelKind,
  except: string[],
): Promise<Set<number>> {
  const text = await out('ip', ['-d', '-j', 'link', 'show', 'type', kind], { netns });
  const used = new Set<number>();
  const links = JSON.parse(text || '[]') as {
    ifname: string;
    linkinfo?: { info_data?: { port?: number } };
  }[];
  for (const l of links) {
    const port = l.linkinfo?.info_data?.port;
    if (!except.includes(l.ifname) && port) used.add(port);
  }
  return used;
}

/** What `ip -d link show` says about `dev`, or undefined if absent. */
export async function tunnelInfo(
  netns: string | undefined,
  dev: string,
): Promise<{ kind: string; vni: number; remote: string; port: number } | undefined> {
  const r = await run('ip', ['-d', '-j', 'link', 'show', 'dev', dev], { netns, allowFail: true });
  if (r.code !== 0) return undefined;
  const [l] = JSON.parse(r.stdout) as {
    linkinfo?: {
      info_kind?: string;
      info_data?: { id?: number; remote?: string; port?: number };
    };
  }[];
  const d = l?.linkinfo?.info_data;
  return {
    kind: l?.linkinfo?.info_kind ?? '',
    vni: d?.id ?? -1,
    remote: d?.remote ?? '',
    port: d?.port ?? -1,
  };
}

/** Creates `spec.dev` (replacing a different one of that name); leaves an identical one alone. */
export async function tunnelEnsure(netns: string | undefined, spec: TunnelSpec): Promise<boolean> {
  const now = await tunnelInfo(netns, spec.dev);
  if (
    now &&
    now.kind === spec.kind &&
    now.vni === spec.vni &&
    now.remote === spec.remote &&
    now.port === spec.port
  ) {
    return false;
  }
  if (now) await run('ip', ['link', 'del', 'dev', spec.dev], { netns });
  const args = ['link', 'add', spec.dev, 'type', spec.kind, 'id', String(spec.vni)];
  args.push('remote', spec.remote, 'dstport', String(spec.port));
  const r = await run('ip', args, { netns, allowFail: true });
  if (r.code !== 0) {
    throw new AmbitError(
      'TUNNEL_CREATE_FAILED',
      `cannot create ${spec.kind} ${spec.dev}: ${r.stderr.trim()}`,
      {
        value: spec,
        hint: 'check that the kernel has the module and the UDP port is free',
      },
    );
  }
  return true;
}
