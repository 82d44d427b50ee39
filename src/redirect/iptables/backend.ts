/**
 * The iptables redirection backend (Istio 1.18–1.20's default): ipset + mangle/nat chains +
 * policy routing + GENEVE/VXLAN tunnels on the node, TPROXY in the ztunnel pod.
 * Operations are serialized: the agent's informers and CNI plugin calls may arrive together.
 */
import { createLogger, type Logger } from '../../log.js';
import { dropEmptyTable, iptablesTables } from '../../sys/iptables.js';
import { ipsetAdd, ipsetCreate, ipsetDel, ipsetMembers } from '../../sys/ipset.js';
import { linkExists, routeDelete, routeReplace, sourceAddressTo, sysctlSet } from '../../sys/ip.js';
import { tunnelInfo, tunnelKind, tunnelPortsInUse, type TunnelKind } from '../../sys/tunnel.js';
import {
  InboundTun,
  IPSET_NAME,
  OutboundTun,
  RouteTable,
  TunnelDefaultPort,
} from '../constants.js';
import type { BackendStatus, PodTarget, RedirectBackend, ZtunnelTarget } from '../types.js';
import { cleanupNode, createNodeRules } from './node-side.js';
import { hostRoutes, podRoute } from './render.js';
import type { PersistedState } from './state.js';
import { SerialQueue } from '../../serial.js';
import { StateFile } from '../state-file.js';
import {
  assertZtunnelNetns,
  cleanupZtunnelNetnsIfPresent,
  keepCaptureWithoutZtunnel,
  snapshotGlobalSysctls,
} from '../backend-steps.js';
import { holdRoutes, parseRouteLine, pruneRoutes, type NodeTunnels } from './tunnels.js';
import { cleanupZtunnel, createZtunnelRules } from './ztunnel-side.js';

export interface IptablesBackendOptions {
  /** The node's named netns; undefined = the calling process's own (the agent in the lab). */
  netns?: string;
  /** Persisted state (pre-install snapshot, last ztunnel), for restarts and uninstall. */
  stateFile: string;
  /** The node's address in its pod CIDR; default: the source address towards the ztunnel. */
  hostIp?: string;
  /** Force a tunnel kind (default: GENEVE if the kernel has it, else VXLAN). */
  tunnelKind?: TunnelKind;
  log?: Logger;
}

export class IptablesBackend implements RedirectBackend {
  readonly name = 'iptables';
  private readonly ns: string | undefined;
  private readonly log: Logger;
  private state: PersistedState | undefined;
  private readonly pods = new Map<string, PodTarget>();
  private readonly ops = new SerialQueue();
  private readonly file: StateFile<PersistedState>;

  constructor(private readonly opts: IptablesBackendOptions) {
    this.ns = opts.netns;
    this.log = opts.log ?? createLogger('redirect/iptables');
    this.file = new StateFile(opts.stateFile);
    this.state = this.file.load();
  }

  status(): BackendStatus {
    return {
      backend: this.name,
      ztunnel: this.state?.ztunnel ?? null,
      hostIp: this.state?.hostIp ?? null,
      details: { tunnel: this.state?.tunnel ?? null },
    };
  }

  setZtunnel(z: ZtunnelTarget | null): Promise<void> {
    return this.ops.run(() => this.doSetZtunnel(z));
  }

  addPod(p: PodTarget): Promise<void> {
    return this.ops.run(() => this.doAddPod(p));
  }

  removePod(ip: string): Promise<void> {
    return this.ops.run(async () => {
      this.pods.delete(ip);
      await ipsetDel(this.ns, IPSET_NAME, ip);
      await routeDelete(this.ns, RouteTable.inbound, `${ip}/32`);
      if (this.state?.pods?.[ip] !== undefined) {
        delete this.state.pods[ip];
        this.file.save(this.state);
      }
    });
  }

  /** From the persisted record (the kernel is written first, the record after). */
  capturedPods(): Promise<Map<string, string>> {
    return Promise.resolve(new Map(Object.entries(this.state?.pods ?? {})));
  }

  uninstall(): Promise<void> {
    return this.ops.run(() => this.doUninstall());
  }

  /** Snapshots what uninstall must restore, once, before the first change. */
  private async ensurePreinstall(): Promise<PersistedState> {
    if (this.state) return this.state;
    const sysctls = await snapshotGlobalSysctls(this.ns);
    this.state = {
      preinstall: { tables: await iptablesTables(this.ns), sysctls },
      ztunnel: null,
      hostIp: null,
      tunnel: null,
      pods: {},
    };
    this.file.save(this.state);
    return this.state;
  }

