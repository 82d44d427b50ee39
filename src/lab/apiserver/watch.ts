/**
 * Watch streams: newline-delimited JSON events from a resourceVersion on (or the current state
 * as ADDED events first), with BOOKMARK events and a server-side timeout. A selector turns an
 * object leaving the selection into DELETED and one entering it into ADDED, as Kubernetes does.
 */
import type { ServerResponse } from 'node:http';
import { apiVersionOf, kindKey, type Kind } from './catalog.js';
import type { StoreEvent } from './persist.js';
import { badRequest, gone } from './status.js';
import type { Obj, Store } from './store.js';

export interface WatchParams {
  kind: Kind;
  namespace?: string;
  filter: (o: Obj) => boolean;
  /** A label or field selector was given (else every event passes unchanged). */
  selective: boolean;
  resourceVersion?: string;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  timeoutSeconds?: number;
  /** Turns an object into what is sent (the object itself, or a Table row). */
  render: (o: Obj) => unknown;
}

const keyOf = (o: Obj): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Starts a watch; throws (before anything is written) for a bad or expired version. */
export function serveWatch(store: Store, res: ServerResponse, p: WatchParams): void {
  const key = kindKey(p.kind);
  const inScope = (o: Obj): boolean =>
    !p.kind.namespaced || p.namespace === undefined || o.metadata.namespace === p.namespace;
  const rvText = p.resourceVersion ?? '';
  let backlog: StoreEvent[] = [];
  const matched = new Set<string>();
  const initial: Obj[] = [];
  if (rvText === '' || rvText === '0') {
    for (const o of store.list(key, p.kind.namespaced ? p.namespace : undefined))
      if (p.filter(o)) initial.push(o);
  } else {
    const rv = Number(rvText);
    if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${rvText}"`);
    const since = store.eventsSince(rv);
    if (!since) throw gone(`too old resource version: ${rv} (${store.oldestResumable})`);
    backlog = since.filter((e) => e.key === key && inScope(e.object as Obj));
  }

  res.writeHead(200, {
    'content-type': 'application/json',
    'cache-control': 'no-cache, private',
    'transfer-encoding': 'chunked',
  });
  // Clients (client-node's Watch) wait for the headers before they report the watch started.
  res.flushHeaders();
  const send = (type: string, object: unknown): void => {
    res.write(JSON.stringify({ type, object }) + '\n');
  };
  const typed = (o: Obj): Obj => ({ apiVersion: apiVersionOf(p.kind), kind: p.kind.kind, ...o });

  let replaying = false;
  const onEvent = (ev: StoreEvent): void => {
    if (ev.key !== key) return;
    const o = ev.object as Obj;
    if (!inScope(o)) return;
    if (!p.selective) {
      send(ev.type, p.render(typed(o)));
      return;
    }
    const k = keyOf(o);
    // While replaying history the selection at that time is unknown: trust the event type.
    const was = replaying ? ev.type !== 'ADDED' : matched.has(k);
    const now = ev.type !== 'DELETED' && p.filter(o);
    if (ev.type === 'DELETED') {
      if (was || p.filter(o)) send('DELETED', p.render(typed(o)));
      matched.delete(k);
    } else if (now) {
      matched.add(k);
      send(ev.type === 'ADDED' || !was ? 'ADDED' : 'MODIFIED', p.render(typed(o)));
    } else if (was && !replaying) {
      matched.delete(k);
      send('DELETED', p.render(typed(o)));
    }
  };

  for (const o of initial) {
    matched.add(keyOf(o));
    send('ADDED', p.render(typed(o)));
  }
  replaying = true;
  for (const ev of backlog) onEvent(ev);
  replaying = false;
  // From here on the selection is the store's current one.
  matched.clear();
  for (const o of store.list(key, p.kind.namespaced ? p.namespace : undefined))
    if (p.filter(o)) matched.add(keyOf(o));
  store.on('event', onEvent);

  const timers: NodeJS.Timeout[] = [];
  if (p.bookmarks) {
    timers.push(
      setInterval(() => {
        send('BOOKMARK', {
          kind: p.kind.kind,
          apiVersion: apiVersionOf(p.kind),
          metadata: { resourceVersion: String(store.resourceVersion) },
        });
      }, p.bookmarkIntervalMs),
    );
  }
  const timeout = (p.timeoutSeconds ?? 1800) * 1000;
  timers.push(setTimeout(() => res.end(), timeout));
  const stop = (): void => {
    store.off('event', onEvent);
    for (const t of timers) clearTimeout(t);
  };
  res.on('close', stop);
  res.on('finish', stop);
  // A client that vanished mid-write must not take the server down.
  res.on('error', stop);
}
