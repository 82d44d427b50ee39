/**
 * `--name value` / `--name=value` / `--flag` parsing for ambit's commands and daemons, with
 * errors that name the flag and the bad value.
 */
import { AmbitError } from './errors.js';

export interface Flags {
  values: Map<string, string>;
  positional: string[];
  get(name: string): string | undefined;
  has(name: string): boolean;
  /** An integer flag in [min, max], or `def` when absent. */
  int(name: string, def: number, min?: number, max?: number): number;
}

export function parseFlags(args: readonly string[], booleans: readonly string[] = []): Flags {
  const values = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (eq >= 0) values.set(name, a.slice(eq + 1));
    else if (booleans.includes(name)) values.set(name, 'true');
    else {
      const v = args[i + 1];
      if (v === undefined)
        throw new AmbitError('CLI_MISSING_VALUE', `flag --${name} needs a value`, { value: a });
      values.set(name, v);
      i++;
    }
  }
  return {
    values,
    positional,
    get: (n) => values.get(n),
    has: (n) => values.has(n),
    int(n, def, min = 0, max = 65535) {
      const v = values.get(n);
      if (v === undefined) return def;
      const x = Number(v);
      if (!Number.isInteger(x) || x < min || x > max)
        throw new AmbitError('CLI_BAD_VALUE', `flag --${n} must be an integer in ${min}..${max}`, {
          value: v,
        });
      return x;
    },
  };
}

export function intFlag(f: Flags, name: string, def: number, min = 0, max = 65535): number {
  return f.int(name, def, min, max);
}
