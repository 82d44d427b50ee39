/**
 * Which way the eBPF backend hands captured packets to ztunnel's sockets, decided once per
 * node when the programs are loaded (Istio 1.20 probes the same helper, see
 * redirection-in-istio.md §4): `sk_assign` where tc programs may call bpf_sk_assign (and
 * bpf_skc_lookup_tcp), else `mark`, the mark+TPROXY fallback. `--ebpf-tproxy` forces either.
 * Pure: the kernel's helper list comes from src/sys/bpf.ts.
 */
import { AmbitError } from '../../errors.js';
import { TPROXY_MODES, type TproxyMode } from './maps.js';

export const TPROXY_SETTINGS = ['auto', ...TPROXY_MODES] as const;
export type TproxySetting = (typeof TPROXY_SETTINGS)[number];

/** `--ebpf-tproxy auto|sk_assign|mark` (undefined = auto). */
export function parseTproxySetting(v: string | undefined): TproxySetting {
  const s = v ?? 'auto';
  if (!(TPROXY_SETTINGS as readonly string[]).includes(s)) {
    throw new AmbitError('REDIRECT_BAD_TPROXY', `unknown eBPF tproxy mode ${s}`, {
      value: s,
      hint: `use one of: ${TPROXY_SETTINGS.join(', ')}`,
    });
  }
  return s as TproxySetting;
}

/** The helpers ztunnel_tproxy calls. */
export const SK_ASSIGN_HELPERS = ['bpf_sk_assign', 'bpf_skc_lookup_tcp'] as const;

/**
 * The mode for `setting` on a kernel whose tc classifiers may call `helpers`; an empty set
 * means the probe failed (unknown: auto tries sk_assign, and the backend falls back on a
 * load failure). A forced sk_assign the kernel is known to lack is refused by name.
 */
export function chooseTproxyMode(setting: TproxySetting, helpers: Set<string>): TproxyMode {
  if (setting === 'mark') return 'mark';
  const missing = SK_ASSIGN_HELPERS.filter((h) => !helpers.has(h));
  if (helpers.size === 0 || missing.length === 0) return 'sk_assign';
  if (setting === 'auto') return 'mark';
  throw new AmbitError(
    'BPF_NO_SK_ASSIGN',
    `this kernel's tc programs cannot call ${missing.join(', ')} (--ebpf-tproxy sk_assign)`,
    {
      value: missing,
      hint: 'bpf_sk_assign needs Linux 5.7+; use --ebpf-tproxy auto or mark (iptables TPROXY)',
    },
  );
}

/** Neither way works: no bpf_sk_assign and no TPROXY target. `detail`: what failed. */
export function noTproxyError(detail: string): AmbitError {
  return new AmbitError(
    'REDIRECT_EBPF_NO_TPROXY',
    `the eBPF backend cannot hand packets to ztunnel: the kernel lacks bpf_sk_assign for tc ` +
      `programs (Linux 5.7+) and the mark fallback failed: ${detail}`,
    {
      value: detail,
      hint:
        'the fallback needs the iptables TPROXY target (CONFIG_NETFILTER_XT_TARGET_TPROXY, ' +
        'module xt_TPROXY) in the ztunnel pod; or use --redirect iptables',
    },
  );
}
