// `ambit lab apiserver` as its own process: files it writes, SIGTERM, restart on the same port.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import { repoRoot } from '../../src/repo.js';

const lab = `ta${process.pid.toString(36).slice(-4)}`;

void describe('ambit lab apiserver', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'ambit-apiserver-main-'));
  const state = path.join(base, 'labs', lab);
  const procs: ChildProcess[] = [];
  after(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  });

  const start = async (): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> => {
    const proc = spawn(
      path.join(repoRoot(), 'bin', 'ambit'),
      ['lab', 'apiserver', '--lab', lab, '--state-dir', base],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, AMBIT_LOG: 'info' } },
    );
    procs.push(proc);
    let err = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    for (let i = 0; i < 300; i++) {
      // The url file is written once the server serves; a previous run's file may exist.
      if (/ ready /.test(err))
        return {
          proc,
          url: readFileSync(path.join(state, 'apiserver.url'), 'utf8').trim(),
          stderr: () => err,
        };
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`apiserver did not start: ${err}`);
  };
  const stop = (proc: ChildProcess): Promise<number | null> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      proc.kill('SIGTERM');
    });

  void test('serves TLS, writes url, CA and kubeconfig, stops on SIGTERM, keeps its port', async () => {
    const a = await start();
    assert.match(a.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const kubeconfigFile = path.join(state, 'kubeconfig');
    const kc = parse(readFileSync(kubeconfigFile, 'utf8')) as {
      'current-context': string;
      clusters: {
        name: string;
        cluster: { server: string; 'certificate-authority-data': string };
      }[];
    };
    assert.equal(kc['current-context'], lab);
    assert.equal(kc.clusters[0]?.cluster.server, a.url);
    const caPem = readFileSync(path.join(state, 'pki', 'ca.crt'), 'utf8');
    assert.equal(
      Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(),
      caPem,
    );
    // The serving certificate verifies against the lab CA for the loopback address...
    const client = KubeClient.fromKubeconfig(kubeconfigFile);
    // ...and not against another CA (no trust without the CA: the client refuses the server).
    await assert.rejects(
      new KubeClient({ server: a.url }).request('GET', '/version'),
      /self-signed|unable to verify|issuer/i,
    );
    const cert = new X509Certificate(readFileSync(path.join(state, 'pki', 'admin.crt'), 'utf8'));
    assert.match(cert.subject, /O=system:masters/);
    assert.ok(
      cert.verify(new X509Certificate(caPem).publicKey),
      'the admin cert is signed by the CA',
    );
    await client.create(resources.configmaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'persisted', namespace: 'default' },
    });
    assert.equal(await stop(a.proc), 0, a.stderr());
    assert.ok(existsSync(path.join(state, 'apiserver', 'snapshot.json')));

    const b = await start();
    assert.equal(b.url, a.url, 'a restart reuses the port, so kubeconfigs stay valid');
    const cm = await KubeClient.fromKubeconfig(kubeconfigFile).get(
      resources.configmaps,
      'persisted',
      'default',
    );
    assert.equal(cm.metadata.name, 'persisted');
    assert.equal(await stop(b.proc), 0, b.stderr());
  });
});
