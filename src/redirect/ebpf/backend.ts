/**
 * The eBPF redirection backend (Istio 1.20's `redirectMode=ebpf`): four tc programs from
 * bpf/ambient_redirect.bpf.c (the sk_assign object, or the mark+TPROXY fallback's object on
 * kernels without bpf_sk_assign, see tproxy-mode.ts), loaded once per node and pinned under
 * /sys/fs/bpf/ambit-<lab>/<node>/, and three maps the agent keeps current. Pods and ztunnel
 * changes are map updates and tc attachments; programs are never reloaded while pinned, so an
 * agent restart (or a new backend instance) meets the same program ids and converges.
 * Operations are serialized like the iptables backend's.
 */
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../../errors.js';
import { createLogger, type Logger } from '../../log.js';
import { repoRoot } from '../../repo.js';
import {
  bpfClassifierHelpers,
  bpfLoadAll,
  bpfMapDelete,
  bpfMapUpdate,
  bpfMapUpdateMany,
  bpfProgInfo,
  bpfUnpin,
  ensureBpffs,
  hostBpfPath,
} from '../../sys/bpf.js';
import { sourceAddressTo, sysctlSet, vethTo } from '../../sys/ip.js';
import { tcpConnections, vethPeerNetns } from '../../sys/netns-probe.js';
import {
  devWithAddress,
  linkInfo,
  tcAttach,
  tcDetach,
  tcFilters,
  type TcBpfFilter,
} from '../../sys/tc.js';
import type { BackendStatus, PodTarget, RedirectBackend, ZtunnelTarget } from '../types.js';
import {
  appInfoValue,
  flowKey,
  ipBytes,
  progsOf,
  TPROXY_MODES,
  u32,
  ZtunnelFlag,
  ztunnelInfoValue,
  ztunnelProg,
  type ProgName,
  type TproxyMode,
} from './maps.js';
import { chooseTproxyMode, noTproxyError, type TproxySetting } from './tproxy-mode.js';
import type { EbpfState } from './state.js';
import { SerialQueue } from '../../serial.js';
import { StateFile } from '../state-file.js';
import {
  assertZtunnelNetns,
  cleanupZtunnelNetnsIfPresent,
  keepCaptureWithoutZtunnel,
  snapshotGlobalSysctls,
} from '../backend-steps.js';
import { cleanupZtunnelNetns, setupZtunnelNetns } from './ztunnel-netns.js';

export interface EbpfBackendOptions {
  /** The node's named netns; undefined = the calling process's own (the agent in the lab). */
  netns?: string;
  stateFile: string;
  /** Where this node's programs and maps are pinned: /sys/fs/bpf/ambit-<lab>/<node>. */
  pinDir: string;
  /** The node's address in its pod CIDR; default: the source address towards the ztunnel. */
  hostIp?: string;
  /** The compiled object (default dist/bpf/ambient_redirect.bpf.o, or _mark for the fallback). */
  object?: string;
  /** sk_assign, the mark+TPROXY fallback, or auto (the kernel's helpers decide); default auto. */
  tproxy?: TproxySetting;
  log?: Logger;
}

export const defaultBpfObject = (mode: TproxyMode = 'sk_assign'): string =>
  join(
    repoRoot(),
    'dist',
    'bpf',
    mode === 'sk_assign' ? 'ambient_redirect.bpf.o' : 'ambient_redirect_mark.bpf.o',
  );

export class EbpfBackend implements RedirectBackend {
  readonly name = 'ebpf';
  private readonly ns: string | undefined;
  private readonly log: Logger;
  private state: EbpfState | undefined;
  private readonly ops = new SerialQueue();
  private readonly file: StateFile<EbpfState>;

  constructor(private readonly opts: EbpfBackendOptions) {
    this.ns = opts.netns;
    this.log = opts.log ?? createLogger('redirect/ebpf');
    this.file = new StateFile(opts.stateFile);
    this.state = this.file.load();
  }

  /** The pin directory as this process reaches the host's bpffs (see hostBpfPath). */
  private get pinDir(): string {
    return hostBpfPath(this.opts.pinDir);
  }

  get progDir(): string {
    return join(this.pinDir, 'progs');
  }

