/**
 * `ambit lab controller-manager --lab N [--server URL]`: Deployments and DaemonSets → Pods,
 * scheduling, Endpoints, default ServiceAccounts.
 */
import { createLogger } from '../../log.js';
import { stopSignal } from '../../daemon.js';
import { parseFlags } from '../../flags.js';
import { labClient } from '../apps/kube-env.js';
import { startControllerManager } from './manager.js';

export async function run(args: string[]): Promise<number> {
  const f = parseFlags(args);
  const log = createLogger('controller-manager');
  const client = labClient(f.values.get('server'), f.values.get('lab'));
  const cm = await startControllerManager({ client, log });
  await stopSignal();
  await cm.stop();
  return 0;
}