  private async doSetZtunnel(z: ZtunnelTarget | null): Promise<void> {
    const st = await this.ensurePreinstall();
    if (!z) return keepCaptureWithoutZtunnel(this.log, 'capture rules', st.ztunnel);
    assertZtunnelNetns(z);
    const hostIp = this.opts.hostIp ?? (await sourceAddressTo(this.ns, z.podIp));
    const prev = st.ztunnel;
    const rewire =
      !prev ||
      prev.podIp !== z.podIp ||
      prev.hostVeth !== z.hostVeth ||
      prev.netns !== z.netns ||
      st.hostIp !== hostIp;
    // The captured pods, re-added after a rewire (a set left by an older agent may lack some).
    for (const [ip, uid] of await this.capturedPods()) {
      if (!this.pods.has(ip)) this.pods.set(ip, { ip, uid });
    }
    // State files from before the record: the ipset comments held the uids.
    if (!st.pods) {
      st.pods = {};
      for (const [ip, uid] of (await ipsetMembers(this.ns, IPSET_NAME)) ?? []) {
        if (!this.pods.has(ip)) this.pods.set(ip, { ip, uid });
      }
    }
    const tun = await this.chooseTunnel(rewire);
    if (rewire) {
      this.log.info('wiring ztunnel', {
        ztunnel: z.podIp,
        veth: z.hostVeth,
        previous: prev?.podIp,
      });
      // Nothing is torn down first: the chains are swapped in one iptables-restore, the ip
      // rules and the ipset stay (rules over an emptied set would take a pod's new connections
      // for ones between uncaptured ends, connmark 0x80, off ztunnel for life), and the routes
      // are held as blackholes while the tunnels move (holdRoutes).
      await holdRoutes(this.ns);
      if (prev && prev.netns !== z.netns)
        await cleanupZtunnelNetnsIfPresent(
          prev,
          cleanupZtunnel,
          this.log,
          'old ztunnel netns cleanup',
        );
    }
    const params = {
      zveth: z.hostVeth,
      zIp: z.podIp,
      hostIp,
      tunnelPort: tun.port,
      dnsCapture: z.dnsCapture,
    };
    await createNodeRules(this.ns, params, tun);
    await createZtunnelRules(z.netns, z.podIp, hostIp, tun, rewire);
    st.ztunnel = z;
    st.hostIp = hostIp;
    st.tunnel = tun;
    this.file.save(st);
    for (const p of this.pods.values()) await this.doAddPod(p);
    if (rewire) await pruneRoutes(this.ns, this.wiredRoutes(z, hostIp));
  }

  /** Table → destinations of the routes the node holds once `z` is wired and pods re-added. */
  private wiredRoutes(z: ZtunnelTarget, hostIp: string): Map<number, Set<string>> {
    const keep = new Map<number, Set<string>>();
    const routes = [...hostRoutes(z.hostVeth, z.podIp)];
    for (const p of this.pods.values()) routes.push(podRoute(p.ip, hostIp));
    for (const r of routes) {
      const dst = parseRouteLine(r.listing)?.dst;
      if (!dst) continue;
      const set = keep.get(r.table) ?? new Set<string>();
      set.add(dst);
      keep.set(r.table, set);
    }
    return keep;
  }

  /** GENEVE (Istio's 6081) or VXLAN (4789), moved past ports other tunnels use (#45831). */
  private async chooseTunnel(rewire: boolean): Promise<NodeTunnels> {
    const kind = this.opts.tunnelKind ?? (await tunnelKind(this.ns));
    const current = await tunnelInfo(this.ns, InboundTun.hostDev);
    if (!rewire && current?.kind === kind && current.port > 0) return { kind, port: current.port };
    const used = await tunnelPortsInUse(this.ns, kind, [InboundTun.hostDev, OutboundTun.hostDev]);
    let port: number = TunnelDefaultPort[kind];
    while (used.has(port)) port++;
    return { kind, port };
  }

  private async doAddPod(p: PodTarget): Promise<void> {
    await this.ensurePreinstall();
    this.pods.set(p.ip, p);
    await ipsetCreate(this.ns, IPSET_NAME);
    const members = await ipsetMembers(this.ns, IPSET_NAME);
    const had = members?.get(p.ip);
    if (had !== undefined && had !== p.uid) await ipsetDel(this.ns, IPSET_NAME, p.ip);
    if (had !== p.uid) await ipsetAdd(this.ns, IPSET_NAME, p.ip, p.uid);
    const hostIp = this.state?.hostIp;
    // Before any ztunnel was wired there is no istioin: the route follows in setZtunnel.
    if (hostIp && (await linkExists(this.ns, InboundTun.hostDev))) {
      const r = podRoute(p.ip, hostIp);
      await routeReplace(this.ns, r.table, r.args);
    }
    if (p.hostVeth) {
      await sysctlSet(
        this.ns,
        { [`net.ipv4.conf.${p.hostVeth}.rp_filter`]: '0' },
        { allowFail: true },
      );
    }
    const st = this.state!;
    st.pods ??= {};
    if (st.pods[p.ip] !== p.uid) {
      st.pods[p.ip] = p.uid;
      this.file.save(st);
    }
  }

  private async doUninstall(): Promise<void> {
    const st = this.state ?? this.file.load();
    await cleanupNode(this.ns);
    const z = st?.ztunnel;
    if (z) await cleanupZtunnelNetnsIfPresent(z, cleanupZtunnel, this.log, 'ztunnel netns cleanup');
    if (st) {
      await sysctlSet(this.ns, st.preinstall.sysctls, { allowFail: true });
      // iptables-nft creates a table on first use: drop the ones we created, if left empty.
      for (const t of ['raw', 'mangle', 'nat', 'filter']) {
        if (!st.preinstall.tables.includes(t)) await dropEmptyTable(this.ns, t);
      }
    }
    this.pods.clear();
    this.state = undefined;
    this.file.drop();
  }
}
