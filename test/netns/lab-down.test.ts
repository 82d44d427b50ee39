/**
 * `ambit lab down` leaves nothing behind: after an `up` killed halfway, after an `up` that
 * failed with pods starting, and with two labs side by side.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';
import { repoRoot } from '../../src/repo.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const stateBase = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs');

function ambit(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { allowFail: true, timeoutMs });
}
async function until(
  what: string,
  fn: () => Promise<boolean> | boolean,
  ms = 60_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}
async function labNetns(n: string): Promise<string[]> {
  const out = (await run('ip', ['netns', 'list'])).stdout;
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((x) => x.startsWith(`${n}-`));
}
/** Every process the lab has: by PID file and by living in one of its namespaces. */
async function labPids(n: string): Promise<number[]> {
  const pids = new Set<number>();
  const dir = join(stateBase, n, 'pids');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)) {
      const pid = Number(readFileSync(join(dir, f), 'utf8').split('\n')[0]);
      if (pid > 1) pids.add(pid);
    }
  }
  for (const ns of await labNetns(n)) {
    for (const l of (await run('ip', ['netns', 'pids', ns], { allowFail: true })).stdout.split(
      '\n',
    ))
      if (Number(l) > 1) pids.add(Number(l));
  }
  return [...pids];
}
async function assertGone(n: string, pids: number[]): Promise<void> {
  assert.deepEqual(await labNetns(n), [], 'network namespaces left');
  const etc = existsSync('/etc/netns')
    ? readdirSync('/etc/netns').filter((d) => d.startsWith(`${n}-`))
    : [];
  assert.deepEqual(etc, [], '/etc/netns entries left');
  assert.equal(existsSync(join(stateBase, n)), false, 'state directory left');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/${n}-`) || l.includes(`/labs/${n}`));
  assert.deepEqual(mounts, [], 'mounts left');
  const alive = pids.filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return !/\) [ZX] /.test(stat);
    } catch {
      return false;
    }
  });
  assert.deepEqual(alive, [], 'processes left');
}

void describe('lab down', { skip: skipUnlessRoot, timeout: 400_000 }, () => {
  const names = [labName('dk'), labName('df'), labName('da'), labName('db')];
  after(async () => {
    for (const n of names) await ambit(['lab', 'down', '--name', n]);
  });

  void it('cleans up after an up killed halfway, and up refuses to run over leftovers', async () => {
    const n = names[0]!;
    const up = spawn(process.execPath, [bin, 'lab', 'up', '--name', n], { stdio: 'ignore' });
    try {
      await until('the worker netns of the half-built lab', async () =>
        (await labNetns(n)).includes(`${n}-worker`),
      );
    } finally {
      up.kill('SIGKILL');
    }
    await new Promise((r) => (up.exitCode !== null ? r(null) : up.once('exit', r)));
    assert.ok((await labNetns(n)).length > 0);
    const again = await ambit(['lab', 'up', '--name', n]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /LAB_LEFTOVERS.*ambit lab down --name/);
    const pids = await labPids(n);
    // Another lab's namespace whose name starts with this lab's name must survive.
    const other = `${n}0-keep`;
    await run('ip', ['netns', 'add', other]);
    try {
      const down = await ambit(['lab', 'down', '--name', n]);
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, new RegExp(`removed netns ${n}-underlay`));
      await assertGone(n, pids);
      assert.ok(existsSync(`/run/netns/${other}`), 'down removed a namespace of another lab');
    } finally {
      await run('ip', ['netns', 'delete', other], { allowFail: true });
    }
  });

  void it('cleans up after an up that failed while pods were starting', async () => {
    const n = names[1]!;
    const up = await ambit(['lab', 'up', '--name', n, '--timeout', '0']);
    assert.equal(up.code, 1, up.stdout);
    assert.match(up.stdout, /FAILED/);
    assert.match(up.stdout, /LAB_PODS_TIMEOUT/);
    assert.match(up.stdout, new RegExp(`ambit lab down --name ${n}`));
    // Let the kubelets start pods so there are pod namespaces and processes to remove.
    await until('pod namespaces', async () =>
      (await labNetns(n)).some((x) => /-p[0-9a-f]{8}$/.test(x)),
    );
    const pids = await labPids(n);
    assert.ok(pids.length >= 5, `daemons and pods: ${pids.join(',')}`);
    const down = await ambit(['lab', 'down', '--name', n]);
    assert.equal(down.code, 0, down.stderr);
    await assertGone(n, pids);
    const twice = await ambit(['lab', 'down', '--name', n]);
    assert.match(twice.stdout, /nothing to remove/);
  });

  void it('runs two labs side by side and takes both down', async () => {
    const [a, b] = [names[2]!, names[3]!];
    for (const n of [a, b]) {
      const r = await ambit(['lab', 'up', '--name', n, '--timeout', '120'], 180_000);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    }
    const list = await ambit(['lab', 'list']);
    assert.match(list.stdout, new RegExp(`^${a}\\s+running`, 'm'));
    assert.match(list.stdout, new RegExp(`^${b}\\s+running`, 'm'));
    const curl = async (n: string) => {
      const kc = join(stateBase, n, 'kubeconfig');
      const pod = (
        await run('kubectl', ['--kubeconfig', kc, 'get', 'pods', '-l', 'app=sleep', '-o', 'name'])
      ).stdout
        .trim()
        .replace('pod/', '');
      return ambit([
        'lab',
        'exec',
        '--name',
        n,
        pod,
        '--',
        'curl',
        '-s',
        '--max-time',
        '10',
        'http://httpbin:8000/ip',
      ]);
    };
    for (const n of [a, b]) {
      const r = await curl(n);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { origin: '10.244.2.8' });
    }
    const pidsA = await labPids(a);
    assert.equal((await ambit(['lab', 'down', '--name', a])).code, 0);
    await assertGone(a, pidsA);
    const still = await curl(b);
    assert.equal(still.code, 0, `lab ${b} broke when ${a} went down: ${still.stderr}`);
    const pidsB = await labPids(b);
    assert.equal((await ambit(['lab', 'down', '--name', b])).code, 0);
    await assertGone(b, pidsB);
  });
});
