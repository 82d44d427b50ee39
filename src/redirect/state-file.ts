/**
 * What both redirection backends need the same way: a JSON record that survives agent restarts
 * (written through a rename, so a crash never leaves half a file). Their operations are
 * serialized by `SerialQueue` (src/serial.ts).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class StateFile<T> {
  constructor(readonly path: string) {}

  /** The record, or undefined when there is none (nothing installed) or it does not parse. */
  load(): T | undefined {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  save(s: T): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
    renameSync(tmp, this.path);
  }

  drop(): void {
    rmSync(this.path, { force: true });
  }
}
