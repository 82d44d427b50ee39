/**
 * Shared settings and the one property of the fuzz tests (test/unit/fuzz-*.test.ts): a parser fed
 * bytes from the network or the API either returns, or throws an AmbitError whose code is in the
 * catalogue; any other throw is a bug. Runs are seeded and bounded so CI is repeatable; set
 * AMBIT_FUZZ_RUNS (and AMBIT_FUZZ_SEED) for a longer run by hand. A hang is caught by each
 * test's own timeout.
 */
import assert from 'node:assert/strict';
import type { Parameters as FcParameters } from 'fast-check';
import { AmbitError, ERROR_CODES } from '../../src/errors.js';

export function fuzzParams<T>(runs = 300): FcParameters<T> {
  return {
    seed: Number(process.env.AMBIT_FUZZ_SEED ?? 0x5eed),
    numRuns: Number(process.env.AMBIT_FUZZ_RUNS ?? runs),
  };
}

/** Throws unless `err` is an AmbitError carrying a catalogued code. */
export function assertCatalogued(err: unknown, input: unknown): void {
  if (err instanceof AmbitError && err.code in ERROR_CODES) return;
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  assert.fail(`uncatalogued throw (${what}) for input ${JSON.stringify(input)?.slice(0, 300)}`);
}

/** Runs `f`; a clean result or a catalogued AmbitError passes. */
export function cleanOrCatalogued<R>(f: () => R, input: unknown): R | undefined {
  try {
    return f();
  } catch (err) {
    assertCatalogued(err, input);
    return undefined;
  }
}

export async function cleanOrCataloguedAsync<R>(
  f: () => Promise<R>,
  input: unknown,
): Promise<R | undefined> {
  try {
    return await f();
  } catch (err) {
    assertCatalogued(err, input);
    return undefined;
  }
}
