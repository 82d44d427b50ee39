/**
 * Istio 1.18–1.20's node-level redirection constants (cni/pkg/ambient/constants/constants.go),
 * kept with Istio's names so rule listings read the same as the seeds'.
 */
export const IPSET_NAME = 'ztunnel-pods-ips';

/** Marks as `value/mask` (all masks equal their value, as in Istio). */
export const Mark = {
  /** Send to ztunnel through istioout. */
  outbound: '0x100/0x100',
  /** Route by the main table. */
  skip: '0x200/0x200',
  /** Skip, and saved to the connmark so the whole connection skips. */
  connSkip: '0x220/0x220',
  /** ztunnel traffic with a spoofed (original) source; contains the skip bit. */
  proxy: '0x210/0x210',
  /** Replies to ztunnel's spoofed-source connections: back to ztunnel through table 102. */
  proxyRet: '0x40/0x40',
  /**
   * Connmark (ambit's, not Istio 1.20's): a TCP connection that began while neither end was
   * captured. It skips capture for its whole life, so enrolling a pod does not strand the
   * connections it already has (render.ts).
   */
  preCapture: '0x80/0x80',
} as const;

export const InboundTun = {
  hostDev: 'istioin',
  ztunnelDev: 'pistioin',
  vni: 1000,
  hostIp: '192.168.126.1',
  ztunnelIp: '192.168.126.2',
} as const;

export const OutboundTun = {
  hostDev: 'istioout',
  ztunnelDev: 'pistioout',
  vni: 1001,
  hostIp: '192.168.127.1',
  ztunnelIp: '192.168.127.2',
} as const;

export const TUN_PREFIX = 30;

export const RouteTable = { inbound: 100, outbound: 101, proxy: 102 } as const;

// Ports: src/api/ports.ts (Istio's names; its `inbound` is HBONE 15008, not 15006).

/** Inside the ztunnel netns: the TPROXY mark and the original-source return mark. */
export const ZtunnelMark = { tproxy: '0x400/0xfff', origSrcReturn: '0x4d3/0xfff' } as const;

/** Default UDP ports of the two tunnel kinds; GENEVE is Istio's, VXLAN is our fallback. */
export const TunnelDefaultPort = { geneve: 6081, vxlan: 4789 } as const;
export type TunnelKind = keyof typeof TunnelDefaultPort;

/** Annotations and labels the agent reads or writes. */
export const Annot = {
  redirection: 'ambient.istio.io/redirection',
  sidecarStatus: 'sidecar.istio.io/status',
} as const;
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
