// ARCHITECTURE.md maps every hop to file:line; this keeps the map true as the code moves.
// A reference `src/x.ts:12 name` (or `:12 name`, the same file as the one before it) must
// point at a line that holds `name`; one without a name, at a line the file has.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../src/repo.js';

interface Ref {
  file: string;
  line: number;
  name?: string;
}

function refs(markdown: string): Ref[] {
  const out: Ref[] = [];
  let file: string | undefined;
  for (const m of markdown.matchAll(/`(src\/[\w/.-]+\.ts)?:(\d+)(?:,\d+)*(?: ([^`]+))?`/g)) {
    file = m[1] ?? file;
    if (!file) continue;
    out.push({ file, line: Number(m[2]), ...(m[3] ? { name: m[3] } : {}) });
  }
  return out;
}

test('every file:line in ARCHITECTURE.md points at what it names', () => {
  const root = repoRoot();
  const all = refs(readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8'));
  assert.ok(all.length > 30, `only ${all.length} references found: is the pattern still right?`);
  const wrong: string[] = [];
  for (const r of all) {
    const path = join(root, r.file);
    if (!existsSync(path)) {
      wrong.push(`${r.file}: no such file`);
      continue;
    }
    const lines = readFileSync(path, 'utf8').split('\n');
    const text = lines[r.line - 1];
    if (text === undefined) wrong.push(`${r.file}:${r.line}: the file has ${lines.length} lines`);
    else if (r.name && !text.includes(r.name.split(/[\s(]/)[0]!)) {
      const at = lines.findIndex((l) => l.includes(r.name!.split(/[\s(]/)[0]!)) + 1;
      wrong.push(`${r.file}:${r.line} ${r.name}: not on that line (first seen at ${at || 'none'})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the reference pattern reads a chain of one file', () => {
  assert.deepEqual(refs('`src/a.ts:3 f` → `:9 g`, `src/b.ts:1`'), [
    { file: 'src/a.ts', line: 3, name: 'f' },
    { file: 'src/a.ts', line: 9, name: 'g' },
    { file: 'src/b.ts', line: 1 },
  ]);
});
