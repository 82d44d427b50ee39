/**
 * The suite's runner (scripts/test.sh calls it after the static checks): `node --test` over the
 * unit, direct and netns tiers, but the known-slow files first. `node --test` sorts the files it
 * is given by path (createTestFileList in Node's lib/internal/test_runner/runner.js), so the
 * longest lab file used to start last and set the run's wall time; node:test's `run()` keeps
 * the order of `files`, with the same semantics otherwise: each file in its own process,
 * `concurrency` files at a time, the per-test timeout, the spec reporter (which prints a file's
 * results together, then the totals and the failing tests with their errors). At the end: the
 * 15 slowest files with their durations, so helpers/slow-files.ts can be kept in order, and how
 * busy the machine's CPUs were over the run (/proc/stat), which says whether more files at a
 * time could pay (a run near 100 % busy is CPU-bound: more concurrency only adds contention).
 *
 * Usage: node dist/test/run.js [file …]   (default: every dist/test/{unit,direct,netns} file)
 * AMBIT_TEST_CONCURRENCY: files at a time (default 3: netns files build whole labs and three
 * keep a 2-core machine responsive). AMBIT_TEST_FILE_LIMIT_S: how long one file's process may run
 * before the watchdog (helpers/watchdog.ts) kills it (default 900).
 */
import { globSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';
import { slowFiles } from './helpers/slow-files.js';
import { startWatchdog } from './helpers/watchdog.js';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tiers = ['unit', 'direct', 'netns'];
const timeoutMs = 600_000;
/** A file's process may live this long (AMBIT_TEST_FILE_LIMIT_S; the slowest take ~4 min). */
const fileLimitMs = Number(process.env.AMBIT_TEST_FILE_LIMIT_S ?? 900) * 1000;

function concurrency(): number {
  const raw = process.env.AMBIT_TEST_CONCURRENCY ?? '3';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`AMBIT_TEST_CONCURRENCY must be a positive integer, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

/** The files to run, slow ones first in slow-files.ts order, then the rest by path. */
export function orderFiles(files: readonly string[]): string[] {
  const rank = new Map(slowFiles.map((f, i) => [path.join(dist, `${f}.js`), i]));
  const key = (f: string): number => rank.get(f) ?? slowFiles.length;
  return [...files].sort((a, b) => key(a) - key(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function listFiles(args: readonly string[]): string[] {
  if (args.length > 0) return args.map((a) => path.resolve(a));
  return tiers.flatMap((t) =>
    globSync(`test/${t}/**/*.test.js`, { cwd: dist }).map((f) => path.join(dist, f)),
  );
}

/** Busy and total jiffies of all CPUs (/proc/stat's `cpu` line); undefined off Linux. */
function cpuJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    // idle and iowait are the not-busy columns (the 4th and 5th).
    return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(): Promise<void> {
  const files = orderFiles(listFiles(process.argv.slice(2)));
  if (files.length === 0) {
    console.error('no test files found under dist/test (run `npm run build` first)');
    process.exit(1);
  }
  const durations = new Map<string, number>();
  let failed = false;
  const started = Date.now();
  const cpu0 = cpuJiffies();
  const stopWatchdog = startWatchdog(fileLimitMs);
  const stream = run({
    files,
    concurrency: concurrency(),
    timeout: timeoutMs,
    isolation: 'process',
  });
  stream.on('test:fail', () => {
    failed = true;
  });
  // A file's own test (nesting 0, named by its path) completes when its process exits; it fails
  // when the process does (a crash, an uncaught error outside any test, the timeout).
  stream.on('test:complete', (data) => {
    if (data.nesting !== 0 || data.file === undefined || data.name !== data.file) return;
    durations.set(data.file, data.details.duration_ms);
    if (!data.details.passed) failed = true;
  });
  const reported = stream.compose(spec);
  reported.pipe(process.stdout);
  await new Promise<void>((resolve, reject) => {
    reported.on('end', resolve);
    reported.on('error', reject);
  });
  stopWatchdog();
  const slowest = [...durations].sort((a, b) => b[1] - a[1]).slice(0, 15);
  console.log(`\nslowest files (of ${durations.size}; wall ${seconds(Date.now() - started)}):`);
  for (const [file, ms] of slowest) {
    console.log(`  ${seconds(ms).padStart(8)}  ${path.relative(dist, file)}`);
  }
  const cpu1 = cpuJiffies();
  if (cpu0 && cpu1 && cpu1.total > cpu0.total) {
    const busy = (100 * (cpu1.busy - cpu0.busy)) / (cpu1.total - cpu0.total);
    console.log(
      `machine CPU ${busy.toFixed(0)} % busy over the run (${availableParallelism()} CPUs, every process on the machine counted)`,
    );
  }
  if (failed) process.exitCode = 1;
}

await main();
