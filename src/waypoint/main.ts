/**
 * `ambit waypoint run`: the process behind image `ambit/waypoint`. Identity and pod facts from
 * the environment the kubelet sets, the certificate from the control plane's CA, config from
 * its xDS (or `--config <file>` for development and tests), listeners on Istio's ports. SIGTERM
 * drains.
 */
import { readFileSync } from 'node:fs';
import { spiffeId } from '../api/workload.js';
import { Shutdown } from '../daemon.js';
import { AmbitError, errorMessage } from '../errors.js';
import { parseFlags } from '../flags.js';
import { createHboneClient } from '../hbone/client.js';
import { IdentityManager } from '../identity/manager.js';
import { createLogger } from '../log.js';
import { startMemoryTrimmer, stopMemoryTrimmer } from '../runtime/memory.js';
import { requestCertificate } from '../xds/ca-client.js';
import { XdsSubscriber } from '../xds/subscriber.js';
import { Waypoint } from './app.js';
import { waypointSubscription } from './xds.js';

const USAGE = `usage: ambit waypoint run [--name <gateway>] [--namespace <ns>] [--xds host:port] [--ca host:port]
                          [--config <file.json>] [--kind waypoint]
Runs the waypoint proxy. Environment (set by the kubelet): POD_NAME POD_NAMESPACE INSTANCE_IP
SERVICE_ACCOUNT, root certificate AMBIT_VOLUME_ISTIO_CA_ROOT_CERT/root-cert.pem or CA_ROOT_CA,
AMBIT_KUBE_TOKEN_FILE, TRUST_DOMAIN (cluster.local). --config serves a WaypointConfig JSON file
(src/api/waypoint-config.ts) instead of xDS. Ports: 15008 HBONE, 127.0.0.1:15000 admin,
15020 metrics, 15021 readiness (env HBONE_PORT, ADMIN_PORT, METRICS_PORT, READINESS_PORT).
AMBIT_MALLOC_TRIM_MS: ms between malloc_trim checks (default 30000, 0 = off).`;

function bad(message: string, value?: unknown, hint?: string): AmbitError {
  return new AmbitError('WAYPOINT_RUN_CONFIG', message, { value, hint });
}

function port(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const v = env[name];
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw bad(`${name} must be a port, got ${JSON.stringify(v)}`, v);
  return n;
}

function readConfigFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new AmbitError(
      'WAYPOINT_CONFIG_FILE',
      `cannot read waypoint config ${path}: ${errorMessage(err)}`,
      {
        value: path,
        hint: 'give a JSON file shaped like src/api/waypoint-config.ts',
      },
    );
  }
}

function rootCa(env: NodeJS.ProcessEnv): string {
  const file =
    env.CA_ROOT_CA ??
    (env.AMBIT_VOLUME_ISTIO_CA_ROOT_CERT
      ? `${env.AMBIT_VOLUME_ISTIO_CA_ROOT_CERT}/root-cert.pem`
      : undefined);
  if (!file)
    throw bad(
      'no root certificate',
      undefined,
      'mount ConfigMap istio-ca-root-cert or set CA_ROOT_CA',
    );
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw bad(`cannot read root certificate ${file}: ${errorMessage(err)}`, file);
  }
}

export async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const f = parseFlags(args);
  const log = createLogger('waypoint');
  const namespace = f.get('namespace') ?? env.POD_NAMESPACE;
  const name = f.get('name') ?? env.POD_NAME?.replace(/-[a-z0-9]+-[a-z0-9]+$/, '');
  const ip = env.INSTANCE_IP;
  if (!namespace || !name || !ip)
    throw bad(
      'need --name, --namespace (or POD_NAMESPACE) and INSTANCE_IP',
      { name, namespace, ip },
      USAGE,
    );
  const trustDomain = env.TRUST_DOMAIN ?? 'cluster.local';
  const identity = spiffeId(trustDomain, namespace, env.SERVICE_ACCOUNT ?? name);
  const configFile = f.get('config');
  const xdsAddress = f.get('xds') ?? env.XDS_ADDRESS ?? 'istiod.istio-system.svc:15012';
  const caAddress = f.get('ca') ?? env.CA_ADDRESS ?? xdsAddress;
  const tokenFile = env.AMBIT_KUBE_TOKEN_FILE;
  const root = rootCa(env);

  const certificates = new IdentityManager({
    // The waypoint asks for its own identity with its own token (no impersonation).
    fetch: (id) =>
      requestCertificate({
        address: caAddress,
        rootCa: root,
        tokenFile,
        identity: id,
        impersonate: false,
      }),
    log: log.child('identity'),
  });
  const hboneClient = createHboneClient({ certificates, log: log.child('hbone') });
  const shutdown = new Shutdown(log);
  let xds: XdsSubscriber | undefined;
  const waypoint = new Waypoint({
    identity,
    trustDomain,
    ip,
    certificates,
    hboneClient,
    listen: {
      hbone: { host: '0.0.0.0', port: port(env, 'HBONE_PORT', 15008) },
      admin: { host: '127.0.0.1', port: port(env, 'ADMIN_PORT', 15000) },
      metrics: { host: '0.0.0.0', port: port(env, 'METRICS_PORT', 15020) },
      readiness: { host: '0.0.0.0', port: port(env, 'READINESS_PORT', 15021) },
    },
    log,
    onQuit: shutdown.quit,
    dumpExtra: () => ({
      certificates: certificates.dump(),
      xds: xds
        ? { acked: Object.fromEntries(xds.acked), lastNack: xds.lastNack }
        : { file: configFile },
    }),
  });

  if (configFile) waypoint.store.apply(readConfigFile(configFile));
  else {
    xds = new XdsSubscriber({
      address: xdsAddress,
      rootCa: root,
      tokenFile,
      node: {
        id: `waypoint~${ip}~${env.POD_NAME ?? name}.${namespace}~${namespace}.svc.cluster.local`,
        nodeName: env.NODE_NAME ?? '',
        podName: env.POD_NAME,
        podNamespace: namespace,
        podIp: ip,
      },
      subscriptions: [waypointSubscription(waypoint.store, { namespace, name }, log.child('xds'))],
      logger: log.child('xds'),
    });
    xds.start();
  }
  // Fetch the certificate before taking connections, so the first CONNECT does not wait.
  certificates
    .get(identity)
    .catch((err: unknown) =>
      log.warn('certificate not yet available', { error: errorMessage(err) }),
    );
  await waypoint.start();
  // After load, freed memory goes back to the kernel (src/runtime/memory.ts).
  startMemoryTrimmer(log.child('memory'));

  return shutdown.serve(
    () => {
      stopMemoryTrimmer();
      return Promise.all([waypoint.stop(true), xds?.stop()]);
    },
    () => certificates.close(),
  );
}
