/**
 * The README's first command, end to end: `ambit demo` brings up the seeds' cluster with the
 * mesh, curls through it and prints the kernel's account of the path. The printed path must
 * hold seed 000's hops in order; a second run with `--redirect ebpf` reuses the lab, switches
 * its nodes' backend and prints every hop from the eBPF programs' own events (seed 003);
 * `--down` leaves nothing behind, eBPF pins included.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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

/**
 * Asserts that each pattern matches a line after the previous match; returns the last index.
 * A miss prints the demo's whole output, so a failure in CI can be read without a re-run.
 */
function inOrder(lines: string[], from: number, patterns: RegExp[], what: string): number {
  let i = from;
  for (const p of patterns) {
    while (i < lines.length && !p.test(lines[i]!)) i++;
    assert.ok(
      i < lines.length,
      `${what}: ${p} missing or out of order after line ${from} of:\n${lines.join('\n')}`,
    );
    i++;
  }
  return i;
}

/**
 * The eBPF block of `ambit demo --redirect ebpf`: per part, each packet's programs in the
 * kernel's clock order (seed 003's four programs; bpf_sk_assign to 15001/15008 and to ztunnel's
 * established sockets).
 */
function assertEbpfHops(lines: string[]): void {
  const veth = 'veth[0-9a-f]{8}';
  const i = inOrder(
    lines,
    0,
    [
      /eBPF programs' own account/,
      /eBPF Part 1 +\[10\.244\.2\.8:\d+ → 10\.96\.0\.105:8000\]/,
      /first packet \(SYN\)/,
      new RegExp(
        `\\[worker2\\] tc ingress ${veth} app_outbound → redirect to ${veth} \\(ztunnel-worker2\\), cb=OUTBOUND`,
      ),
      /\[ztunnel-worker2\] tc ingress eth0 ztunnel_tproxy → sk_assign → 127\.0\.0\.1:15001 \(listener\)/,
      /first reply \(SYN-ACK\)/,
      new RegExp(
        `\\[worker2\\] tc ingress ${veth} ztunnel_host_ingress → redirect to ${veth} \\(sleep-[^)]+\\), cb=BYPASS`,
      ),
      new RegExp(`\\[worker2\\] tc egress ${veth} app_inbound → pass \\(cb=BYPASS\\)`),
      /later packet/,
      /\[ztunnel-worker2\] tc ingress eth0 ztunnel_tproxy → sk_assign → ztunnel's established socket \(port 8000\)/,
    ],
    'eBPF part 1',
  );
  const j = inOrder(
    lines,
    i,
    [
      /eBPF Part 2 +\[10\.244\.2\.3:\d+ → 10\.244\.1\.7:15008\]/,
      new RegExp(
        `\\[worker\\] tc egress ${veth} app_inbound → redirect to ${veth} \\(ztunnel-worker\\), cb=INBOUND`,
      ),
      // The HBONE connection may be pooled from the first run: then its later packets only.
      /\[ztunnel-worker\] tc ingress eth0 ztunnel_tproxy → sk_assign → (127\.0\.0\.1:15008 \(listener\)|ztunnel's established socket \(port 15008\))/,
    ],
    'eBPF part 2',
  );
  inOrder(
    lines,
    j,
    [
      /eBPF Part 3 +\[10\.244\.2\.8:\d+ → 10\.244\.1\.7:80\]/,
      new RegExp(
        `\\[worker\\] tc ingress ${veth} ztunnel_host_ingress → redirect to ${veth} \\(httpbin-[^)]+\\), cb=BYPASS`,
      ),
      /first reply \(SYN-ACK\)/,
      new RegExp(
        `\\[worker\\] tc ingress ${veth} app_outbound → redirect to ${veth} \\(ztunnel-worker\\), cb=OUTBOUND`,
      ),
      /\[ztunnel-worker\] tc ingress eth0 ztunnel_tproxy → sk_assign → ztunnel's established socket/,
    ],
    'eBPF part 3',
  );
  assert.ok(
    lines.some((l) => /"origin": "10\.244\.2\.8"/.test(l)),
    'no httpbin response with origin 10.244.2.8 (eBPF)',
  );
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

    // A second run reuses the running lab and still succeeds. The HBONE connection sleep's
    // requests used is still pooled (idle release is 5 min), yet Part 2 again shows the first
    // packet of a connection to 15008: the trace asks ztunnel A to release its pool first.
    const pooled = await demo([]);
    assert.equal(pooled.code, 0, `second demo failed:\n${pooled.stdout}\n${pooled.stderr}`);
    assert.match(pooled.stdout, /already running, reusing it/);
    inOrder(
      pooled.stdout.split('\n'),
      0,
      [
        /Part 2/,
        /\[worker\] in eth0 → out istioin/,
        /\[ztunnel-worker\] in pistioin/,
        /TPROXY → 127\.0\.0\.1:15008/,
      ],
      'second run, part 2',
    );

    // A third run reuses the running lab, switching its nodes to the eBPF backend with pods
    // running; the programs' own ring-buffer events give every hop of the three connections.
    const again = await demo(['--redirect', 'ebpf']);
    assert.equal(again.code, 0, `third demo failed:\n${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /already running, reusing it/);
    try {
      assertEbpfHops(again.stdout.split('\n'));
    } catch (err) {
      console.log(again.stdout);
      throw err;
    }
    assert.ok(existsSync(`/sys/fs/bpf/ambit-${lab}/worker2/maps/events`), 'eBPF pins of worker2');

    const down = await demo(['--down']);
    assert.equal(down.code, 0, down.stderr);
    const ns = await run('ip', ['netns', 'list']);
    assert.ok(
      !ns.stdout.split('\n').some((l) => l.startsWith(`${lab}-`)),
      `netns left: ${ns.stdout}`,
    );
    assert.ok(!existsSync(`/sys/fs/bpf/ambit-${lab}`), 'eBPF pins left');
  },
);
