/** A lab API server in-process on loopback and the real kubectl (/usr/bin/kubectl) against it. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import { kubeconfig } from '../../src/lab/apiserver/kubeconfig.js';
import { startApiServer, type ApiServer } from '../../src/lab/apiserver/server.js';
import type { LabPod } from '../../src/lab/controllers/types.js';
import { createLogger } from '../../src/log.js';

export const kubectlBin = '/usr/bin/kubectl';
export const skipUnlessKubectl: false | string = existsSync(kubectlBin)
  ? false
  : `no ${kubectlBin}`;

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlHarness {
  dir: string;
  server: ApiServer;
  client: KubeClient;
  kubeconfigPath: string;
  /** Runs kubectl asynchronously (the server runs in this process and must keep serving). */
  kubectl(...args: string[]): Promise<KubectlResult>;
  /** kubectl that must succeed; its stdout. */
  ok(...args: string[]): Promise<string>;
  file(name: string, text: string): string;
  close(): Promise<void>;
}

export async function startKubectlHarness(tag: string): Promise<KubectlHarness> {
  const dir = mkdtempSync(path.join(tmpdir(), `ambit-${tag}-`));
  const server = await startApiServer({
    stateDir: dir,
    listen: [{ host: '127.0.0.1', port: 0 }],
    log: createLogger('apiserver', () => undefined),
  });
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const kubeconfigPath = file('kubeconfig', kubeconfig('t', server.urls[0]!));
  const kubectl = (...args: string[]): Promise<KubectlResult> =>
    new Promise((resolve) => {
      execFile(
        kubectlBin,
        ['--kubeconfig', kubeconfigPath, '--cache-dir', path.join(dir, 'cache'), ...args],
        { timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  return {
    dir,
    server,
    client: new KubeClient({ server: server.urls[0]! }),
    kubeconfigPath,
    kubectl,
    ok: async (...args) => {
      const r = await kubectl(...args);
      assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    },
    file,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The kubelet's report for every scheduled, not yet running pod whose name starts with `prefix`. */
export async function markPodsReady(
  client: KubeClient,
  namespace: string,
  prefix: string,
  ipBase = '10.244.1.',
): Promise<number> {
  const list = await client.list<LabPod>(resources.pods, { namespace });
  let n = 0;
  const used = new Set(list.items.map((x) => x.status?.podIP));
  for (const p of list.items) {
    if (!p.metadata.name.startsWith(prefix) || p.metadata.deletionTimestamp) continue;
    if (!p.spec?.nodeName || p.status?.phase === 'Running') continue;
    let ip = '';
    for (let i = 10; i < 250 && (ip === '' || used.has(ip)); i++) ip = `${ipBase}${i}`;
    // Read it again: the scheduler may just have bound it (a stale version would conflict).
    const cur = await client.get<LabPod>(resources.pods, p.metadata.name, namespace);
    await client.updateStatus(resources.pods, {
      ...cur,
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() },
        ],
      },
    });
    used.add(ip);
    n++;
  }
  return n;
}

/** A Ready worker node for the scheduler. */
export async function createWorkerNode(client: KubeClient, name = 'worker'): Promise<void> {
  await client.create(resources.nodes, {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
    status: {
      addresses: [{ type: 'InternalIP', address: '172.18.0.4' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  });
}

/** Polls `fn` every 50 ms, at most `tries` times. */
export async function until(what: string, fn: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
