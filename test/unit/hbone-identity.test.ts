/**
 * IdentityManager against a real (fake) CA with mocked timers and clock: half-life refresh,
 * backoff that keeps a valid certificate, no expired certificate ever, the 8-fetch limit with
 * on-demand fetches first, forget and dump.
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeCa, spiffe, type FakeCa } from '../helpers/fake-ca.js';
import { IdentityManager } from '../../src/identity/manager.js';
import { Backoff } from '../../src/identity/backoff.js';
import { isCode } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { IssuedCertificate } from '../../src/xds/types.js';

const T0 = 1_800_000_000_000; // a whole second: X.509 times have second precision
const ID = spiffe('default', 'httpbin');
const quiet = createLogger('test', () => undefined);

/** Lets real async work (webcrypto, promise chains) run while timers are mocked. */
async function settle(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Waits up to 5 s of real time (timers are mocked; performance.now() is not). */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (performance.now() < deadline) {
    if (cond()) return;
    await settle(5);
  }
  assert.fail(`never happened: ${what}`);
}

function serialOf(m: IdentityManager, id = ID): string | undefined {
  return m.dump().find((d) => d.identity === id)?.serial;
}

void describe('IdentityManager', () => {
  let ca: FakeCa;
  let managers: IdentityManager[] = [];

  beforeEach(async () => {
    ca ??= await createFakeCa();
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
  });
  afterEach(() => {
    for (const m of managers) m.close();
    managers = [];
    mock.timers.reset();
  });

  const manager = (fetch: (id: string) => Promise<IssuedCertificate>, concurrency?: number) => {
    const m = new IdentityManager({ fetch, log: quiet, concurrency });
    managers.push(m);
    return m;
  };
  /** 10 s certificates starting now: half-life 5 s. */
  const issue10s = (id: string) => ca.issue(id, 10_000, { notBefore: new Date(Date.now()) });

  void it('fetches once for concurrent gets and dumps the certificate', async () => {
    let fetches = 0;
    const m = manager((id) => {
      fetches++;
      return issue10s(id);
    });
    const [a, b] = await Promise.all([m.get(ID), m.get(ID)]);
    assert.equal(fetches, 1);
    assert.equal(a, b);
    const [d] = m.dump();
    assert.equal(d?.identity, ID);
    assert.equal(d?.state, 'Available');
    assert.match(d?.serial ?? '', /^[0-9A-F]+$/i);
    assert.equal(d?.validFrom, new Date(T0).toISOString());
    assert.equal(d?.expirationTime, new Date(T0 + 10_000).toISOString());
  });

  void it('refreshes at half-life', async () => {
    let fetches = 0;
    const m = manager((id) => {
      fetches++;
      return issue10s(id);
    });
    await m.get(ID);
    const first = serialOf(m);
    mock.timers.tick(4_900);
    await settle();
    assert.equal(fetches, 1, 'no refresh before half-life');
    mock.timers.tick(200);
    await until('refreshed', () => serialOf(m) !== first);
    assert.equal(fetches, 2);
    assert.notEqual((await m.get(ID)).certChainPem[0], undefined);
    assert.equal(m.dump()[0]?.validFrom, new Date(T0 + 5_000).toISOString());
  });

  void it('backs off on failure, keeps the valid certificate, never hands out an expired one', async () => {
    let failing = false;
    const attempts: number[] = [];
    const m = manager((id) => {
      attempts.push(Date.now());
      return failing ? Promise.reject(new Error('CA unavailable')) : issue10s(id);
    });
    const cert = await m.get(ID);
    failing = true;
    // Half-life at 5 s, then retries after ~0.5, 1, 2 s (±20 %).
    for (let t = 0; t < 9_000; t += 50) {
      mock.timers.tick(50);
      await settle(3);
    }
    const fails = attempts.slice(1);
    assert.ok(fails.length >= 3, `retried ${fails.length} times`);
    assert.ok((fails[0] ?? 0) - T0 >= 5_000);
    const gaps = fails.slice(1).map((t, i) => t - (fails[i] ?? 0));
    const expected = [500, 1000, 2000];
    gaps.slice(0, 3).forEach((g, i) => {
      const e = expected[i] ?? 0;
      assert.ok(g >= e * 0.8 - 50 && g <= e * 1.2 + 50, `gap ${i} ${g} ms vs ${e} ms`);
    });
    // Still valid at 9 s: the old certificate keeps serving.
    assert.equal(await m.get(ID), cert);
    assert.equal(m.dump()[0]?.state, 'Available');
    // Past notAfter: never the expired certificate.
    mock.timers.tick(1_100);
    await settle();
    await assert.rejects(m.get(ID), (err: unknown) => isCode(err, 'IDENTITY_UNAVAILABLE'));
    assert.match(m.dump()[0]?.state ?? '', /^Unavailable: .*CA unavailable/);
    assert.equal(m.dump()[0]?.serial, undefined);
    // The CA comes back: the next retry restores a certificate. The clock stands still while
    // the CA signs, as a real one would not age a certificate by seconds.
    failing = false;
    const tries = attempts.length;
    for (let i = 0; i < 2000 && attempts.length === tries; i++) {
      mock.timers.tick(10);
      await settle(2);
    }
    await until('certificate restored', () => m.dump()[0]?.state === 'Available');
    const fresh = await m.get(ID);
    assert.notEqual(fresh, cert);
    assert.ok(fresh.notAfter.getTime() > Date.now());
  });

  void it('backoff grows ×2 with ±20 % jitter up to 150 s', () => {
    const lo = new Backoff(undefined, () => 0);
    const hi = new Backoff(undefined, () => 1);
    const los = Array.from({ length: 12 }, () => lo.delay());
    const his = Array.from({ length: 12 }, () => hi.delay());
    assert.deepEqual(los.slice(0, 4), [400, 800, 1600, 3200]);
    assert.deepEqual(his.slice(0, 4), [600, 1200, 2400, 4800]);
    assert.equal(his.at(-1), 150_000);
    assert.equal(los.at(-1), 120_000);
    lo.reset();
    assert.equal(lo.delay(), 400);
  });

  void it('runs at most 8 fetches at once, on-demand gets before prefetches', async () => {
    const pending = new Map<string, () => void>();
    const started: string[] = [];
    let done = 0;
    let maxInFlight = 0;
    const m = manager(
      (id) =>
        new Promise<IssuedCertificate>((resolve, reject) => {
          started.push(id);
          maxInFlight = Math.max(maxInFlight, started.length - done);
          pending.set(id, () =>
            issue10s(id).then((c) => {
              done++;
              resolve(c);
            }, reject),
          );
        }),
    );
    const ids = Array.from({ length: 20 }, (_, i) => spiffe('ns', `sa${i}`));
    m.prefetch(ids);
    await settle();
    assert.equal(started.length, 8);
    // A connection needs sa19 now: it goes ahead of the 12 queued prefetches.
    const urgent = m.get(ids[19] ?? '');
    pending.get(ids[0] ?? '')?.();
    pending.delete(ids[0] ?? '');
    await until('next fetch started', () => started.length === 9);
    assert.equal(started[8], ids[19]);
    pending.get(ids[19] ?? '')?.();
    pending.delete(ids[19] ?? '');
    assert.equal((await urgent).identity, ids[19]);
    // Drain the rest.
    for (let i = 0; i < 40 && done < 20; i++) {
      await until('a fetch pending or all done', () => pending.size > 0 || done === 20);
      for (const [id, go] of [...pending]) {
        pending.delete(id);
        go();
      }
    }
    await until('all issued', () => m.dump().every((d) => d.state === 'Available'));
    assert.equal(started.length, 20);
    assert.equal(maxInFlight, 8);
  });

  void it('a hung CA call times out, frees its slot and is retried', async () => {
    let calls = 0;
    const m = manager((id) => {
      calls++;
      return calls === 1 ? new Promise<IssuedCertificate>(() => undefined) : issue10s(id);
    }, 1);
    const first = m.get(ID);
    mock.timers.tick(30_000);
    await assert.rejects(first, (err: unknown) => isCode(err, 'IDENTITY_FETCH_TIMEOUT'));
    assert.match(m.dump()[0]?.state ?? '', /^Unavailable: .*timed out/);
    // The only slot is free again: the backoff retry runs and succeeds.
    for (let i = 0; i < 200 && calls < 2; i++) {
      mock.timers.tick(50);
      await settle(2);
    }
    await until('certificate issued', () => m.dump()[0]?.state === 'Available');
    assert.equal(calls, 2);
  });

  void it('rejects a certificate for another identity', async () => {
    const m = manager(() => ca.issue(spiffe('default', 'someone-else'), 10_000));
    await assert.rejects(m.get(ID), (err: unknown) => isCode(err, 'IDENTITY_BAD_CERT'));
  });

  void it('forget drops the identity and its refresh', async () => {
    let fetches = 0;
    const m = manager((id) => {
      fetches++;
      return issue10s(id);
    });
    await m.get(ID);
    m.forget(ID);
    assert.deepEqual(m.dump(), []);
    mock.timers.tick(20_000);
    await settle();
    assert.equal(fetches, 1);
  });
});
