/**
 * The install values (`--set key=value`, istioctl's spelling where Istio has one):
 * `hub`, `tag` (the image `<hub>/ambit:<tag>`), `namespace`, `profile` (only `ambient`),
 * `crds` (Istio's CRDs, default true), `dnsCapture` (ztunnel answers pods' DNS),
 * `redirect` (node agent backend), `ebpfTproxy` (the eBPF backend's way to ztunnel's sockets,
 * the node agent's `--ebpf-tproxy`), and for the lab only `lab.istiodNode`, `lab.istiodIP`.
 */
import { AmbitError } from '../errors.js';
import { TPROXY_SETTINGS, type TproxySetting } from '../redirect/ebpf/tproxy-mode.js';

export interface InstallValues {
  hub: string;
  tag: string;
  namespace: string;
  profile: 'ambient';
  crds: boolean;
  dnsCapture: boolean;
  redirect?: string;
  /** Unset: the agent's default (auto). */
  ebpfTproxy?: TproxySetting;
  lab: { istiodNode?: string; istiodIP?: string };
}

export const VERSION = '0.1.0';

export function defaultValues(): InstallValues {
  return {
    hub: 'docker.io/ambit',
    tag: VERSION,
    namespace: 'istio-system',
    profile: 'ambient',
    crds: true,
    dnsCapture: false,
    lab: {},
  };
}

const bool = (k: string, v: string): boolean => {
  if (v === 'true' || v === 'false') return v === 'true';
  throw new AmbitError('INSTALL_BAD_VALUE', `--set ${k}=${v}: want true or false`, { value: v });
};

/** Applies `key=value` settings; unknown keys are an error naming the known ones. */
export function applySets(v: InstallValues, sets: string[]): InstallValues {
  const out = structuredClone(v);
  for (const s of sets) {
    const eq = s.indexOf('=');
    const key = eq > 0 ? s.slice(0, eq) : '';
    const value = eq > 0 ? s.slice(eq + 1) : '';
    switch (key) {
      case 'hub':
      case 'tag':
      case 'namespace':
        if (!value)
          throw new AmbitError('INSTALL_BAD_VALUE', `--set ${key}= needs a value`, { value: s });
        out[key] = value;
        break;
      case 'profile':
        if (value !== 'ambient') {
          throw new AmbitError(
            'INSTALL_BAD_VALUE',
            `--set profile=${value}: only the ambient profile exists`,
            {
              value,
              hint: '--set profile=ambient',
            },
          );
        }
        break;
      case 'crds':
        out.crds = bool(key, value);
        break;
      case 'dnsCapture':
      case 'values.cni.ambient.dnsCapture':
        out.dnsCapture = bool(key, value);
        break;
      case 'redirect':
        out.redirect = value;
        break;
      case 'ebpfTproxy':
        if (!(TPROXY_SETTINGS as readonly string[]).includes(value)) {
          throw new AmbitError(
            'INSTALL_BAD_VALUE',
            `--set ebpfTproxy=${value}: not an eBPF tproxy mode`,
            { value, hint: `one of ${TPROXY_SETTINGS.join(', ')}` },
          );
        }
        out.ebpfTproxy = value as TproxySetting;
        break;
      case 'lab.istiodNode':
        out.lab.istiodNode = value;
        break;
      case 'lab.istiodIP':
        out.lab.istiodIP = value;
        break;
      default:
        throw new AmbitError('INSTALL_BAD_VALUE', `unknown setting ${JSON.stringify(s)}`, {
          value: s,
          hint: 'known: hub, tag, namespace, profile, crds, dnsCapture, redirect, ebpfTproxy, lab.istiodNode, lab.istiodIP',
        });
    }
  }
  return out;
}
