/**
 * Istio's AuthorizationPolicy string match (docs/istio/waypoint.md §3.3): `abc` exact, `abc*` prefix,
 * `*abc` suffix, `*` alone any non-empty value.
 */
export type StringPred = (value: string | undefined) => boolean;

export function istioStringMatch(pattern: string, ignoreCase = false): StringPred {
  const norm = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  const p = norm(pattern);
  if (p === '*') return (v) => v !== undefined && v !== '';
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => v !== undefined && norm(v).startsWith(prefix);
  }
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => v !== undefined && norm(v).endsWith(suffix);
  }
  return (v) => v !== undefined && norm(v) === p;
}

/** True when any of `patterns` matches `value`. */
export function anyMatch(patterns: StringPred[], value: string | undefined): boolean {
  return patterns.some((m) => m(value));
}
