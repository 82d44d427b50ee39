/**
 * The steps every redirection backend takes the same way, whatever it installs: the
 * pre-install snapshot of the node-wide sysctls it changes, fail closed without a ztunnel, the
 * check that the ztunnel's network namespace exists before wiring it, and cleanup in a ztunnel
 * namespace that may be gone.
 */
import { existsSync } from 'node:fs';
import { AmbitError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { netnsRefPath } from '../sys/exec.js';
import { sysctlGet } from '../sys/ip.js';
import type { NetnsRef, ZtunnelTarget } from './types.js';

/** The node-wide sysctls a backend turns off for redirected packets; uninstall restores them. */
const GLOBAL_SYSCTLS = ['net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter'];

/** Their values before the first install, as uninstall writes them back. */
export async function snapshotGlobalSysctls(
  ns: string | undefined,
): Promise<Record<string, string>> {
  const sysctls: Record<string, string> = {};
  for (const k of GLOBAL_SYSCTLS) sysctls[k] = await sysctlGet(ns, k);
  return sysctls;
}

/**
 * `setZtunnel(null)`: nothing is removed (`kept` names what stays), so captured traffic fails
 * closed instead of escaping the mesh; says so with the ztunnel it was pointed at.
 */
export function keepCaptureWithoutZtunnel(
  log: Logger,
  kept: string,
  previous: ZtunnelTarget | null | undefined,
): void {
  log.warn(`no ztunnel ready: ${kept} stay in place (fail closed)`, { previous: previous?.podIp });
}

/** REDIRECT_NO_ZTUNNEL_NETNS unless the ztunnel pod's network namespace exists. */
export function assertZtunnelNetns(z: ZtunnelTarget): void {
  if (existsSync(netnsRefPath(z.netns))) return;
  throw new AmbitError('REDIRECT_NO_ZTUNNEL_NETNS', `ztunnel netns ${z.netns} not found`, {
    value: z,
    hint: 'the ztunnel pod must be running; its netns comes from its CNI ADD or its veth',
  });
}

/**
 * Runs `cleanup` in an earlier ztunnel's namespace if it still exists (a deleted pod took its
 * rules along); a failure is logged as `<what> failed` and the caller goes on.
 */
export async function cleanupZtunnelNetnsIfPresent(
  z: { netns: NetnsRef; podIp: string },
  cleanup: (netns: NetnsRef, podIp: string) => Promise<void>,
  log: Logger,
  what: string,
): Promise<void> {
  if (!existsSync(netnsRefPath(z.netns))) return;
  await cleanup(z.netns, z.podIp).catch((err: unknown) =>
    log.warn(`${what} failed`, { error: errorMessage(err) }),
  );
}
