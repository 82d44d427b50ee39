/**
 * `--baseline <git-ref>`: the same bench run also measures the ztunnels of another commit, side
 * by side with this one (issue 14: "benchmarks show no regression (same run, before vs after)").
 * The ref is built in a temporary git worktree under the OS temp dir (`node_modules` and
 * `.runtime` symlinked to this checkout's, then `tsc`), and the ztunnels of two extra nodes
 * (worker5 client side, worker6 server side: `BASELINE_NODES` in setup.ts) run its `bin/ambit`.
 * Everything else on those nodes (kubelet, node agent, istiod) is this commit's: only the
 * ztunnel data path differs between `mesh` and `mesh-baseline`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../src/errors.js';

export interface Baseline {
  /** What was asked for (`HEAD~3`, a branch, a commit). */
  ref: string;
  /** Its short commit id. */
  commit: string;
  /** The temporary worktree holding its build. */
  dir: string;
}

function git(cwd: string, args: string[]): string {
  return execFileSync('git', ['-C', cwd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** The short commit `ref` names in `repo`; BENCH_BASELINE_BUILD when it names none. */
export function resolveRef(repo: string, ref: string): string {
  try {
    return git(repo, ['rev-parse', '--short', '--verify', `${ref}^{commit}`]);
  } catch (err) {
    throw new AmbitError('BENCH_BASELINE_BUILD', `--baseline ${ref}: not a commit of ${repo}`, {
      value: ref,
      hint: `git rev-parse ${ref} must name a commit (e.g. --baseline HEAD~1, --baseline main): ${errorMessage(err)}`,
    });
  }
}

/**
 * Checks `ref` out into a fresh detached worktree and compiles it (its own tsconfig), with this
 * checkout's `node_modules` and `.runtime` linked in. `log` gets progress lines.
 */
export function buildBaseline(repo: string, ref: string, log: (l: string) => void): Baseline {
  const commit = resolveRef(repo, ref);
  const dir = mkdtempSync(join(os.tmpdir(), `ambit-baseline-${commit}-`));
  const b: Baseline = { ref, commit, dir };
  try {
    log(`baseline: git worktree add ${dir} ${commit} (${ref})`);
    git(repo, ['worktree', 'add', '--detach', '--force', dir, commit]);
    for (const link of ['node_modules', '.runtime']) {
      if (existsSync(join(repo, link))) symlinkSync(join(repo, link), join(dir, link));
    }
    log('baseline: tsc');
    const t = Date.now();
    execFileSync(
      process.execPath,
      [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')],
      { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 },
    );
    log(`baseline: built ${commit} in ${((Date.now() - t) / 1000).toFixed(0)}s`);
    if (!existsSync(join(dir, 'dist', 'src', 'cli', 'main.js'))) {
      throw new Error(`no dist/src/cli/main.js after tsc in ${dir}`);
    }
    return b;
  } catch (err) {
    removeBaseline(repo, b);
    if (err instanceof AmbitError) throw err;
    throw new AmbitError('BENCH_BASELINE_BUILD', `--baseline ${ref}: build failed`, {
      value: ref,
      hint: `the baseline is checked out and compiled with tsc in a temporary worktree: ${errorMessage(err)}`,
    });
  }
}

/** Removes the worktree and its git metadata (safe to call twice, or after a partial build). */
export function removeBaseline(repo: string, b: Baseline): void {
  try {
    git(repo, ['worktree', 'remove', '--force', b.dir]);
  } catch {
    /* not registered (failed add) or already gone */
  }
  rmSync(b.dir, { recursive: true, force: true });
  try {
    git(repo, ['worktree', 'prune']);
  } catch {
    /* nothing to prune */
  }
}

/** The command line of a ztunnel running the baseline's build (as the kubelet runs `ambit`). */
export function baselineZtunnelCommand(b: Pick<Baseline, 'dir'>): string[] {
  return [process.execPath, join(b.dir, 'bin', 'ambit'), 'ztunnel'];
}
