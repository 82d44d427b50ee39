/**
 * A stand-alone xDS subscriber / CA caller for lab tests, run inside a pod's network namespace
 * (`ip netns exec <podns> node xds-subscriber.js ...`). Prints one JSON object per line:
 *   {"event":"ready", addresses:[names], authorizations:[names]}
 *   {"event":"delta", typeUrl, version, added:[names], removed:[names], workloads:[...]}
 *   {"event":"nack", typeUrl, message}
 *   {"event":"cert", identity, ok, error?, sans?}
 * Options: --address --root --token --node --pod [--reject <policy name>] [--cert <identity>]...
 */
import { readFileSync } from 'node:fs';
import { addressResourceName, authorizationResourceName } from '../../src/api/workload.js';
import { createLogger } from '../../src/log.js';
import { requestCertificate, uriSans } from '../../src/xds/ca-client.js';
import { createXdsClient } from '../../src/xds/client.js';
import { x509 } from '../../src/identity/x509.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const all = (name: string): string[] =>
  args.flatMap((a, i) => (a === `--${name}` && args[i + 1] ? [args[i + 1]!] : []));
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

const address = opt('address')!;
const rootCa = readFileSync(opt('root')!, 'utf8');
const tokenFile = opt('token');
const nodeName = opt('node')!;
const pod = opt('pod') ?? 'probe';
const reject = opt('reject');

for (const identity of all('cert')) {
  try {
    const c = await requestCertificate({
      address,
      rootCa,
      tokenFile,
      identity,
      serverName: opt('server-name'),
    });
    out({
      event: 'cert',
      identity,
      ok: true,
      sans: uriSans(new x509.X509Certificate(c.certChainPem[0]!)),
    });
  } catch (err) {
    out({ event: 'cert', identity, ok: false, error: (err as Error).message });
  }
}

const client = createXdsClient({
  address,
  rootCa,
  tokenFile,
  node: {
    id: `ztunnel~0.0.0.0~${pod}.istio-system~istio-system.svc.cluster.local`,
    nodeName,
    podName: pod,
    podNamespace: 'istio-system',
  },
  logger: createLogger('subscriber', (l) => process.stderr.write(l + '\n')),
  validate: (d) => {
    if (reject && d.authorizations?.added.some((a) => a.name === reject))
      throw new Error(`policy ${reject} rejected by this test client`);
  },
});
client.on('delta', (d) => {
  const added = [
    ...(d.addresses?.added.map(addressResourceName) ?? []),
    ...(d.authorizations?.added.map(authorizationResourceName) ?? []),
  ];
  out({
    event: 'delta',
    typeUrl: d.typeUrl,
    version: d.version,
    added,
    removed: [...(d.addresses?.removed ?? []), ...(d.authorizations?.removed ?? [])],
    workloads: d.addresses?.added.flatMap((a) => (a.workload ? [a.workload] : [])) ?? [],
  });
});
client.on('disconnected', (e) => out({ event: 'disconnected', error: e?.message }));
let lastNack = '';
setInterval(() => {
  const n = client.lastNack;
  if (n && n.nonce !== lastNack) {
    lastNack = n.nonce;
    out({
      event: 'nack',
      typeUrl: n.typeUrl,
      message: n.message,
      authorizations: [...client.authorizations.keys()],
    });
  }
}, 50);
client.start();
await client.ready();
out({
  event: 'ready',
  addresses: [...client.addresses.keys()],
  authorizations: [...client.authorizations.keys()],
});
process.on('SIGTERM', () => {
  void client.stop().then(() => process.exit(0));
});
