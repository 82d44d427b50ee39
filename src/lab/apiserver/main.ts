/**
 * `ambit lab apiserver --lab N [--state-dir D] [--port P]`: runs the lab API server until
 * SIGTERM/SIGINT. State in `<D>/labs/<N>/` (D defaults to $AMBIT_STATE_DIR or /var/lib/ambit);
 * writes `apiserver.url`, `kubeconfig` (cluster-admin) and `pki/` (CA, serving certificate,
 * the lab daemons' kubeconfigs) there. HTTPS only. Also listens on 172.18.0.2:6443 inside
 * `<N>-control-plane` when that network namespace exists.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stopSignal } from '../../daemon.js';
import { AmbitError, errorMessage } from '../../errors.js';
import { createLogger } from '../../log.js';
import { labPaths, stateBase } from '../cluster/paths.js';
import { DEFAULT_LAB } from '../conventions.js';
import { writeCredentials } from './credentials.js';
import { kubernetesServiceNames, LabPki } from './pki.js';
import { DEFAULT_SERVICE_CIDR, ServiceRange } from '../cluster/service-range.js';
import { startApiServer, type ApiServer } from './server.js';

export const labApiHost = '172.18.0.2';
export const labApiPort = 6443;

interface Args {
  lab: string;
  stateDir: string;
  port?: number;
}

function usage(msg: string): never {
  throw new AmbitError('CLI_USAGE', msg, {
    hint: 'usage: ambit lab apiserver --lab N [--state-dir D] [--port P]',
  });
}

function parseArgs(args: string[]): Args {
  let lab = DEFAULT_LAB;
  let base = process.env.AMBIT_STATE_DIR || stateBase();
  let port: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = args[i + 1];
    if (a === '--lab' && v) {
      lab = v;
      i++;
    } else if (a === '--state-dir' && v) {
      base = v;
      i++;
    } else if (a === '--port' && v) {
      port = Number(v);
      if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${v}`);
      i++;
    } else usage(`unknown argument ${a}`);
  }
  if (!/^[a-z0-9][a-z0-9-]{0,7}$/.test(lab)) usage(`bad lab name ${lab} (≤ 8 lowercase chars)`);
  return { lab, stateDir: labPaths(lab, { AMBIT_STATE_DIR: base }).dir, port };
}

/** The loopback port of the previous run, so users' kubeconfigs stay valid across restarts. */
function previousPort(stateDir: string): number | undefined {
  try {
    const u = new URL(readFileSync(path.join(stateDir, 'apiserver.url'), 'utf8').trim());
    return Number(u.port) || undefined;
  } catch {
    return undefined;
  }
}

interface ClusterView {
  name: string;
  ip: string;
  nodes: string[];
  serviceCIDR: string;
}

function clusterOf(stateDir: string): ClusterView {
  try {
    const c = JSON.parse(readFileSync(path.join(stateDir, 'cluster.json'), 'utf8')) as {
      nodes?: { name: string; ip: string; role?: string }[];
      serviceCIDR?: string;
    };
    const n = c.nodes?.find((x) => x.role === 'control-plane');
    const serviceCIDR = c.serviceCIDR ?? DEFAULT_SERVICE_CIDR;
    if (n)
      return { name: n.name, ip: n.ip, nodes: (c.nodes ?? []).map((x) => x.name), serviceCIDR };
  } catch {
    /* no cluster file: the default lab */
  }
  return { name: 'control-plane', ip: labApiHost, nodes: [], serviceCIDR: DEFAULT_SERVICE_CIDR };
}

export async function run(args: string[]): Promise<number> {
  const log = createLogger('apiserver');
  let a: Args;
  try {
    a = parseArgs(args);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  mkdirSync(a.stateDir, { recursive: true });
  // The in-lab listener sits on the control-plane node; a custom cluster file may name and
  // address that node differently (`lab up` records the cluster in <state>/cluster.json).
  const cp = clusterOf(a.stateDir);
  const netns = `${a.lab}-${cp.name}`;
  const netnsListen = existsSync(`/run/netns/${netns}`)
    ? { netns, host: cp.ip, port: labApiPort }
    : undefined;
  let pki: LabPki;
  let serving: Awaited<ReturnType<LabPki['serving']>>;
  try {
    pki = await LabPki.open(path.join(a.stateDir, 'pki'));
    serving = await pki.serving([
      '127.0.0.1',
      cp.ip,
      new ServiceRange(cp.serviceCIDR).kubernetesIP,
      ...kubernetesServiceNames,
    ]);
  } catch (err) {
    log.error('cannot set up the cluster CA', { error: errorMessage(err) });
    return 1;
  }
  const start = (port: number): Promise<ApiServer> =>
    startApiServer({
      stateDir: a.stateDir,
      listen: [{ host: '127.0.0.1', port }],
      netnsListen,
      log,
      tls: { keyPem: serving.keyPem, certPem: serving.certPem + pki.caPem, caPem: pki.caPem },
      advertise: { ip: cp.ip, port: labApiPort },
      rbac: true,
      serviceCIDR: cp.serviceCIDR,
    });
  let server: ApiServer;
  try {
    const prev = a.port ?? previousPort(a.stateDir);
    try {
      server = await start(prev ?? 0);
    } catch (err) {
      if (a.port !== undefined || prev === undefined) throw err;
      log.warn('previous port is taken, picking another', { port: prev });
      server = await start(0);
    }
  } catch (err) {
    log.error('cannot start', { error: errorMessage(err) });
    return 1;
  }
  const url = server.urls[0]!;
  const inLabUrl = netnsListen ? `https://${cp.ip}:${labApiPort}` : undefined;
  try {
    // Credentials first: apiserver.url is what `lab up` waits for.
    await writeCredentials({
      pki,
      lab: a.lab,
      labDir: a.stateDir,
      userUrl: url,
      inLabUrl,
      nodes: cp.nodes,
    });
  } catch (err) {
    log.error('cannot write the kubeconfigs', { error: errorMessage(err) });
    await server.close();
    return 1;
  }
  writeFileSync(path.join(a.stateDir, 'apiserver.url'), url + '\n');
  log.info('ready', { lab: a.lab, url, inLab: inLabUrl ?? 'no', ca: pki.caFile });

  log.info('stopping', { signal: await stopSignal() });
  try {
    await server.close();
    return 0;
  } catch (err) {
    log.error('close failed', { error: errorMessage(err) });
    return 1;
  }
}
