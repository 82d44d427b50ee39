/**
 * `ambit lab app prometheus <prometheus flags>`: what image `prom/prometheus` runs in the lab.
 * Starts Debian's /usr/bin/prometheus (the real server: scraping, TSDB, HTTP API) as a child
 * in the same pod network namespace with the container's own flags, after two lab steps:
 * - a discovery server on the pod's loopback answers Prometheus' HTTP SD with the targets of
 *   Kubernetes' `pod` role, listed from the API server in-cluster (KUBERNETES_SERVICE_HOST/PORT,
 *   the service-account token and ca.crt; discovery.ts); the config file is rewritten to poll it (config.ts) into
 *   `<pod dir>/prometheus.lab.yml`;
 * - the TSDB defaults to `<pod dir>/tsdb` instead of the image's /prometheus.
 * SIGTERM/SIGINT go to the child's PID (Prometheus flushes its head block and exits); the app
 * exits with its exit code, and stops when it stops.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../../../errors.js';
import { KubeClient } from '../../../k8s/client.js';
import { resources } from '../../../k8s/resources.js';
import type { Pod } from '../../../k8s/types.js';
import { createLogger } from '../../../log.js';
import { start } from '../../../sys/exec.js';
import { stopProcess } from '../../../sys/process.js';
import { flagValue, rewriteConfig, type SdRequest } from './config.js';
import { podTargetGroups, type TargetGroup } from './discovery.js';

export const PROMETHEUS_BINARY = '/usr/bin/prometheus';
const DEFAULT_CONFIG = '/etc/prometheus/prometheus.yml';
/** Prometheus' own shutdown is quick; its chart allows 300 s. */
const STOP_GRACE_MS = 60_000;

function withFlag(args: string[], flag: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith(`${flag}=`)) continue;
    if (a === flag) {
      i++;
      continue;
    }
    out.push(a);
  }
  return [...out, `${flag}=${value}`];
}

async function targets(client: KubeClient, req: SdRequest): Promise<TargetGroup[]> {
  if (req.role !== 'pod') return [];
  const lists =
    req.namespaces.length === 0
      ? [await client.list<Pod>(resources.pods)]
      : await Promise.all(
          req.namespaces.map((n) => client.list<Pod>(resources.pods, { namespace: n })),
        );
  return podTargetGroups(lists.flatMap((l) => l.items));
}

function discoveryServer(
  client: KubeClient,
  requests: () => SdRequest[],
  log: ReturnType<typeof createLogger>,
): http.Server {
  const warned = new Set<string>();
  return http.createServer((req, res) => {
    const m = /^\/sd\/(\d+)$/.exec((req.url ?? '').split('?')[0]!);
    const sd = m ? requests()[Number(m[1])] : undefined;
    if (!sd) {
      res.writeHead(404).end('no such discovery entry\n');
      return;
    }
    if (sd.role !== 'pod' && !warned.has(sd.role)) {
      warned.add(sd.role);
      log.warn('kubernetes_sd_configs role not discovered in the lab; no targets', {
        role: sd.role,
      });
    }
    targets(client, sd).then(
      (groups) => {
        const body = JSON.stringify(groups);
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      },
      (err: unknown) => {
        log.warn('pod discovery failed', { error: errorMessage(err) });
        res.writeHead(503).end(`${errorMessage(err)}\n`);
      },
    );
  });
}

export async function runPrometheus(args: string[], env = process.env): Promise<number> {
  const log = createLogger('prometheus');
  const podDir = env.AMBIT_POD_DIR ?? mkdtempSync(join(tmpdir(), 'ambit-prometheus-'));
  const configFile = flagValue(args, '--config.file') ?? DEFAULT_CONFIG;
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (err) {
    throw new AmbitError(
      'PROMETHEUS_BAD_CONFIG',
      `cannot read ${configFile}: ${errorMessage(err)}`,
      {
        value: configFile,
        hint: 'mount a ConfigMap with prometheus.yml at the --config.file path',
      },
    );
  }
  // In-cluster, as Prometheus' own kubernetes_sd_configs connects: https to
  // $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the service-account token and ca.crt.
  const client = KubeClient.fromEnv(
    env.KUBERNETES_SERVICE_HOST
      ? {
          KUBERNETES_SERVICE_HOST: env.KUBERNETES_SERVICE_HOST,
          KUBERNETES_SERVICE_PORT: env.KUBERNETES_SERVICE_PORT,
        }
      : env,
  );
  let requests: SdRequest[] = [];
  const server = discoveryServer(client, () => requests, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const rewritten = rewriteConfig(text, `http://127.0.0.1:${port}`);
  requests = rewritten.requests;
  const labConfig = join(podDir, 'prometheus.lab.yml');
  writeFileSync(labConfig, rewritten.yaml);
  let argv = withFlag(args, '--config.file', labConfig);
  if (flagValue(argv, '--storage.tsdb.path') === undefined)
    argv = withFlag(argv, '--storage.tsdb.path', join(podDir, 'tsdb'));
  mkdirSync(flagValue(argv, '--storage.tsdb.path')!, { recursive: true });
  log.info('starting', {
    binary: PROMETHEUS_BINARY,
    config: labConfig,
    discovery: `127.0.0.1:${port}`,
    jobs: requests.length,
  });

  const child = start(PROMETHEUS_BINARY, argv, { stdio: 'inherit' });
  const pid = child.pid;
  const stop = (signal: string) => {
    log.info('signal received; stopping prometheus', { signal, pid });
    if (pid !== undefined) void stopProcess(pid, STOP_GRACE_MS);
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  try {
    const code = await child.exited;
    log.info('prometheus exited', { pid, code });
    return code;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    server.close();
  }
}
