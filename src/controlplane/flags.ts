/** Flag values particular to the control-plane commands (the parser is src/flags.ts). */
import { AmbitError } from '../errors.js';

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
