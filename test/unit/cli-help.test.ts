/**
 * `--help` at any depth of a command (`ambit lab up --help`) prints that group's usage and
 * exits 0, as a new user types it; a `--help` after `--` belongs to the command run in a pod.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliCommand, repoRoot } from '../../src/repo.js';

const ambit = join(repoRoot(), 'bin', 'ambit');

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(ambit, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

// Each case is its own process: run them side by side.
void describe('ambit <command> … --help', { concurrency: true }, () => {
  const cases: [string[], RegExp][] = [
    [['lab', 'up', '--help'], /^usage: ambit lab/],
    [['lab', 'exec', '-h'], /^usage: ambit lab/],
    [['manifest', '--help'], /ambit manifest generate/],
    [['manifest', 'generate', '--help'], /ambit manifest generate/],
    [['node', 'rules', '--help'], /^usage: ambit node rules/],
    [['cni', 'run', '--help'], /^usage: ambit cni/],
    [['x', 'config-dump', '--help'], /^usage: ambit x/],
    [['waypoint', 'apply', '--help'], /^usage: ambit waypoint/],
    [['trace', '--live', '--help'], /^usage: ambit trace/],
    [['demo', '--help'], /^usage: ambit demo/],
    [['install', '--help'], /ambit install/],
    [['uninstall', '--help'], /ambit uninstall/],
  ];
  for (const [args, usage] of cases) {
    void it(`ambit ${args.join(' ')}`, async () => {
      const r = await run(args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, usage);
    });
  }

  void it('leaves a --help after -- to the command in the pod', async () => {
    const r = await run([
      'lab',
      'exec',
      '--name',
      'no-such-lab-help',
      'pod',
      '--',
      'curl',
      '--help',
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /LAB_NOT_RUNNING|no-such-lab-help/);
  });

  void it('ambit node rules on a lab that is not running says so, naming the lab', async () => {
    const r = await run(['node', 'rules', 'worker', '--lab', 'no-such-lab-node']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /NODE_NO_LAB/);
    assert.match(r.stderr, /lab no-such-lab-node is not running/);
  });
});

void describe('the commands ambit suggests', () => {
  void it('say ./bin/ambit from the checkout when no ambit is on PATH, ambit when one is', () => {
    const root = repoRoot();
    assert.equal(cliCommand({ PATH: '/nonexistent' }, root), './bin/ambit');
    assert.equal(cliCommand({ PATH: '/nonexistent' }, join(root, 'docs')), '../bin/ambit');
    assert.equal(cliCommand({ PATH: `/nonexistent:${join(root, 'bin')}` }, '/'), 'ambit');
  });
});
