/**
 * The runner's watchdog (test/helpers/watchdog.ts): a test file whose process outlives the
 * per-file limit is killed, named, and counted as failed, so one stuck file cannot hold CI.
 * Without the watchdog the run below would never end (and this test would time out).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../src/repo.js';

/**
 * This file runs as a node:test child (NODE_TEST_CONTEXT set), and a runner started with that
 * in its environment reports to a parent instead of on its own: the runner under test must
 * start as from a shell.
 */
function runnerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

void test('a test file that outlives its limit is killed, named and failed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-watchdog-'));
  const pidFile = join(dir, 'pid');
  const dist = join(repoRoot(), 'dist', 'test');
  const started = Date.now();
  try {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(
          process.execPath,
          [join(dist, 'run.js'), join(dist, 'fixtures', 'hangs-after-passing.test.js')],
          {
            encoding: 'utf8',
            timeout: 60_000,
            env: { ...runnerEnv(), AMBIT_TEST_FILE_LIMIT_S: '1', AMBIT_HANG_PID_FILE: pidFile },
          },
          (err, stdout, stderr) => {
            const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      },
    );
    assert.equal(r.code, 1, `the run fails\n${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stderr,
      /watchdog: \S*hangs-after-passing\.test\.js still running after \d+ s \(limit 1 s\): killing its process \d+/,
    );
    assert.ok(Date.now() - started < 30_000, 'killed within seconds of its limit, not minutes');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the file’s process is gone');
  } finally {
    // Had the watchdog failed, the fixture's process would outlive the run: end it here.
    const pid = Number(existsSync(pidFile) ? readFileSync(pidFile, 'utf8') : 0);
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
