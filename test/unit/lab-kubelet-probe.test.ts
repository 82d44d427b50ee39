/**
 * The lab kubelet's readiness probe: the kubelet's thresholds (a pod leaves its Service only
 * after `failureThreshold` failures in a row spanning that many periods) and `timeoutSeconds`,
 * against a real HTTP server.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import type { Container } from '../../src/k8s/types.js';
import { probeReady, readinessAfter, type ProbeStreak } from '../../src/lab/kubelet/probe.js';

/** Readiness after each result in turn, one per second (the lab kubelet's pace), from not ready. */
function run(results: boolean[], probe: Container['readinessProbe']): boolean[] {
  const streak: ProbeStreak = { fails: 0, oks: 0 };
  let ready = false;
  return results.map((ok, i) => (ready = readinessAfter(ready, ok, streak, probe, i * 1000)));
}

const pass = (n: number) => Array.from({ length: n }, () => true);
const fail = (n: number) => Array.from({ length: n }, () => false);

void describe('lab kubelet readiness thresholds', () => {
  const probe = { httpGet: { port: 1 } };

  it('ready on the first pass; not ready only after 20 s of failures (3 probes 10 s apart)', () => {
    const r = run([...fail(2), true, ...fail(5), true, ...fail(21), true], probe);
    assert.deepEqual(r.slice(0, 3), [false, false, true], 'ready at the first pass');
    assert.ok(r.slice(2, 9).every(Boolean), 'five failures in a row: still ready');
    assert.deepEqual(r.slice(9, 30), [...pass(20), false], 'out after 20 s of failing');
    assert.equal(r[30], true, 'back at the next pass');
  });

  it('periodSeconds, failureThreshold and successThreshold from the spec', () => {
    const p = { ...probe, periodSeconds: 1, failureThreshold: 2, successThreshold: 2 };
    assert.deepEqual(run([true, true, false, true, false, false, true, true], p), [
      false,
      true,
      true,
      true,
      true,
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
