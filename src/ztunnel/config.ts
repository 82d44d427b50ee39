/**
 * ztunnel configuration from the environment (as the kubelet sets it in the ztunnel pod),
 * validated up front so a bad value stops the process with a clear error instead of failing
 * later on a connection.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { AmbitError } from '../errors.js';
import { HBONE_PORT, Port } from '../api/ports.js';

export interface ZtunnelPorts {
  outbound: number;
  inboundPlaintext: number;
  inbound: number;
  dns: number;
  admin: number;
  metrics: number;
  readiness: number;
}

export interface ZtunnelConfig {
  podName: string;
  podNamespace: string;
  nodeName: string;
  /** This ztunnel pod's IP. */
  instanceIp: string;
  clusterId: string;
  trustDomain: string;
  xdsAddress: string;
  caAddress: string;
  /** PEM root the control plane's serving cert chains to (also the mesh root). */
  rootCa: string;
  tokenFile?: string;
  dnsCapture: boolean;
  ports: ZtunnelPorts;
  /** Where the proxy listeners bind (TPROXY targets `--on-ip 127.0.0.1`). */
  listenHost: string;
  /** Where the HBONE listener binds when not listenHost (direct tests: the pod IP). */
  inboundHost?: string;
  /** `ip` or `ip:port` of the resolver for non-mesh names (default: /etc/resolv.conf). */
  dnsUpstream?: string;
  /**
   * Where the DNS proxy binds: the node agent DNATs pods' port 53 to `<ztunnel pod IP>:15053`,
   * so it must take traffic addressed to the pod IP, not only loopback.
   */
  dnsHost: string;
  /** Bind address for metrics/readiness. */
  statsHost: string;
  /** Listeners with IP_TRANSPARENT (needs CAP_NET_ADMIN; off only in direct tests). */
  transparent: boolean;
  /**
   * How the inbound side makes the app see the real client: `transparent` (IP_TRANSPARENT
   * bind, production) or `bind` (plain bind to the client IP, works only where the address is
   * local, e.g. 127/8 in direct tests).
   */
  spoof: 'transparent' | 'bind';
  /** The port every HBONE peer listens on. */
  hbonePort: number;
  drainDeadlineMs: number;
  /** Longest wait for the first xDS state before a captured connection is refused. */
  stateWaitMs: number;
  /** Lifetime asked of the CA for workload certificates (`SECRET_TTL`, Istio's; 24 h). */
  secretTtlSeconds?: number;
}

export const DEFAULT_PORTS: ZtunnelPorts = {
  outbound: Port.outbound,
  inboundPlaintext: Port.inboundPlaintext,
  inbound: Port.inbound,
  dns: Port.dns,
  admin: Port.admin,
  metrics: Port.metrics,
  readiness: Port.readiness,
};

export { ILLEGAL_PORTS } from '../api/ports.js';

function need(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) {
    throw new AmbitError('ZTUNNEL_CONFIG_MISSING', `environment variable ${name} is not set`, {
      value: name,
      hint: 'the kubelet sets it in the ztunnel pod; set it by hand when running ztunnel outside one',
    });
  }
  return v;
}

function port(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new AmbitError('ZTUNNEL_CONFIG_BAD_PORT', `${name} is not a port: ${raw}`, {
      value: raw,
      hint: 'use an integer 0-65535',
    });
  }
  return n;
}

function bool(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return dflt;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new AmbitError('ZTUNNEL_CONFIG_BAD_BOOL', `${name} is not a boolean: ${raw}`, {
    value: raw,
    hint: 'use true or false',
  });
}

/** `SECRET_TTL` as Istio writes durations (`90s`, `30m`, `24h`); 24 h when unset. */
function secretTtl(env: NodeJS.ProcessEnv): number {
  const raw = env.SECRET_TTL;
  if (!raw) return 24 * 3600;
  const m = /^(\d+)(s|m|h)$/.exec(raw);
  const n = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] : NaN;
  if (!(n > 0))
    throw new AmbitError('ZTUNNEL_CONFIG_BAD_DURATION', `SECRET_TTL: ${raw}`, {
      value: raw,
      hint: 'use e.g. 24h, 30m or 120s (the CA backdates certificates by 60 s, so keep it above 2m for a useful half-life)',
    });
  return n;
}

