/**
 * The lab kubelet's readiness probe: the kubelet's thresholds (a pod leaves its Service only
 * after `failureThreshold` failures in a row) and `timeoutSeconds`, against a real HTTP server.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import type { Container } from '../../src/k8s/types.js';
import { probeReady, readinessAfter, type ProbeStreak } from '../../src/lab/kubelet/probe.js';

/** Readiness after each result in turn, from not ready. */
function run(results: boolean[], probe: Container['readinessProbe']): boolean[] {
  const streak: ProbeStreak = { fails: 0, oks: 0 };
  let ready = false;
  return results.map((ok) => (ready = readinessAfter(ready, ok, streak, probe)));
}

void describe('lab kubelet readiness thresholds', () => {
  const probe = { httpGet: { port: 1 } };

  it('ready on the first pass; not ready only after 3 failures in a row (Kubernetes defaults)', () => {
    assert.deepEqual(run([false, true, false, false, true, false, false, false, true], probe), [
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      true,
    ]);
  });

  it('failureThreshold and successThreshold from the spec', () => {
    const p = { ...probe, failureThreshold: 1, successThreshold: 2 };
    assert.deepEqual(run([true, true, false, true, false, true, true], p), [
      false,
      true,
      false,
      false,
      false,
      false,
      true,
    ]);
  });

  it('an answer later than timeoutSeconds is a failure; within it, a pass', async () => {
    const server = http.createServer((_req, res) => {
      setTimeout(() => res.end('ok'), 1300);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const c = (extra: object): Container => ({
        name: 'c',
        readinessProbe: { httpGet: { path: '/', port }, ...extra },
      });
      assert.equal(await probeReady(c({}), '127.0.0.1'), false, 'default timeout 1 s');
      assert.equal(await probeReady(c({ timeoutSeconds: 3 }), '127.0.0.1'), true);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
