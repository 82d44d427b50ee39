/**
 * The README's "Istio's getting-started on ambit" lines are exactly the ones
 * test/netns/guide.test.ts runs (test/helpers/guide.ts, which that test follows step by step),
 * and the transcripts of a run it shows (README, docs/guide-transcript.txt) are of those lines.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../src/repo.js';
import {
  GUIDE_STEPS,
  marked,
  README_MARKS,
  readme,
  renderTranscript,
  shellCommands,
  TRANSCRIPT_FILE,
  transcriptCommands,
  withTranscript,
} from '../helpers/guide.js';

void test("the README's guide commands are the guide test's, in order", () => {
  assert.deepEqual(shellCommands(marked(readme(), README_MARKS.commands)), [...GUIDE_STEPS]);
});

void test("the README's and docs' transcripts show exactly those commands", () => {
  assert.deepEqual(transcriptCommands(marked(readme(), README_MARKS.transcript)), [...GUIDE_STEPS]);
  const full = readFileSync(join(repoRoot(), TRANSCRIPT_FILE), 'utf8');
  assert.deepEqual(transcriptCommands(full), [...GUIDE_STEPS]);
});

void test('shellCommands reads a block as bash does: continuations, comments', () => {
  const block = [
    '```sh',
    '# a comment',
    'a b   # trailing',
    '',
    'c \\',
    '  d \\',
    '  e',
    "f 'x  # y'",
    '```',
  ].join('\n');
  assert.deepEqual(shellCommands(block), ['a b', 'c d e', "f 'x  # y'"]);
});

void test('renderTranscript cuts long outputs and says so; withTranscript replaces only the block', () => {
  const t = renderTranscript(
    [
      { command: 'one', output: 'a\nb\nc\nd\n' },
      { command: 'two', output: '' },
    ],
    3,
  );
  assert.equal(t, '$ one\na\nb\n… (2 more lines)\n$ two\n');
  const doc = `x\n${README_MARKS.transcript}\nold\n${README_MARKS.end}\ny\n`;
  assert.equal(
    withTranscript(doc, '$ two\n'),
    `x\n${README_MARKS.transcript}\n\n\`\`\`text\n$ two\n\`\`\`\n\n${README_MARKS.end}\ny\n`,
  );
});
