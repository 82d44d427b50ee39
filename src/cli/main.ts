/**
 * `ambit <command> ...`: dispatches to one module per command group, loaded on demand so
 * that a daemon (ztunnel, kubelet) loads only its own code.
 */
import { AmbitError, errorMessage } from '../errors.js';

type Command = { run(args: string[]): Promise<number>; USAGE?: string };

/** `-h`/`--help` anywhere before a `--` (after it, the flags belong to the command run in a pod). */
function helpRequested(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '-h' || a === '--help');
}

const commands: Record<string, { load: () => Promise<Command>; help: string }> = {
  demo: {
    load: () => import('./demo.js'),
    help: 'run the seeds scenario end to end and show every hop',
  },
  lab: {
    load: () => import('./lab.js'),
    help: 'the lab cluster: up, down, status, exec, and its daemons',
  },
  cni: {
    load: () => import('./cni.js'),
    help: 'the node agent (istio-cni): run, plugin, uninstall',
  },
  node: { load: () => import('./node.js'), help: 'inspect a lab node: rules' },
  controlplane: {
    load: () => import('./controlplane.js'),
    help: 'the control plane (istiod): xDS and CA',
  },
  ztunnel: { load: () => import('./ztunnel.js'), help: 'the L4 node proxy' },
  waypoint: {
    load: () => import('./waypoint.js'),
    help: 'waypoints (istioctl waypoint): generate, apply, list, status, delete; run the proxy',
  },
  install: {
    load: () => import('./install.js'),
    help: 'install ambit on a cluster (istioctl install --set profile=ambient)',
  },
  uninstall: { load: () => import('./uninstall.js'), help: 'remove what install applied' },
  manifest: {
    load: () => import('./manifest.js'),
    help: 'manifest generate: print the install manifests',
  },
  x: { load: () => import('./x.js'), help: 'experimental/debug: config-dump, ztunnel status' },
  trace: {
    load: () => import('./trace.js'),
    help: 'trace a connection hop by hop through the kernel',
  },
};

function usage(): string {
  const lines = ['usage: ambit <command> [args]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(14)}${c.help}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`ambit: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const mod = await cmd.load();
  // Commands with a usage text answer --help at any depth (`ambit lab up --help`) before
  // their flag parsers see it; the daemons (controlplane, ztunnel) answer it themselves.
  if (mod.USAGE && helpRequested(rest)) {
    console.log(mod.USAGE);
    return 0;
  }
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`ambit: ${errorMessage(err)}`);
    if (process.env.AMBIT_LOG === 'debug' && err instanceof Error) console.error(err.stack);
    process.exitCode = err instanceof AmbitError ? 1 : 70;
  },
);
