/**
 * `ambit lab dns` (also `ambit lab app dns`, image `ambit/dns`): the cluster DNS. Watches
 * Services and Endpoints through the API and serves `*.svc.cluster.local` on UDP and TCP.
 */
import { Informer } from '../../k8s/informer.js';
import { stopSignal } from '../../daemon.js';
import { resources } from '../../k8s/resources.js';
import type { Endpoints, Service } from '../../k8s/types.js';
import { createLogger } from '../../log.js';
import { intFlag, parseFlags } from '../../flags.js';
import { labClient } from '../apps/kube-env.js';
import { ServiceIndex, type DnsService } from './answer.js';
import { startDnsServer } from './server.js';

/** The DNS view of the API objects: one entry per Service, headless ones with their ready IPs. */
export function dnsServices(
  services: readonly Service[],
  endpoints: readonly Endpoints[],
): DnsService[] {
  const eps = new Map(endpoints.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  return services.map((s) => {
    const ep = eps.get(`${s.metadata.namespace}/${s.metadata.name}`);
    return {
      name: s.metadata.name,
      namespace: s.metadata.namespace ?? 'default',
      clusterIP: s.spec?.clusterIP,
      endpointIPs: ep?.subsets?.flatMap((ss) => (ss.addresses ?? []).map((a) => a.ip)) ?? [],
      ports: (s.spec?.ports ?? []).map((p) => ({
        name: p.name,
        port: p.port,
        protocol: p.protocol,
      })),
    };
  });
}

export async function run(args: string[]): Promise<number> {
  const f = parseFlags(args);
  const log = createLogger('dns');
  const port = intFlag(f, 'port', 53);
  const host = f.values.get('host') ?? '0.0.0.0';
  const domain = (f.values.get('domain') ?? 'cluster.local').toLowerCase();
  const client = labClient(f.values.get('server'), f.values.get('lab'));

  const svcs = new Informer<Service>(client, resources.services, {}, log);
  const eps = new Informer<Endpoints>(client, resources.endpoints, {}, log);
  let index: ServiceIndex | undefined;
  const dirty = () => (index = undefined);
  for (const inf of [svcs, eps] as Informer<Service | Endpoints>[]) {
    inf.on('add', dirty).on('update', dirty).on('delete', dirty).on('synced', dirty);
  }
  await Promise.all([svcs.startWhenReachable(), eps.startWhenReachable()]);
  const current = () => (index ??= new ServiceIndex(dnsServices(svcs.list(), eps.list()), domain));

  const srv = await startDnsServer({ host, port, index: current, log });
  log.info('serving', { address: `${host}:${srv.port}`, domain, services: svcs.cache.size });
  await stopSignal();
  await srv.close();
  await Promise.all([svcs.stop(), eps.stop()]);
  return 0;
}
