/**
 * `ambit controlplane`: istiod for ambit. Runs in its pod (image ambit/controlplane) and talks
 * to the API server from AMBIT_KUBE_SERVER with the token in AMBIT_KUBE_TOKEN_FILE.
 */
import { Port } from '../api/ports.js';
import { stopSignal } from '../daemon.js';
import { AmbitError } from '../errors.js';
import { KubeClient } from '../k8s/client.js';
import { createLogger } from '../log.js';
import { parseFlags } from '../flags.js';
import { parseDuration } from './flags.js';
import { startControlPlane } from './server.js';

export const USAGE = `usage: ambit controlplane [options]
  --lab N                 lab name (default $AMBIT_LAB or ambit)
  --state-dir D           CA state (default $AMBIT_STATE_DIR/labs/<lab>/controlplane)
  --ca-cert F --ca-key F  use this root CA instead of the one in the state dir
  --port P                gRPC xDS + CA, TLS (default ${Port.xds})
  --debug-port P          plain HTTP debug (default ${Port.controlPlaneDebug})
  --host H                listen address (default 0.0.0.0)
  --trusted-accounts L    ns/sa list allowed to subscribe and impersonate (default istio-system/ztunnel)
  --cert-ttl D            default workload certificate lifetime (default 24h)
  --max-cert-ttl D        upper bound of a requested lifetime (default 90d)
  --root-namespace NS     policies here without selector are GLOBAL (default istio-system)
  --trust-domain TD       (default cluster.local)
environment: AMBIT_KUBE_SERVER, AMBIT_KUBE_TOKEN_FILE, INSTANCE_IP (added to the serving cert)`;

export interface Defaults {
  /** The CA state dir when --state-dir is not given, from --lab (the CLI knows the lab's layout). */
  stateDir(lab: string | undefined): string;
}

export async function run(args: string[], defaults: Defaults): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const f = parseFlags(args);
  if (f.positional.length)
    throw new AmbitError('CLI_UNEXPECTED', `unexpected argument ${f.positional[0]}`, {
      value: f.positional[0],
      hint: 'see ambit controlplane --help',
    });
  const stateDir = f.get('state-dir') ?? defaults.stateDir(f.get('lab'));
  const log = createLogger('controlplane');
  const kube = KubeClient.fromEnv();
  const servingNames = [
    process.env.INSTANCE_IP,
    ...(process.env.AMBIT_SERVING_NAMES ?? '').split(','),
  ].filter((x): x is string => Boolean(x));
  const cp = await startControlPlane({
    kube,
    log,
    stateDir,
    caCertFile: f.get('ca-cert'),
    caKeyFile: f.get('ca-key'),
    host: f.get('host') ?? '0.0.0.0',
    port: f.int('port', Port.xds),
    debugHost: f.get('host') ?? '0.0.0.0',
    debugPort: f.int('debug-port', Port.controlPlaneDebug),
    trustedAccounts: (f.get('trusted-accounts') ?? 'istio-system/ztunnel')
      .split(',')
      .filter(Boolean),
    certTtlSeconds: f.has('cert-ttl') ? parseDuration(f.get('cert-ttl')!, 'cert-ttl') : undefined,
    maxCertTtlSeconds: f.has('max-cert-ttl')
      ? parseDuration(f.get('max-cert-ttl')!, 'max-cert-ttl')
      : undefined,
    servingNames,
    model: {
      rootNamespace: f.get('root-namespace') ?? 'istio-system',
      trustDomain: f.get('trust-domain') ?? 'cluster.local',
    },
  });
  await stopSignal();
  log.info('shutting down');
  await cp.close();
  return 0;
}