/** `TERMINATION_GRACE_PERIOD_SECONDS` → deadline, as ztunnel derives it (−5 s, or −1 s when ≤ 10 s). */
function drainDeadline(env: NodeJS.ProcessEnv): number {
  const explicit = env.CONNECTION_TERMINATION_DEADLINE;
  if (explicit) {
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(explicit);
    if (!m) {
      throw new AmbitError(
        'ZTUNNEL_CONFIG_BAD_DURATION',
        `CONNECTION_TERMINATION_DEADLINE: ${explicit}`,
        {
          value: explicit,
          hint: 'use e.g. 5s or 500ms',
        },
      );
    }
    return Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
  }
  const grace = env.TERMINATION_GRACE_PERIOD_SECONDS;
  if (grace && /^\d+$/.test(grace)) {
    const g = Number(grace);
    return Math.max(0, g <= 10 ? g - 1 : g - 5) * 1000;
  }
  return 5000;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ZtunnelConfig {
  const instanceIp = need(env, 'INSTANCE_IP');
  if (!net.isIPv4(instanceIp)) {
    throw new AmbitError(
      'ZTUNNEL_CONFIG_BAD_IP',
      `INSTANCE_IP is not an IPv4 address: ${instanceIp}`,
      {
        value: instanceIp,
      },
    );
  }
  let rootCa = '';
  const rootFile =
    env.CA_ROOT_CA ??
    (env.AMBIT_VOLUME_ISTIO_CA_ROOT_CERT
      ? `${env.AMBIT_VOLUME_ISTIO_CA_ROOT_CERT}/root-cert.pem`
      : undefined);
  if (!rootFile) {
    throw new AmbitError('ZTUNNEL_CONFIG_MISSING', 'no root certificate configured', {
      value: 'AMBIT_VOLUME_ISTIO_CA_ROOT_CERT',
      hint: 'mount ConfigMap istio-ca-root-cert (env AMBIT_VOLUME_ISTIO_CA_ROOT_CERT) or set CA_ROOT_CA',
    });
  }
  try {
    rootCa = readFileSync(rootFile, 'utf8');
  } catch (err) {
    throw new AmbitError('ZTUNNEL_CONFIG_ROOT_CERT', `cannot read root certificate ${rootFile}`, {
      value: rootFile,
      hint: 'the control plane publishes ConfigMap istio-ca-root-cert; is it running?',
      cause: err,
    });
  }
  if (!rootCa.includes('BEGIN CERTIFICATE')) {
    throw new AmbitError('ZTUNNEL_CONFIG_ROOT_CERT', `${rootFile} holds no PEM certificate`, {
      value: rootFile,
    });
  }
  const xdsAddress = env.XDS_ADDRESS || `istiod.istio-system.svc:${Port.xds}`;
  const ports: ZtunnelPorts = {
    outbound: port(env, 'OUTBOUND_PORT', DEFAULT_PORTS.outbound),
    inboundPlaintext: port(env, 'INBOUND_PLAINTEXT_PORT', DEFAULT_PORTS.inboundPlaintext),
    inbound: port(env, 'INBOUND_PORT', DEFAULT_PORTS.inbound),
    dns: port(env, 'DNS_PROXY_PORT', DEFAULT_PORTS.dns),
    admin: port(env, 'ADMIN_PORT', DEFAULT_PORTS.admin),
    metrics: port(env, 'STATS_PORT', DEFAULT_PORTS.metrics),
    readiness: port(env, 'READINESS_PORT', DEFAULT_PORTS.readiness),
  };
  return {
    podName: need(env, 'POD_NAME'),
    podNamespace: need(env, 'POD_NAMESPACE'),
    nodeName: need(env, 'NODE_NAME'),
    instanceIp,
    clusterId: env.CLUSTER_ID || 'Kubernetes',
    trustDomain: env.TRUST_DOMAIN || 'cluster.local',
    xdsAddress: stripScheme(xdsAddress),
    caAddress: stripScheme(env.CA_ADDRESS || xdsAddress),
    rootCa,
    tokenFile: env.AMBIT_KUBE_TOKEN_FILE || env.AUTH_TOKEN || undefined,
    dnsCapture: bool(env, 'DNS_CAPTURE', false),
    dnsUpstream: env.DNS_UPSTREAM || undefined,
    ports,
    listenHost: '127.0.0.1',
    dnsHost: env.DNS_PROXY_ADDR || '0.0.0.0',
    statsHost: '0.0.0.0',
    transparent: true,
    spoof: 'transparent',
    hbonePort: HBONE_PORT,
    drainDeadlineMs: drainDeadline(env),
    stateWaitMs: 5000,
    secretTtlSeconds: secretTtl(env),
  };
}

function stripScheme(a: string): string {
  return a.replace(/^https?:\/\//, '');
}
