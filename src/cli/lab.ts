/**
 * `ambit lab <sub>`: the lab cluster (up, down, status, list, exec, kubeconfig) and its
 * daemons, each loaded on demand so a daemon loads only its own code.
 */
import { readFileSync } from 'node:fs';
import { AmbitError, errorMessage } from '../errors.js';
import { checkLabName, defaultCluster, parseCluster } from '../lab/cluster/cluster.js';
import { labPaths } from '../lab/cluster/paths.js';
import { DEFAULT_LAB } from '../lab/conventions.js';
import { parseRedirectMode, type RedirectMode } from '../redirect/backends.js';

type Entry = { run(args: string[]): Promise<number> };

/**
 * Daemon entry modules, by path relative to this file. Loaded through a computed specifier so
 * this dispatcher does not depend at build time on every daemon being in the checkout; a
 * missing one is reported as such.
 */
const daemons: Record<string, string> = {
  apiserver: '../lab/apiserver/main.js',
  'controller-manager': '../lab/controllers/main.js',
  kubelet: '../lab/kubelet/main.js',
  'kube-proxy': '../lab/kubeproxy/main.js',
  dns: '../lab/dns/main.js',
  app: '../lab/apps/main.js',
};

async function loadDaemon(sub: string, rel: string): Promise<Entry> {
  try {
    return (await import(rel)) as Entry;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (
      e.code === 'ERR_MODULE_NOT_FOUND' &&
      e.message.includes(rel.split('/').slice(-2).join('/'))
    ) {
      throw new AmbitError('LAB_NOT_BUILT', `ambit lab ${sub}: not in this checkout`, {
        value: rel,
      });
    }
    throw err;
  }
}

export const USAGE = `usage: ambit lab <command>
  up [-f cluster.yaml] [--name N] [--no-scenario] [--timeout S] [--redirect iptables|ebpf]
     [--mesh-pods]                                  build and start a lab; with --redirect also
                                                    the mesh (ambit manifest generate's objects),
                                                    its node agents on that backend; --mesh-pods:
                                                    bare per-node pods instead of DaemonSets
  down [--name N]                                   stop it and remove everything it made
  status [--name N]                                 nodes and pods
  list                                              labs on this machine
  exec [--name N] [-n ns] <pod> -- <cmd...>         run a command in a pod's network
  logs [--name N] [-n ns] <pod> [-c container]      print a container's output
  kubeconfig [--name N]                             print the kubeconfig path
daemons (started by up): ${Object.keys(daemons).join(', ')}`;

interface Flags {
  name?: string;
  file?: string;
  namespace: string;
  container?: string;
  scenario: boolean;
  timeout: number;
  /** `up --redirect`: install the mesh too, node agents on this backend. */
  redirect?: RedirectMode;
  /** `up --mesh-pods`: the mesh as bare per-node pods (installMesh's `mode: 'pods'`). */
  meshPods?: boolean;
  rest: string[];
}

export function parseFlags(args: string[]): Flags {
  const f: Flags = { namespace: 'default', scenario: true, timeout: 180, rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => {
      const v = args[++i];
      if (v === undefined) throw new AmbitError('CLI_USAGE', `${a} needs a value`, { value: a });
      return v;
    };
    if (a === '--') {
      f.rest.push(...args.slice(i + 1));
      break;
    } else if (a === '--name' || a === '--lab') f.name = checkLabName(val(), '--name');
    else if (a === '-f' || a === '--file') f.file = val();
    else if (a === '-n' || a === '--namespace') f.namespace = val();
    else if (a === '-c' || a === '--container') f.container = val();
    else if (a === '--no-scenario') f.scenario = false;
    else if (a === '--timeout') f.timeout = seconds(a, val());
    else if (a === '--redirect') f.redirect = parseRedirectMode(val());
    else if (a === '--mesh-pods') f.meshPods = true;
    else if (a.startsWith('-'))
      throw new AmbitError('CLI_USAGE', `unknown flag ${a}`, { value: a });
    else f.rest.push(a);
  }
  return f;
}

