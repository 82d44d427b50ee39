/**
 * A tiny `--name value` / `--name=value` / `--flag` parser shared by the lab's daemons and apps,
 * with errors that name the flag.
 */
import { AmbitError } from '../../errors.js';

export interface Flags {
  values: Map<string, string>;
  positional: string[];
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
  return { values, positional };
}

export function intFlag(f: Flags, name: string, def: number, min = 0, max = 65535): number {
  const v = f.values.get(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new AmbitError('CLI_BAD_VALUE', `flag --${name} must be an integer in ${min}..${max}`, {
      value: v,
    });
  return n;
}
