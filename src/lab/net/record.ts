/**
 * The lab's record of what it created (one JSON line per thing, appended before the thing is
 * made), so `lab down` can remove it even after an `up` that failed halfway.
 */
import { appendFileSync, readFileSync } from 'node:fs';

export type Created =
  | { kind: 'netns'; name: string }
  | { kind: 'etc-netns'; path: string }
  | { kind: 'dir'; path: string };

export function recordCreated(file: string, what: Created): void {
  appendFileSync(file, JSON.stringify(what) + '\n');
}

export function readCreated(file: string): Created[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Created[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as Created);
    } catch {
      /* a line cut short by a crash: the netns sweep by prefix still finds the thing */
    }
  }
  return out;
}
