/**
 * `ambit demo [--name N] [--no-trace] [--redirect iptables|ebpf] [--waypoint] [--mesh-pods]`: the
 * seeds' scenario end to end, every hop shown; `--redirect` picks the node agents' redirection
 * backend; `--waypoint` puts a namespace waypoint on the path and shows the four connections;
 * `--mesh-pods` installs the mesh as bare per-node pods instead of `ambit manifest generate`'s
 * DaemonSets (so one node's agent can be stopped by deleting its pod: the node-agent tests).
 * `ambit demo --down [--name N]`: take the demo's lab down.
 */
import { AmbitError } from '../errors.js';
import { demoDown, runDemo } from '../demo/demo.js';
import { checkLabName } from '../lab/cluster/cluster.js';
import { parseRedirectMode } from '../redirect/backends.js';

export const USAGE =
  'usage: ambit demo [--name N] [--no-trace] [--redirect iptables|ebpf] [--waypoint] [--mesh-pods] | ambit demo --down [--name N]';

export async function run(args: string[]): Promise<number> {
  let lab = 'ambit';
  let down = false;
  let trace = true;
  let redirect: string | undefined;
  let waypoint = false;
  let meshPods = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => {
      const v = args[++i];
      if (v === undefined || v.startsWith('-'))
        throw new AmbitError('DEMO_USAGE', `${a} needs a value`, {
          value: a,
          hint: 'see `ambit demo --help`',
        });
      return v;
    };
    if (a === '--down') down = true;
    else if (a === '--no-trace') trace = false;
    else if (a === '--waypoint') waypoint = true;
    else if (a === '--mesh-pods') meshPods = true;
    else if (a === '--name' || a === '--lab') lab = checkLabName(val(), '--name');
    else if (a === '--redirect') redirect = parseRedirectMode(val());
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else
      throw new AmbitError('DEMO_USAGE', `unknown argument ${a}`, {
        value: a,
        hint: 'see `ambit demo --help`',
      });
  }
  if (process.getuid?.() !== 0) {
    throw new AmbitError('DEMO_NEEDS_ROOT', 'the demo builds network namespaces and needs root', {
      hint: 'run it as root',
    });
  }
  const print = (l: string) => console.log(l);
  return down ? demoDown(lab, print) : runDemo({ lab, trace, print, redirect, waypoint, meshPods });
}
