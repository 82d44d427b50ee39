/**
 * The store on disk, in `<state>/apiserver/`: `snapshot.json` (every object, the
 * resourceVersion counter and the retained watch history) plus `events.jsonl`, one line per
 * change since the snapshot. Each change is written before the request is answered; the log is
 * folded into a new snapshot (written aside, then renamed) when it grows.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { AmbitError } from '../../errors.js';
import type { Logger } from '../../log.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: EventType;
  /** The kind's key, `<group>/<plural>`. */
  key: string;
  object: Record<string, unknown>;
}

export interface Snapshot {
  rv: number;
  /** Watches from a version ≥ this can resume: every later event is in `history`. */
  historyStart: number;
  objects: { key: string; object: Record<string, unknown> }[];
  history: StoreEvent[];
}

export interface Loaded extends Snapshot {
  /** Events logged after the snapshot, to replay in order. */
  log: StoreEvent[];
}

export class Persistence {
  private fd: number | undefined;
  private lines = 0;

  constructor(
    readonly dir: string,
    private readonly log?: Logger,
  ) {}

  private get snapshotPath(): string {
    return path.join(this.dir, 'snapshot.json');
  }

  private get logPath(): string {
    return path.join(this.dir, 'events.jsonl');
  }

  load(): Loaded {
    mkdirSync(this.dir, { recursive: true });
    let snap: Snapshot = { rv: 0, historyStart: 0, objects: [], history: [] };
    if (existsSync(this.snapshotPath)) {
      try {
        snap = JSON.parse(readFileSync(this.snapshotPath, 'utf8')) as Snapshot;
      } catch (err) {
        throw new AmbitError('APISERVER_BAD_SNAPSHOT', `unreadable snapshot ${this.snapshotPath}`, {
          value: this.snapshotPath,
          hint: 'the lab state is damaged; recreate the lab',
          cause: err,
        });
      }
    }
    const log: StoreEvent[] = [];
    if (existsSync(this.logPath)) {
      const lines = readFileSync(this.logPath, 'utf8').split('\n');
      for (const [i, line] of lines.entries()) {
        if (!line.trim()) continue;
        try {
          const ev = JSON.parse(line) as StoreEvent;
          if (ev.rv > snap.rv) log.push(ev);
        } catch {
          // Only a crash in the middle of the last write can leave a partial line.
          this.log?.warn('skipping a partial line in the event log', { line: i + 1 });
        }
      }
    }
    this.lines = log.length;
    this.fd = openSync(this.logPath, 'a');
    return { ...snap, log };
  }

  append(ev: StoreEvent): void {
    if (this.fd === undefined) throw new AmbitError('APISERVER_CLOSED', 'store is closed');
    writeSync(this.fd, JSON.stringify(ev) + '\n');
    this.lines++;
  }

  get loggedSinceSnapshot(): number {
    return this.lines;
  }

  /** Writes a complete snapshot, then empties the log. */
  writeSnapshot(snap: Snapshot): void {
    const tmp = this.snapshotPath + '.tmp';
    writeFileSync(tmp, JSON.stringify(snap));
    renameSync(tmp, this.snapshotPath);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = openSync(this.logPath, 'w');
    this.lines = 0;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