  get mapDir(): string {
    return join(this.pinDir, 'maps');
  }

  prog(name: ProgName): string {
    return join(this.progDir, name);
  }

  map(name: string): string {
    return join(this.mapDir, name);
  }

  status(): BackendStatus {
    return {
      backend: this.name,
      ztunnel: this.state?.ztunnel ?? null,
      hostIp: this.state?.hostIp ?? null,
      details: { pinDir: this.opts.pinDir, tproxy: this.state?.tproxy ?? null },
    };
  }

  setZtunnel(z: ZtunnelTarget | null): Promise<void> {
    return this.ops.run(() => this.doSetZtunnel(z));
  }

  addPod(p: PodTarget): Promise<void> {
    return this.ops.run(() => this.doAddPod(p));
  }

  removePod(ip: string): Promise<void> {
    return this.ops.run(() => this.doRemovePod(ip));
  }

  capturedPods(): Promise<Map<string, string>> {
    const pods = this.state?.pods ?? {};
    return Promise.resolve(new Map(Object.entries(pods).map(([ip, p]) => [ip, p.uid])));
  }

  uninstall(): Promise<void> {
    return this.ops.run(() => this.doUninstall());
  }

  /** The mode whose programs are all pinned (an earlier agent's), if any. */
  private pinnedMode(): TproxyMode | undefined {
    return TPROXY_MODES.find((m) => progsOf(m).every((n) => existsSync(this.prog(n))));
  }

  /**
   * Loads and pins the programs once; a pinned set (earlier agent) is reused as it is, unless
   * a forced mode differs from it (then the other object is loaded and everything re-applied).
   */
  private async ensureLoaded(): Promise<EbpfState> {
    await ensureBpffs();
    const want = this.opts.tproxy ?? 'auto';
    let mode = this.pinnedMode();
    if (!mode || (want !== 'auto' && want !== mode)) {
      bpfUnpin(this.pinDir);
      mode = await this.load(want);
      this.log.info('programs loaded', { pinDir: this.opts.pinDir, tproxy: mode });
      // Pins lost (a reboot, a bpffs gone) or another mode: the record says what was
      // installed, the new maps are empty, so everything is written and attached again.
      if (this.state) {
        this.state.tproxy = mode;
        await this.reapply(this.state);
      }
    }
    if (!this.state) {
      const sysctls = await snapshotGlobalSysctls(this.ns);
      this.state = { preinstall: { sysctls }, ztunnel: null, hostIp: null, pods: {}, tproxy: mode };
      this.file.save(this.state);
    } else if (this.state.tproxy !== mode) {
      this.state.tproxy = mode;
      this.file.save(this.state);
    }
    return this.state;
  }

  /** Loads the object of the mode `want` resolves to on this kernel; returns that mode. */
  private async load(want: TproxySetting): Promise<TproxyMode> {
    const helpers = want === 'mark' ? new Set<string>() : await bpfClassifierHelpers();
    const mode = chooseTproxyMode(want, helpers);
    const object = (m: TproxyMode) => this.opts.object ?? defaultBpfObject(m);
    try {
      await bpfLoadAll(object(mode), this.progDir, this.mapDir);
      return mode;
    } catch (err) {
      // The helper probe failed (unknown kernel) and the sk_assign object did not load.
      if (!(want === 'auto' && mode === 'sk_assign' && helpers.size === 0)) throw err;
      this.log.warn('sk_assign object not loaded; trying the mark+TPROXY fallback', {
        error: errorMessage(err),
      });
    }
    try {
      await bpfLoadAll(object('mark'), this.progDir, this.mapDir);
    } catch (err) {
      throw noTproxyError(`the fallback object did not load either: ${errorMessage(err)}`);
    }
    return 'mark';
  }

  /** The loaded mode (the record's; sk_assign for a record older than the fallback). */
  private get mode(): TproxyMode {
    return this.state?.tproxy ?? this.pinnedMode() ?? 'sk_assign';
  }

