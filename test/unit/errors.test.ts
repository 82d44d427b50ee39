import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, ERROR_CODES, errorMessage, isCode } from '../../src/errors.js';
import { HboneError } from '../../src/hbone/types.js';
import { repoRoot } from '../../src/repo.js';

test('errors carry a stable code, the offending value and the hint in the message', () => {
  const e = new AmbitError('IPAM_BAD_CIDR', 'bad pod CIDR 10.0.0.0/33', {
    value: '10.0.0.0/33',
    hint: 'use a /24',
  });
  assert.equal(e.code, 'IPAM_BAD_CIDR');
  assert.equal(e.value, '10.0.0.0/33');
  assert.match(e.message, /bad pod CIDR 10\.0\.0\.0\/33 \(use a \/24\)/);
  assert.ok(isCode(e, 'IPAM_BAD_CIDR'));
  assert.equal(errorMessage(e), 'IPAM_BAD_CIDR: bad pod CIDR 10.0.0.0/33 (use a /24)');
});

/** Every .ts file below `dir` (relative to the repository), with its text. */
function sources(dir: string): { file: string; text: string }[] {
  const root = join(repoRoot(), dir);
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: `${dir}/${f}`, text: readFileSync(join(root, f), 'utf8') }));
}

const code = String.raw`'([A-Z][A-Z0-9]*_[A-Z0-9_]+)'`;
/** Where a code is given or tested: `new XError('CODE'`, `isCode(e, 'CODE')`, `.code === 'CODE'`. */
const USES = [
  new RegExp(String.raw`new \w*Error\(\s*${code}`, 'g'),
  new RegExp(String.raw`isCode\([^,()]+,\s*${code}`, 'g'),
  new RegExp(String.raw`\.code\s*[!=]==\s*${code}`, 'g'),
];

test('every error code used in src/ and bench/ is in the catalogue', () => {
  const missing: string[] = [];
  for (const { file, text } of [...sources('src'), ...sources('bench')]) {
    for (const re of USES)
      for (const m of text.matchAll(re)) {
        // Node's own codes (ERR_MODULE_NOT_FOUND, ENOENT) are compared too, and are not ours.
        if (!m[1]!.startsWith('ERR_') && !(m[1]! in ERROR_CODES)) missing.push(`${file}: ${m[1]!}`);
      }
  }
  assert.deepEqual(missing, [], 'add these to ERROR_CODES in src/errors.ts');
});

test('every catalogued code is used somewhere, and each has a one-line meaning', () => {
  const text = [...sources('src'), ...sources('bench')]
    .filter((s) => s.file !== 'src/errors.ts')
    .map((s) => s.text)
    .join('\n');
  const unused = Object.keys(ERROR_CODES).filter((c) => !text.includes(`'${c}'`));
  assert.deepEqual(unused, [], 'remove these from ERROR_CODES or use them');
  for (const [c, meaning] of Object.entries(ERROR_CODES)) {
    assert.ok(meaning.length > 0 && !meaning.includes('\n'), c);
  }
});

test('src/ throws no bare Error: every thrown error carries a catalogued code', () => {
  const bare = sources('src').flatMap(({ file, text }) =>
    [...text.matchAll(/throw new Error\(/g)].map(() => file),
  );
  assert.deepEqual(bare, [], 'throw an AmbitError with a code from src/errors.ts');
});

test('HBONE errors are AmbitErrors, so errorMessage and isCode see their code', () => {
  const e = new HboneError('HBONE_STATUS', 'hbone CONNECT 10.0.0.1:80: status 401', 401);
  assert.equal(e.status, 401);
  assert.ok(e instanceof AmbitError);
  assert.ok(isCode(e, 'HBONE_STATUS'));
  assert.equal(errorMessage(e), 'HBONE_STATUS: hbone CONNECT 10.0.0.1:80: status 401');
});
