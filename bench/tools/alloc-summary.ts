/**
 * Where a process allocates: a V8 sampling heap profile (`.heapprofile`, as bench/l7-pair.ts
 * `--alloc-prof` writes with garbage included) summed by allocating function, by the first
 * frame of ambit's own code that led to it, and by file.
 *
 *   node dist/bench/tools/alloc-summary.js <file.heapprofile> [--top 25] [--requests N]
 *
 * With --requests (the run's request count, from l7-pair's line) sizes are also per request.
 */
import { readFileSync } from 'node:fs';

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

const label = (n: Node) =>
  `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/dist\//, '')}:${n.callFrame.lineNumber + 1}`;
const ours = (n: Node) => /\/dist\/src\//.test(n.callFrame.url);

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: alloc-summary <file.heapprofile> [--top 25] [--requests N]');
  const head = (JSON.parse(readFileSync(file, 'utf8')) as { head: Node }).head;
  const top = Number(arg('top', '25'));
  const requests = Number(arg('requests', '0'));
  const byFn = new Map<string, number>();
  const byOwn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const walk = (n: Node, own: string) => {
    const o = ours(n) ? label(n) : own;
    if (n.selfSize > 0) {
      total += n.selfSize;
      add(byFn, label(n), n.selfSize);
      add(byOwn, o, n.selfSize);
      add(byFile, n.callFrame.url.replace(/^.*\/dist\//, '') || '(native)', n.selfSize);
    }
    for (const c of n.children) walk(c, o);
  };
  walk(head, '(outside ambit code)');
  const row = (k: string, v: number) =>
    `${((100 * v) / total).toFixed(1).padStart(5)} % ${(v / 2 ** 20).toFixed(1).padStart(7)} MB` +
    (requests > 0 ? ` ${(v / requests).toFixed(0).padStart(6)} B/req` : '') +
    `  ${k}`;
  const table = (title: string, m: Map<string, number>) => {
    process.stdout.write(`-- ${title}\n`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
      process.stdout.write(row(k, v) + '\n');
  };
  process.stdout.write(
    `total ${(total / 2 ** 20).toFixed(1)} MB` +
      (requests > 0 ? `, ${(total / requests).toFixed(0)} B per request` : '') +
      '\n',
  );
  table('allocating function', byFn);
  table('innermost ambit frame on the stack', byOwn);
  table('file of the allocating function', byFile);
}

main();