  private async reapply(st: EbpfState): Promise<void> {
    st.hostIp = null;
    const pods = Object.entries(st.pods);
    const z = st.ztunnel;
    st.ztunnel = null;
    if (z)
      await this.doSetZtunnel(z).catch((err: unknown) =>
        this.log.warn('ztunnel reapply failed', { error: errorMessage(err) }),
      );
    for (const [ip, p] of pods) {
      delete st.pods[ip];
      await this.doAddPod({ ip, uid: p.uid, hostVeth: p.hostVeth }).catch((err: unknown) =>
        this.log.warn('pod reapply failed', { ip, error: errorMessage(err) }),
      );
    }
  }

  /** Attaches a pinned program unless that very program is attached there already. */
  private async attach(
    netns: string | undefined,
    dev: string,
    hook: 'ingress' | 'egress',
    name: ProgName,
    filters?: TcBpfFilter[],
  ) {
    const want = await bpfProgInfo(this.prog(name));
    const have = filters ?? (await tcFilters(netns, dev));
    if (have.some((f) => f.hook === hook && f.id === want?.id)) return;
    await tcAttach(netns, dev, hook, this.prog(name));
  }

  private async writeZtunnelInfo(): Promise<void> {
    const st = this.state;
    if (!st?.ztunnel || !st.ztunnelLink) return;
    // The trace switch is the map trace_ctl, written by the tracer (src/trace/bpf-record.ts).
    const flag = st.ztunnel.dnsCapture ? ZtunnelFlag.captureDns : 0;
    await bpfMapUpdate(
      this.map('ztunnel_info'),
      u32(0),
      ztunnelInfoValue({
        ifindex: st.ztunnelLink.ifindex,
        mac: st.ztunnelLink.mac,
        flag,
        ip: st.ztunnel.podIp,
      }),
    );
  }

  private async doSetZtunnel(z: ZtunnelTarget | null): Promise<void> {
    const st = await this.ensureLoaded();
    // ztunnel_info stays: app programs keep redirecting to a ztunnel that has no socket,
    // and ztunnel_tproxy drops what nothing takes (fail closed).
    if (!z) return keepCaptureWithoutZtunnel(this.log, 'programs', st.ztunnel);
    assertZtunnelNetns(z);
    const veth = await linkInfo(this.ns, z.hostVeth);
    const eth0 = await devWithAddress(z.netns, z.podIp);
    const inner = eth0 ? await linkInfo(z.netns, eth0) : undefined;
    if (!veth || !eth0 || !inner) {
      throw new AmbitError('REDIRECT_ZTUNNEL_LINKS', `ztunnel ${z.podIp}: veth or eth0 not found`, {
        value: { hostVeth: z.hostVeth, netns: z.netns, eth0 },
        hint: 'the ztunnel pod is still being wired; the agent retries',
      });
    }
    const hostIp = this.opts.hostIp ?? (await sourceAddressTo(this.ns, z.podIp));
    const prev = st.ztunnel;
    if (prev && (prev.hostVeth !== z.hostVeth || prev.netns !== z.netns)) {
      this.log.info('rewiring ztunnel', { ztunnel: z.podIp, previous: prev.podIp });
      await tcDetach(this.ns, prev.hostVeth);
      await cleanupZtunnelNetnsIfPresent(
        prev,
        cleanupZtunnelNetns,
        this.log,
        'old ztunnel netns cleanup',
      );
    }
    // Redirected packets reach ztunnel's veth from another device: no reverse-path drop.
    await sysctlSet(this.ns, {
      'net.ipv4.conf.all.rp_filter': '0',
      [`net.ipv4.conf.${z.hostVeth}.rp_filter`]: '0',
    });
    await setupZtunnelNetns(z.netns, eth0, this.mode);
    await this.attach(z.netns, eth0, 'ingress', ztunnelProg(this.mode));
    await this.attach(this.ns, z.hostVeth, 'ingress', 'ztunnel_host_ingress');
    st.ztunnel = z;
    st.ztunnelLink = { ifindex: veth.ifindex, mac: inner.mac, eth0 };
    if (st.hostIp !== hostIp) {
      await bpfMapUpdate(this.map('host_ip_info'), u32(0), ipBytes(hostIp));
      st.hostIp = hostIp;
    }
    await this.writeZtunnelInfo();
    this.file.save(st);
  }

