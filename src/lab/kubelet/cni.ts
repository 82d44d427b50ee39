/**
 * Calls the node agent the way a container runtime calls a CNI plugin: for each plugin of
 * type `ambit-cni` in the node's first `*.conflist`, run `ambit cni plugin` with the CNI_*
 * environment and the plugin config (plus prevResult) on stdin. A plugin of another type runs
 * when an executable of that name exists in the node's `cni/bin/` (CNI_PATH semantics);
 * otherwise it is taken to be the wiring the kubelet does itself (ptp, host-local) and skipped.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../../errors.js';
import { run } from '../../sys/exec.js';
import { netnsPath } from '../../sys/ip.js';
import { ambitArgv, repoRoot } from '../cluster/paths.js';
import { findExecutable } from './runner.js';

export interface CniPod {
  uid: string;
  name: string;
  namespace: string;
  netns: string;
  hostVeth: string;
  podIP: string;
  gateway: string;
}

interface ConfList {
  cniVersion?: string;
  name?: string;
  plugins?: ({ type?: string } & Record<string, unknown>)[];
}

/** The lab's pod network config: ptp, wired by the kubelet itself (see the header). */
export const PRIMARY_CONFLIST = '05-ptp.conflist';

/**
 * Writes the node's primary conflist when the directory has none, as a real node's network
 * plugin installs one: the mesh's agent chains its plugin into it and never owns it.
 */
export function ensurePrimaryConflist(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).some((f) => f.endsWith('.conflist'))) return;
  const conf = {
    cniVersion: '1.0.0',
    name: 'ambit-lab',
    plugins: [{ type: 'ptp', ipMasq: false }],
  };
  writeFileSync(join(dir, PRIMARY_CONFLIST), JSON.stringify(conf, null, 2) + '\n');
}

/** The first conflist in the directory (sorted by name, like the real runtime), if any. */
export function loadConfList(dir: string): { file: string; conf: ConfList } | undefined {
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.conflist'))
    .sort();
  if (files.length === 0) return undefined;
  const file = join(dir, files[0]!);
  try {
    return { file, conf: JSON.parse(readFileSync(file, 'utf8')) as ConfList };
  } catch (err) {
    throw new AmbitError('CNI_BAD_CONFIG', `cannot parse ${file}: ${(err as Error).message}`, {
      value: file,
      cause: err,
    });
  }
}

export function prevResult(p: CniPod): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    interfaces: [{ name: p.hostVeth }, { name: 'eth0', sandbox: netnsPath(p.netns) }],
    ips: [{ address: `${p.podIP}/32`, gateway: p.gateway, interface: 1 }],
  };
}

/** Runs the CNI command for the pod; throws with the plugin's error message on failure. */
export async function invokeCni(dir: string, command: 'ADD' | 'DEL', p: CniPod): Promise<string[]> {
  const loaded = loadConfList(dir);
  if (!loaded) return [];
  const ran: string[] = [];
  const binDir = join(dir, '..', 'bin');
  const plugins = loaded.conf.plugins ?? [];
  // DEL runs the chain in reverse order, as the CNI spec says.
  for (const plugin of command === 'DEL' ? [...plugins].reverse() : plugins) {
    let argv: string[];
    if (plugin.type === 'ambit-cni') argv = [...ambitArgv(), 'cni', 'plugin'];
    else if (
      plugin.type &&
      /^[\w.-]+$/.test(plugin.type) &&
      findExecutable(join(binDir, plugin.type))
    )
      argv = [join(binDir, plugin.type)];
    else continue;
    const input = JSON.stringify({
      cniVersion: loaded.conf.cniVersion ?? '1.0.0',
      name: loaded.conf.name ?? 'ambit',
      ...plugin,
      prevResult: prevResult(p),
    });
    const r = await run(argv[0]!, argv.slice(1), {
      input,
      allowFail: true,
      timeoutMs: 60_000,
      env: {
        ...process.env,
        CNI_COMMAND: command,
        CNI_CONTAINERID: p.uid,
        CNI_NETNS: netnsPath(p.netns),
        CNI_IFNAME: 'eth0',
        CNI_ARGS: `K8S_POD_NAMESPACE=${p.namespace};K8S_POD_NAME=${p.name};K8S_POD_UID=${p.uid}`,
        CNI_PATH: `${binDir}:${join(repoRoot(), 'bin')}`,
      },
    });
    if (r.code !== 0) {
      let msg = r.stdout.trim() || r.stderr.trim();
      try {
        const e = JSON.parse(r.stdout) as { msg?: string; details?: string };
        msg = [e.msg, e.details].filter((x) => x).join(': ') || msg;
      } catch {
        /* not CNI error JSON: show the raw output */
      }
      throw new AmbitError(
        'CNI_FAILED',
        `CNI ${command} ${plugin.type} (${loaded.file}) failed: ${msg}`,
        {
          value: p.uid,
          hint: 'see the node agent log',
        },
      );
    }
    ran.push(plugin.type ?? '');
  }
  return ran;
}
