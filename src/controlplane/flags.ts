/** `--name value` / `--name=value` / `--flag` parsing for the control-plane commands. */
import { AmbitError } from '../errors.js';

export interface Flags {
  get(name: string): string | undefined;
  has(name: string): boolean;
  int(name: string, def: number, min?: number, max?: number): number;
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
  return {
    positional,
    get: (n) => values.get(n),
    has: (n) => values.has(n),
    int(n, def, min = 0, max = 65535) {
      const v = values.get(n);
      if (v === undefined) return def;
      const x = Number(v);
      if (!Number.isInteger(x) || x < min || x > max)
        throw new AmbitError('CLI_BAD_VALUE', `--${n} must be an integer in ${min}..${max}`, {
          value: v,
        });
      return x;
    },
  };
}

/** Durations like `24h`, `90m`, `3600s` or plain seconds. */
export function parseDuration(v: string, flag: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  if (!m)
    throw new AmbitError('CLI_BAD_VALUE', `--${flag}: ${JSON.stringify(v)} is not a duration`, {
      value: v,
      hint: 'use e.g. 24h, 90m, 3600s',
    });
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

/** The lab's state directory: `${AMBIT_STATE_DIR:-/var/lib/ambit}/labs/<lab>`. */
export function labStateDir(lab: string, env: NodeJS.ProcessEnv = process.env): string {
  return `${env.AMBIT_STATE_DIR ?? '/var/lib/ambit'}/labs/${lab}`;
}
