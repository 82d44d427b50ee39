/**
 * Gateway API filters as pure functions: header modifiers, RequestRedirect's Location and
 * URLRewrite's path/host (GEP-726 prefix replacement).
 */
import type { HeaderModifier, HttpFilter, PathModifier } from '../../api/waypoint-config.js';

/** Lower-case header names; arrays are repeated header lines. */
export type HeaderMap = Record<string, string | string[]>;

/** set replaces, add appends another value (after the client's), remove deletes. */
export function modifyHeaders(h: HeaderMap, m: HeaderModifier): void {
  for (const { name, value } of m.set ?? []) h[name.toLowerCase()] = value;
  for (const { name, value } of m.add ?? []) {
    const k = name.toLowerCase();
    const cur = h[k];
    h[k] = cur === undefined ? value : [...(Array.isArray(cur) ? cur : [cur]), value];
  }
  for (const name of m.remove ?? []) delete h[name.toLowerCase()];
}

/** `/prefix/one/two` with prefix `/prefix/one` and replacement `/one` → `/one/two`. */
export function replacePrefix(path: string, prefix: string, replacement: string): string {
  const p = prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix === '/' ? '' : prefix;
  const rest = path.slice(p.length);
  let out =
    replacement.replace(/\/+$/, '') + (rest.startsWith('/') || rest === '' ? rest : '/' + rest);
  if (out === '') out = '/';
  return out;
}

export function rewritePath(
  path: string,
  m: PathModifier,
  matchedPrefix: string | undefined,
): string {
  if (m.type === 'ReplaceFullPath') return m.value;
  return replacePrefix(path, matchedPrefix ?? '/', m.value);
}

export interface RedirectInput {
  scheme: string;
  /** Request host without port. */
  host: string;
  /** The service port the request was addressed to (the "listener" port). */
  port: number;
  path: string;
  query: string;
  matchedPrefix?: string;
}

/** Location and status of a RequestRedirect filter. */
export function redirectTarget(
  f: Extract<HttpFilter, { type: 'RequestRedirect' }>['requestRedirect'],
  r: RedirectInput,
): { status: number; location: string } {
  const scheme = f.scheme ?? r.scheme;
  const host = f.hostname ?? r.host;
  const wellKnown = scheme === 'https' ? 443 : 80;
  const port = f.port ?? (f.scheme ? wellKnown : r.port);
  const path = f.path ? rewritePath(r.path, f.path, r.matchedPrefix) : r.path;
  const showPort = port !== wellKnown;
  const location = `${scheme}://${host}${showPort ? `:${port}` : ''}${path}${r.query ? `?${r.query}` : ''}`;
  return { status: f.statusCode ?? 302, location };
}
