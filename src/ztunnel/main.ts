/**
 * `ambit ztunnel`: the production wiring. Configuration from the pod environment, state from
 * the control plane's delta xDS, certificates from its CA (one per identity on this node),
 * TPROXY listeners with IP_TRANSPARENT. SIGTERM drains.
 */
import { Shutdown } from '../daemon.js';
import { createLogger } from '../log.js';
import { requestCertificate } from '../xds/ca-client.js';
import { createXdsClient } from '../xds/client.js';
import { Ztunnel } from './app.js';
import { loadConfig } from './config.js';
import { createHboneClient } from '../hbone/client.js';
import { createHboneServer } from '../hbone/server.js';
import { IdentityManager } from '../identity/manager.js';
import { startMemoryTrimmer, stopMemoryTrimmer } from '../runtime/memory.js';

const USAGE = `usage: ambit ztunnel
Runs the L4 node proxy. Configured by environment (set by the kubelet in the ztunnel pod):
  POD_NAME POD_NAMESPACE NODE_NAME INSTANCE_IP       (required)
  AMBIT_VOLUME_ISTIO_CA_ROOT_CERT or CA_ROOT_CA       root certificate (required)
  XDS_ADDRESS CA_ADDRESS      default istiod.istio-system.svc:15012
  AMBIT_KUBE_TOKEN_FILE       service-account token for the control plane
  TRUST_DOMAIN                default cluster.local
  SECRET_TTL                  workload certificate lifetime asked of the CA (default 24h)
  DNS_CAPTURE                 true to serve DNS on 15053
  CONNECTION_TERMINATION_DEADLINE / TERMINATION_GRACE_PERIOD_SECONDS   drain deadline
  AMBIT_MALLOC_TRIM_MS        ms between malloc_trim checks (default 30000, 0 = off)`;

export async function run(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  if (args.length > 0) {
    console.error(`ambit ztunnel: unexpected arguments ${JSON.stringify(args)}\n${USAGE}`);
    return 2;
  }
  const log = createLogger('ztunnel');
  const config = loadConfig();
  const identity = new IdentityManager({
    fetch: (id) =>
      requestCertificate({
        address: config.caAddress,
        rootCa: config.rootCa,
        tokenFile: config.tokenFile,
        identity: id,
        ttlSeconds: config.secretTtlSeconds,
      }),
    log: log.child('identity'),
  });
  const hboneClient = createHboneClient({ certificates: identity, log: log.child('hbone') });
  const xds = createXdsClient({
    address: config.xdsAddress,
    rootCa: config.rootCa,
    tokenFile: config.tokenFile,
    node: {
      id: `ztunnel~${config.instanceIp}~${config.podName}.${config.podNamespace}~${config.podNamespace}.svc.cluster.local`,
      nodeName: config.nodeName,
      podName: config.podName,
      podNamespace: config.podNamespace,
      podIp: config.instanceIp,
    },
    logger: log.child('xds'),
  });
  const shutdown = new Shutdown(log);
  const z = new Ztunnel(config, {
    identity,
    hboneClient,
    hboneServer: (o) => createHboneServer({ ...o, log: log.child('hbone-server') }),
    xds,
    log,
    onQuit: shutdown.quit,
  });
  await z.start();
  // After load, freed memory goes back to the kernel (src/runtime/memory.ts).
  startMemoryTrimmer(log.child('memory'));
  return shutdown.serve(
    () => {
      stopMemoryTrimmer();
      return z.drain();
    },
    () => identity.close(),
  );
}