  private async doAddPod(p: PodTarget): Promise<void> {
    const st = await this.ensureLoaded();
    const hostVeth = p.hostVeth ?? (await vethTo(this.ns, p.ip));
    const link = hostVeth ? await linkInfo(this.ns, hostVeth) : undefined;
    if (!hostVeth || !link) {
      throw new AmbitError('REDIRECT_NO_POD_VETH', `no host veth for pod ${p.ip}`, {
        value: p,
        hint: 'the pod network is not wired yet; the agent retries',
      });
    }
    // The pod's eth0 MAC for ztunnel_host_ingress; without it the program resolves a neighbour.
    const podNs = p.netns ?? (await vethPeerNetns(this.ns, hostVeth));
    const dev = podNs ? await devWithAddress(podNs, p.ip).catch(() => undefined) : undefined;
    const mac = dev && podNs ? (await linkInfo(podNs, dev))?.mac : undefined;
    const had = st.pods[p.ip];
    if (had && had.hostVeth !== hostVeth) await tcDetach(this.ns, had.hostVeth);
    // Map first, then the programs: the pod's replies have somewhere to go from the start.
    await bpfMapUpdate(this.map('app_info'), ipBytes(p.ip), appInfoValue(link.ifindex, mac));
    // Only before the first attach are the pod's sockets all direct: once its programs run,
    // its new connections are ztunnel's and must not be remembered as open before capture.
    const filters = await tcFilters(this.ns, hostVeth);
    if (!filters.some((f) => f.hook === 'ingress')) await this.rememberOpenConnections(p.ip, podNs);
    await this.attach(this.ns, hostVeth, 'egress', 'app_inbound', filters);
    await this.attach(this.ns, hostVeth, 'ingress', 'app_outbound', filters);
    if (had?.uid !== p.uid || had.hostVeth !== hostVeth) {
      st.pods[p.ip] = { uid: p.uid, hostVeth };
      this.file.save(st);
    }
  }

  /**
   * Writes the pod's open TCP connections into `precapture`, so that its programs keep them
   * off ztunnel (which has no socket for them) for their life. A connection opened in the
   * milliseconds between this read and the attach is still redirected mid-stream.
   */
  private async rememberOpenConnections(ip: string, podNs: string | undefined): Promise<void> {
    const pin = this.map('precapture');
    if (!podNs || !existsSync(pin)) {
      this.log.warn('open connections not kept off ztunnel', {
        pod: ip,
        reason: !podNs ? "the pod's netns is unknown" : 'the pinned programs predate precapture',
      });
      return;
    }
    const open = (await tcpConnections(podNs)).filter((c) => c.local.ip === ip);
    const one = u32(1);
    await bpfMapUpdateMany(
      pin,
      open.map((c) => ({
        key: flowKey({
          podIp: ip,
          podPort: c.local.port,
          peerIp: c.peer.ip,
          peerPort: c.peer.port,
        }),
        value: one,
      })),
    );
    if (open.length > 0)
      this.log.info('open connections kept off ztunnel', { pod: ip, count: open.length });
  }

  private async doRemovePod(ip: string): Promise<void> {
    const st = this.state;
    const had = st?.pods[ip];
    if (!st || !had) return;
    await tcDetach(this.ns, had.hostVeth);
    await bpfMapDelete(this.map('app_info'), ipBytes(ip));
    delete st.pods[ip];
    this.file.save(st);
  }

  private async doUninstall(): Promise<void> {
    const st = this.state ?? this.file.load();
    for (const p of Object.values(st?.pods ?? {})) await tcDetach(this.ns, p.hostVeth);
    const z = st?.ztunnel;
    if (z) {
      await tcDetach(this.ns, z.hostVeth);
      await cleanupZtunnelNetnsIfPresent(z, cleanupZtunnelNetns, this.log, 'ztunnel netns cleanup');
    }
    if (st) await sysctlSet(this.ns, st.preinstall.sysctls);
    bpfUnpin(this.pinDir);
    // The per-lab directory goes with its last node.
    const labDir = join(this.pinDir, '..');
    if (existsSync(labDir) && readdirSync(labDir).length === 0) rmdirSync(labDir);
    this.state = undefined;
    this.file.drop();
  }
}