/** The cluster file's text, or LAB_BAD_CLUSTER naming the path when it cannot be read. */
function readClusterFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new AmbitError(
      'LAB_BAD_CLUSTER',
      `cannot read cluster file ${file}: ${errorMessage(err)}`,
      {
        value: file,
        hint: 'pass the path of a cluster YAML (its fields: `ambit lab --help`)',
        cause: err,
      },
    );
  }
}

/** A number of seconds (0: do not wait), or CLI_USAGE naming the flag and the value. */
function seconds(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new AmbitError('CLI_USAGE', `${flag} wants a number of seconds (0 or more), not ${v}`, {
      value: v,
    });
  return n;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new AmbitError('LAB_NEEDS_ROOT', 'the lab needs root (network namespaces)', {
      hint: 'run as root',
    });
  }
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const print = (l: string) => console.log(l);
  const entry = sub ? daemons[sub] : undefined;
  if (sub && entry) return (await loadDaemon(sub, entry)).run(rest);
  switch (sub) {
    case 'up': {
      requireRoot();
      const f = parseFlags(rest);
      const cluster = f.file ? parseCluster(readClusterFile(f.file), f.file) : defaultCluster();
      if (f.name) cluster.name = f.name;
      const { labUp } = await import('../lab/orchestrator/up.js');
      const rc = await labUp({ cluster, scenario: f.scenario, timeoutMs: f.timeout * 1000, print });
      if (rc !== 0 || !f.redirect) return rc;
      const { installMesh } = await import('../lab/mesh/install.js');
      const { labClient } = await import('../lab/orchestrator/status.js');
      print(`installing the mesh (node agents: ${f.redirect} redirection)`);
      await installMesh(labClient(cluster.name), {
        redirect: f.redirect,
        lab: cluster.name,
        ...(f.meshPods ? { mode: 'pods' as const } : {}),
        timeoutMs: f.timeout * 1000,
        progress: (step, ms) => print(`  ${step} (${(ms / 1000).toFixed(1)}s)`),
      });
      return 0;
    }
    case 'down': {
      requireRoot();
      const { labDown } = await import('../lab/orchestrator/down.js');
      return labDown(parseFlags(rest).name ?? DEFAULT_LAB, print);
    }
    case 'status': {
      const { labStatus } = await import('../lab/orchestrator/status.js');
      return labStatus(parseFlags(rest).name ?? DEFAULT_LAB, print);
    }
    case 'list': {
      const { labList } = await import('../lab/orchestrator/status.js');
      return labList(print);
    }
    case 'exec': {
      requireRoot();
      const f = parseFlags(rest);
      const [podArg, ...cmd] = f.rest;
      const pod = podArg?.replace(/^pods?\//, '');
      if (!pod || cmd.length === 0) {
        throw new AmbitError('CLI_USAGE', 'usage: ambit lab exec [-n ns] <pod> -- <cmd...>');
      }
      const { labExec } = await import('../lab/orchestrator/status.js');
      return labExec(f.name ?? DEFAULT_LAB, f.namespace, pod, cmd);
    }
    case 'logs': {
      const f = parseFlags(rest);
      const [pod] = f.rest;
      if (!pod)
        throw new AmbitError('CLI_USAGE', 'usage: ambit lab logs [-n ns] <pod> [-c container]');
      const { labLogs } = await import('../lab/orchestrator/status.js');
      return labLogs(f.name ?? DEFAULT_LAB, f.namespace, pod, f.container, (t) =>
        process.stdout.write(t),
      );
    }
    case 'kubeconfig':
      print(labPaths(parseFlags(rest).name ?? DEFAULT_LAB).kubeconfig);
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      print(USAGE);
      return sub ? 0 : 2;
    default:
      console.error(`ambit lab: unknown command ${JSON.stringify(sub)}\n${USAGE}`);
      return 2;
  }
}
