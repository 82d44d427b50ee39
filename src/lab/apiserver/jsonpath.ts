/**
 * The JSONPath subset CRDs' additionalPrinterColumns use (`.a.b`, `[n]`, `[*]`,
 * `[?(@.k=="v")]`), evaluated as kubectl's printer does: every match, or none.
 */
const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

type Step = { field: string } | { index: number } | { all: true } | { key: string; value: string };

function parse(path: string): Step[] | undefined {
  const steps: Step[] = [];
  const re =
    /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_-]+)\s*==\s*["']([^"']*)["']\)\]/gy;
  const p = path.replace(/^\{|\}$/g, '');
  let m: RegExpExecArray | null;
  let at = 0;
  re.lastIndex = 0;
  while (at < p.length && (m = re.exec(p))) {
    if (m[1] !== undefined) steps.push({ field: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ key: m[3], value: m[4] ?? '' });
    else steps.push({ all: true });
    at = re.lastIndex;
  }
  return at === p.length ? steps : undefined;
}

/** The values at `path` in `obj` (empty when nothing matches or the path is not understood). */
export function jsonPath(obj: unknown, path: string): unknown[] {
  const steps = parse(path);
  if (!steps) return [];
  let cur: unknown[] = [obj];
  for (const s of steps) {
    const next: unknown[] = [];
    for (const c of cur) {
      if ('field' in s) {
        if (isObj(c) && c[s.field] !== undefined) next.push(c[s.field]);
      } else if ('index' in s) {
        if (Array.isArray(c) && s.index < c.length) next.push(c[s.index]);
      } else if ('all' in s) {
        if (Array.isArray(c)) next.push(...c);
        else if (isObj(c)) next.push(...Object.values(c));
      } else if (Array.isArray(c)) {
        next.push(...c.filter((x) => isObj(x) && String(x[s.key]) === s.value));
      }
    }
    cur = next;
  }
  return cur;
}

/** A cell as kubectl prints it: scalars joined by ",", objects and arrays as JSON. */
export function cellOf(values: unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',');
}
