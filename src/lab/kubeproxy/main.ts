/**
 * `ambit lab kube-proxy --lab N --node X`: runs in the node's netns and keeps its KUBE-* nat
 * and filter chains in step with Services and Endpoints, like kube-proxy in iptables mode.
 */
import { errorMessage } from '../../errors.js';
import { stopSignal } from '../../daemon.js';
import { Informer } from '../../k8s/informer.js';
import { resources } from '../../k8s/resources.js';
import type { Endpoints, Service } from '../../k8s/types.js';
import { createLogger } from '../../log.js';
import { parseFlags } from '../../flags.js';
import { labClient } from '../apps/kube-env.js';
import { RuleApplier } from './apply.js';
import { renderProxyRules } from './render.js';

const DEBOUNCE_MS = 100;
const RESYNC_MS = 30_000;

export async function run(args: string[]): Promise<number> {
  const f = parseFlags(args);
  const node = f.values.get('node') ?? process.env.NODE_NAME ?? 'unknown';
  const log = createLogger(`kube-proxy/${node}`);
  const client = labClient(f.values.get('server'), f.values.get('lab'));
  const clusterCIDR = f.values.get('cluster-cidr') ?? '10.244.0.0/16';
  const netns = f.values.get('netns');
  const applier = new RuleApplier({ netns, log });

  const svcs = new Informer<Service>(client, resources.services, {}, log);
  const eps = new Informer<Endpoints>(client, resources.endpoints, {}, log);
  let timer: NodeJS.Timeout | undefined;
  let syncing = false;
  let again = false;
  let stopped = false;

  const sync = async (): Promise<void> => {
    if (syncing) {
      again = true;
      return;
    }
    syncing = true;
    try {
      const rules = renderProxyRules(svcs.list(), eps.list(), { clusterCIDR });
      await applier.apply(rules);
    } catch (err) {
      log.error('sync failed, retrying', { error: errorMessage(err) });
      schedule(1000);
    } finally {
      syncing = false;
      if (again) {
        again = false;
        schedule(0);
      }
    }
  };
  const schedule = (ms = DEBOUNCE_MS) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void sync(), ms);
  };
  for (const inf of [svcs, eps] as Informer<Service | Endpoints>[]) {
    inf
      .on('add', () => schedule())
      .on('update', () => schedule())
      .on('delete', () => schedule());
  }
  await Promise.all([svcs.startWhenReachable(), eps.startWhenReachable()]);
  log.info('started', { node, clusterCIDR, services: svcs.cache.size });
  await sync();
  const resync = setInterval(() => schedule(0), RESYNC_MS);

  await stopSignal();
  // Like kube-proxy, leave the rules in place on exit: connections keep working across restarts.
  stopped = true;
  clearInterval(resync);
  clearTimeout(timer);
  await Promise.all([svcs.stop(), eps.stop()]);
  return 0;
}
