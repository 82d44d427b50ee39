/**
 * The README's first command, end to end: `ambit demo` brings up the seeds' cluster with the
 * mesh, curls through it and prints the kernel's account of the path. The printed path must
 * hold seed 000's hops in order; a second run is safe; `--down` leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';
import { repoRoot } from '../../src/repo.js';

const lab = labName('dm');
const ambit = join(repoRoot(), 'bin', 'ambit');
const env = { ...process.env, ...(import.meta.url.endsWith('.ts') ? { AMBIT_TSX: '1' } : {}) };
const demo = (args: string[]) =>
  run(ambit, ['demo', '--name', lab, ...args], { allowFail: true, timeoutMs: 300_000, env });

/** Asserts that each pattern matches a line after the previous match; returns the last index. */
function inOrder(lines: string[], from: number, patterns: RegExp[], what: string): number {
  let i = from;
  for (const p of patterns) {
    while (i < lines.length && !p.test(lines[i]!)) i++;
    assert.ok(i < lines.length, `${what}: ${p} missing or out of order after line ${from}`);
    i++;
  }
  return i;
}

after(async () => {
  await demo(['--down']);
});

test(
  'ambit demo shows the seeds scenario with every hop, from the kernel',
  { skip: skipUnlessRoot, timeout: 600_000 },
  async () => {
    const r = await demo([]);
    assert.equal(r.code, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.split('\n');
    // The response: httpbin saw sleep's own address.
    assert.ok(
      lines.some((l) => /"origin": "10\.244\.2\.8"/.test(l)),
      'no httpbin response with origin 10.244.2.8',
    );
    // The three connections, read with ss while a request was in flight.
    let i = inOrder(
      lines,
      0,
      [
        /10\.244\.2\.8:\d+ +↔ 10\.96\.0\.105:8000/,
        /10\.244\.2\.3:\d+ +↔ 10\.244\.1\.7:15008/,
        /10\.244\.2\.8:\d+ +↔ 10\.244\.1\.7:80/,
      ],
      'connections',
    );
    assert.match(r.stdout, /peer \(client\) spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/);
    // Part 1, first packet: sleep veth → 0x100 → rule 101 / table 101 → istioout → pistioout → TPROXY 15001.
    i = inOrder(
      lines,
      i,
      [
        /Part 1/,
        /first packet \(SYN\)/,
        /\[worker2\] in veth[0-9a-f]{8} → out istioout/,
        /--match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100\/0x100/,
        /rule 101: .* table 101/,
        /\[ztunnel-worker2\] in pistioout/,
        /TPROXY → 127\.0\.0\.1:15001/,
      ],
      'part 1 first packet',
    );
    // Part 1, later packet: connmark 0x210 → 0x040 → table 102 → ztunnel veth → 0x4d3.
    i = inOrder(
      lines,
      i,
      [
        /later packet/,
        /connmark --mark 0x210\/0x210 -j MARK --set-xmark 0x40\/0x40/,
        /rule 102: .* table 102/,
        /\[ztunnel-worker2\] in eth0/,
        /--set-xmark 0x4d3\/0xfff/,
      ],
      'part 1 later packet',
    );
    // Part 2: ztunnel A eth0 → node A → underlay → node B rule 103 / table 100 → istioin → pistioin → TPROXY 15008.
    i = inOrder(
      lines,
      i,
      [
        /Part 2/,
        /\[ztunnel-worker2\] .*out eth0/,
        /\[worker2\] in veth[0-9a-f]{8} → out eth0/,
        /\[underlay\]/,
        /\[worker\] in eth0 → out istioin/,
        /rule 103: .* table 100/,
        /\[ztunnel-worker\] in pistioin/,
        /TPROXY → 127\.0\.0\.1:15008/,
      ],
      'part 2',
    );
    // Part 3: ztunnel B → 0x210 → main table → httpbin veth.
    inOrder(
      lines,
      i,
      [
        /Part 3/,
        /\[worker\] in veth[0-9a-f]{8} → out veth[0-9a-f]{8}/,
        /--set-xmark 0x210\/0x210/,
        /rule 100: .*goto 32766/,
        /\[httpbin-[^\]]+\] in eth0/,
      ],
      'part 3',
    );
    assert.match(r.stdout, /demo finished in \d+\.\ds/);

    // The next step the demo suggests: exec into sleep by its Deployment's name, through the mesh.
    const ip = await run(
      ambit,
      [
        'lab',
        'exec',
        '--name',
        lab,
        'sleep',
        '--',
        'curl',
        '-sS',
        '-m',
        '5',
        'http://httpbin:8000/ip',
      ],
      {
        allowFail: true,
        env,
      },
    );
    assert.equal(ip.code, 0, ip.stderr);
    assert.match(ip.stdout, /"origin": "10\.244\.2\.8"/);

    // A second run reuses the running lab and still succeeds.
    const again = await demo(['--no-trace']);
    assert.equal(again.code, 0, `second demo failed:\n${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /already running, reusing it/);

    const down = await demo(['--down']);
    assert.equal(down.code, 0, down.stderr);
    const ns = await run('ip', ['netns', 'list']);
    assert.ok(
      !ns.stdout.split('\n').some((l) => l.startsWith(`${lab}-`)),
      `netns left: ${ns.stdout}`,
    );
  },
);
