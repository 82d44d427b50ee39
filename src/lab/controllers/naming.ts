/**
 * Names of the pods the controllers create: `<deployment>-<10 hex template hash>-<5 random>`
 * (as `httpbin-5984865fdc-qh894`) and `<daemonset>-<5 random>`, with Kubernetes' random alphabet
 * (no vowels, no 0/1/3: nothing reads as a word or a look-alike).
 */
import { createHash, randomInt } from 'node:crypto';

const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(n = 5, rnd: (max: number) => number = randomInt): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHANUMS[rnd(ALPHANUMS.length)]!;
  return s;
}

/** JSON with object keys sorted, so equal templates hash equally whatever their key order. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The `pod-template-hash` label: 10 hex digits of the template's sha256. */
export function templateHash(template: unknown): string {
  return createHash('sha256').update(stableJson(template)).digest('hex').slice(0, 10);
}

export function deploymentPodName(
  deployment: string,
  hash: string,
  suffix = randomSuffix(),
): string {
  // Pod names are DNS-1123 subdomains (≤ 253); keep the prefix so the suffix always fits.
  return `${deployment.slice(0, 253 - 17)}-${hash}-${suffix}`;
}

export function daemonSetPodName(ds: string, suffix = randomSuffix()): string {
  return `${ds.slice(0, 253 - 6)}-${suffix}`;
}
