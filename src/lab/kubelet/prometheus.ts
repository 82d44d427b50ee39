/**
 * Image `prom/prometheus` in the lab: `ambit lab app prometheus` (src/lab/apps/prometheus),
 * which runs Debian's `/usr/bin/prometheus`, the real binary, with the container's args
 * (samples/addons/prometheus.yaml) and serves it the Kubernetes discovery Debian's build lacks.
 *
 * Paths under a volumeMount (`--config.file=/etc/config/prometheus.yml`,
 * `--storage.tsdb.path=/data`) are pointed at the volume's directory in the pod's own
 * directory, which the sandbox keeps visible: the lab cannot create `/etc/config` or `/data`
 * on the machine. The TSDB therefore lives in `<podDir>/volumes/<volume>` and goes with the pod.
 */
import { join, relative, resolve } from 'node:path';

/** What the kubelet knows when it starts a container, for images that need it. */
export interface ImageContext {
  /** The pod's directory on the machine (visible inside the sandbox at the same path). */
  podDir: string;
  /** The container's volumeMounts. */
  mounts: { name: string; mountPath: string }[];
}

/** The directory of volume `name` (as volumes.ts writes ConfigMaps and Secrets). */
export function volumeDir(podDir: string, name: string): string {
  return join(podDir, 'volumes', name);
}

/** A container path under one of the mounts, as the path of the volume's directory. */
export function hostPath(path: string, ctx: ImageContext): string {
  if (!path.startsWith('/')) return path;
  // The longest mountPath wins, as nested mounts shadow their parent.
  const byDepth = [...ctx.mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const m of byDepth) {
    const rel = relative(resolve(m.mountPath), resolve(path));
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/')))
      return join(volumeDir(ctx.podDir, m.name), rel);
  }
  return path;
}

/** `--flag=/path` and `--flag /path` arguments whose path is under a mount, rewritten. */
function mapPaths(args: string[], ctx: ImageContext): string[] {
  return args.map((a, i) => {
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) return a.slice(0, eq + 1) + hostPath(a.slice(eq + 1), ctx);
    const prev = args[i - 1];
    if (prev?.startsWith('--') && !prev.includes('=') && a.startsWith('/')) return hostPath(a, ctx);
    return a;
  });
}

/** The command line of a `prom/prometheus` container, after `ambit` (app image). */
export function prometheusArgv(args: string[], ctx: ImageContext | undefined): string[] {
  return ['lab', 'app', 'prometheus', ...(ctx ? mapPaths(args, ctx) : args)];
}
