import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AmbitError } from '../../src/errors.js';
import type { Pod } from '../../src/k8s/types.js';
import { parseProfileArg, profiledCommand, respawnSpec } from '../../bench/profile.js';
import {
  profileMarkdown,
  summarizeProfile,
  wallWindow,
  type CpuProfile,
} from '../../bench/profile-summary.js';

const frame = (functionName: string, url = '', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

/**
 * root → main (app.js:10) → write (net:5) and → parse (app.js:20); plus idle and GC.
 * Samples every 1 ms (timeDeltas in µs): idle ×4, write ×3, parse ×2, main ×1, GC ×1.
 */
function profile(): CpuProfile {
  const nodes = [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('main', 'file:///repo/dist/src/app.js', 9), children: [3, 4] },
    { id: 3, callFrame: frame('write', 'node:net', 4) },
    { id: 4, callFrame: frame('parse', 'file:///repo/dist/src/app.js', 19) },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') },
  ];
  const samples = [5, 5, 5, 5, 3, 3, 3, 4, 4, 2, 6, 5];
  return {
    nodes,
    startTime: 1_000_000,
    endTime: 1_000_000 + samples.length * 1000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

describe('bench profile summary', () => {
  it('self time per function, idle left out of busy, GC counted', () => {
    const s = summarizeProfile(profile(), { root: '/repo/dist' });
    assert.equal(s.busyMs, 7);
    assert.equal(s.gcMs, 1);
    assert.deepEqual(
      s.self.map((x) => [x.name, x.ms]),
      [
        ['write node:net:5', 3],
        ['parse src/app.js:20', 2],
        ['main src/app.js:10', 1],
        ['(garbage collector)', 1],
      ],
    );
    assert.equal(s.self[0]?.pct, 42.9);
  });

  it('inclusive time charges every function on the stack', () => {
    const s = summarizeProfile(profile(), { root: '/repo/dist' });
    const incl = Object.fromEntries(s.inclusive.map((x) => [x.name, x.ms]));
    assert.equal(incl['main src/app.js:10'], 6);
    assert.equal(incl['write node:net:5'], 3);
    assert.equal(incl['(garbage collector)'], undefined);
    const files = Object.fromEntries(s.files.map((x) => [x.name, x.ms]));
    assert.equal(files['src/app.js'], 3);
    assert.equal(files['node:net'], 3);
  });

  it('a window keeps only the samples inside it', () => {
    const p = profile();
    // samples at 1..12 ms after start; keep 5..9 ms: write ×3 (5,6,7), parse ×2 (8,9)
    const s = summarizeProfile(p, { window: [p.startTime + 4500, p.startTime + 9500] });
    assert.equal(s.totalMs, 5);
    assert.equal(s.busyMs, 5);
    assert.deepEqual(
      s.self.map((x) => x.name.split(' ')[0]),
      ['write', 'parse'],
    );
  });

  it('wallWindow maps wall-clock times onto the profile clock from its end', () => {
    const p = profile(); // ends at 1_012_000 µs
    assert.deepEqual(wallWindow(p, 50_000, 40_000, 45_000), [
      1_012_000 - 10_000_000,
      1_012_000 - 5_000_000,
    ]);
  });

  it('profiles without samples fall back to hit counts', () => {
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2] },
        { id: 2, callFrame: frame('hot', 'node:x', 0), hitCount: 3 },
        { id: 3, callFrame: frame('(idle)'), hitCount: 1 },
      ],
      startTime: 0,
      endTime: 4000,
    };
    const s = summarizeProfile(p);
    assert.equal(s.busyMs, 3);
    assert.equal(s.self[0]?.name, 'hot node:x:1');
  });

  it('markdown lists the tables and escapes pipes', () => {
    const p = profile();
    p.nodes[3]!.callFrame.functionName = 'a|b';
    const md = profileMarkdown('ztunnel-worker', summarizeProfile(p, { root: '/repo/dist' }));
    assert.match(md, /^### ztunnel-worker/);
    assert.match(md, /busy 7 ms \(58\.3%\), of which GC 1 ms/);
    assert.match(md, /\| `write node:net:5` \| 3 \| 42\.9 \|/);
    assert.match(md, /`a\\\|b src\/app\.js:20`/);
  });
});

describe('bench profile switch', () => {
  it('parseProfileArg accepts mesh:<workload> only', () => {
    const w = ['iperf-1', 'connrate'];
    assert.deepEqual(parseProfileArg('mesh:iperf-1', w), { mode: 'mesh', workload: 'iperf-1' });
    for (const bad of ['mesh', 'direct:iperf-1', 'mesh:nope', 'mesh:iperf-1:x', '']) {
      assert.throws(
        () => parseProfileArg(bad, w),
        (e: unknown) => e instanceof AmbitError && e.code === 'BENCH_BAD_PROFILE',
        bad,
      );
    }
  });

  it('respawnSpec keeps what the installer set, drops what the API and kubelet added', () => {
    const cur = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'ztunnel-worker',
        namespace: 'istio-system',
        uid: 'u1',
        resourceVersion: '7',
        labels: { app: 'ztunnel' },
        annotations: {
          'lab.ambit.dev/ip': '10.244.1.3',
          'lab.ambit.dev/netns': 'x-p1',
          'ambient.istio.io/redirection': 'disabled',
        },
      },
      spec: {
        nodeName: 'worker',
        containers: [
          { name: 'istio-proxy', image: 'ambit/ztunnel', env: [{ name: 'A', value: '1' }] },
        ],
      },
      status: { phase: 'Running' },
    } as unknown as Pod;
    const cmd = profiledCommand('/tmp/prof');
    const p = respawnSpec(cur, cmd);
    assert.deepEqual(p.metadata, {
      name: 'ztunnel-worker',
      namespace: 'istio-system',
      labels: { app: 'ztunnel' },
      annotations: { 'lab.ambit.dev/ip': '10.244.1.3', 'ambient.istio.io/redirection': 'disabled' },
    });
    assert.equal((p as { status?: unknown }).status, undefined);
    assert.deepEqual(p.spec?.containers[0]?.command, cmd);
    assert.equal(p.spec?.terminationGracePeriodSeconds, 60);
    assert.deepEqual(cmd.slice(1, 3), ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']);
    assert.match(cmd[3]!, /bin\/ambit$/);
    assert.equal(cmd[4], 'ztunnel');
    assert.deepEqual(p.spec?.containers[0]?.env, [{ name: 'A', value: '1' }]);
    // the original is untouched, and no command means the image's built-in one again
    assert.equal(cur.spec?.containers[0]?.command, undefined);
    const back = respawnSpec(p, undefined);
    assert.equal(back.spec?.containers[0]?.command, undefined);
    assert.equal(back.spec?.terminationGracePeriodSeconds, 10);
  });
});
