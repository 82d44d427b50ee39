/**
 * PeerAuthentication (security.istio.io/v1) → Authorization for ztunnel, as istiod does it for
 * ambient (docs/istio/ztunnel.md §5.1, `convertPeerAuthentication` and
 * `convertedSelectorPeerAuthentications`): ztunnel has no mTLS-mode setting; STRICT becomes a
 * DENY of connections without a peer identity (`not_principals: presence`), which is exactly
 * plaintext arriving on 15006.
 *
 * - Effective mode of a workload: the oldest PeerAuthentication with a selector matching it in
 *   its namespace, else its namespace's policy without a selector, else the mesh-wide one (root
 *   namespace, no selector), else PERMISSIVE. UNSET inherits the next level.
 * - STRICT everywhere on the workload: the static root-namespace policy
 *   `istio_converted_static_strict`, attached to the workload by name (WORKLOAD_SELECTOR scope).
 * - Port-level modes (workload policies only, as in Istio): one DENY per workload policy,
 *   `converted_peer_authentication_<name>`, whose single Match ANDs `not_principals: presence`
 *   with the ports: STRICT base → `not_destination_ports` = the non-STRICT ports; PERMISSIVE or
 *   DISABLE base → `destination_ports` = the STRICT ports. One Match, so port exceptions can
 *   never combine into "permissive everywhere" (istio #54146).
 * - DISABLE means plaintext is accepted inbound (ztunnel still sends mTLS), like PERMISSIVE.
 */
import type { Authorization, Match } from '../../api/workload.js';
import { emptyMatch, toPort } from './authorization.js';
import type { ModelOptions, PeerAuthentication } from './types.js';
import { selectorMatches } from './workloads.js';

export type MtlsMode = 'UNSET' | 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export const STATIC_STRICT = 'istio_converted_static_strict';
const CONVERTED_PREFIX = 'converted_peer_authentication_';

const MODES = new Set<MtlsMode>(['UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE']);

/** A mode as written; anything unknown is UNSET (istiod's validation would refuse it). */
export function modeOf(v: string | undefined): MtlsMode {
  const m = (v ?? 'UNSET').toUpperCase() as MtlsMode;
  return MODES.has(m) ? m : 'UNSET';
}

function hasSelector(pa: PeerAuthentication): boolean {
  return Object.keys(pa.spec?.selector?.matchLabels ?? {}).length > 0;
}

function oldestFirst(a: PeerAuthentication, b: PeerAuthentication): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.metadata.name.localeCompare(b.metadata.name);
}

const strictMatch = (m: Partial<Match>): Match => ({
  ...emptyMatch(),
  notPrincipals: [{ presence: true }],
  ...m,
});

function denyPolicy(namespace: string, name: string, match: Match): Authorization {
  return {
    name,
    namespace,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [match] }] }],
    dryRun: false,
  };
}

/** The static policy every fully STRICT workload references. */
export function staticStrictPolicy(rootNamespace: string): Authorization {
  return denyPolicy(rootNamespace, STATIC_STRICT, strictMatch({}));
}

export interface PeerAuthIndex {
  /**
   * The policy names (`ns/name`) a workload must reference for its mTLS mode, and those
   * policies (a converted one, or the static STRICT one). Pure: depends only on the index.
   */
  resolve(
    namespace: string,
    labels: Record<string, string>,
  ): { names: string[]; authorizations: Authorization[] };
}

export function indexPeerAuthentications(
  all: PeerAuthentication[],
  opts: Pick<ModelOptions, 'rootNamespace'>,
): PeerAuthIndex {
  const sorted = [...all].sort(oldestFirst);
  const mesh = sorted.find((p) => p.metadata.namespace === opts.rootNamespace && !hasSelector(p));
  const nsWide = new Map<string, PeerAuthentication>();
  const withSelector = new Map<string, PeerAuthentication[]>();
  for (const p of sorted) {
    const ns = p.metadata.namespace ?? 'default';
    if (!hasSelector(p)) {
      if (!nsWide.has(ns)) nsWide.set(ns, p);
    } else withSelector.set(ns, [...(withSelector.get(ns) ?? []), p]);
  }
  const staticStrict = staticStrictPolicy(opts.rootNamespace);

  const resolve = (
    namespace: string,
    labels: Record<string, string>,
  ): { names: string[]; authorizations: Authorization[] } => {
    const selected = (withSelector.get(namespace) ?? []).find((p) =>
      selectorMatches(p.spec?.selector?.matchLabels, labels),
    );
    let base: MtlsMode = 'UNSET';
    for (const p of [selected, nsWide.get(namespace), mesh]) {
      if (base === 'UNSET' && p) base = modeOf(p.spec?.mtls?.mode);
    }
    if (base === 'UNSET') base = 'PERMISSIVE';
    const ports = selected ? portModes(selected) : [];
    const strictPorts = ports.filter(([, m]) => m === 'STRICT').map(([p]) => p);
    const openPorts = ports
      .filter(([, m]) => m === 'PERMISSIVE' || m === 'DISABLE')
      .map(([p]) => p);
    const effective = base === 'STRICT' ? openPorts.length : strictPorts.length;
    if (selected && effective > 0) {
      const ns = selected.metadata.namespace ?? 'default';
      const name = `${CONVERTED_PREFIX}${selected.metadata.name}`;
      const match =
        base === 'STRICT'
          ? strictMatch({ notDestinationPorts: openPorts })
          : strictMatch({ destinationPorts: strictPorts });
      return { names: [`${ns}/${name}`], authorizations: [denyPolicy(ns, name, match)] };
    }
    if (base === 'STRICT')
      return { names: [`${opts.rootNamespace}/${STATIC_STRICT}`], authorizations: [staticStrict] };
    return { names: [], authorizations: [] };
  };

  return { resolve };
}

/** Port-level modes, UNSET ones dropped; a key that is not a port is skipped. */
function portModes(pa: PeerAuthentication): [number, MtlsMode][] {
  const out: [number, MtlsMode][] = [];
  for (const [k, v] of Object.entries(pa.spec?.portLevelMtls ?? {})) {
    let port: number;
    try {
      port = toPort(k, `portLevelMtls.${k}`);
    } catch {
      continue;
    }
    const m = modeOf(v?.mode);
    if (m !== 'UNSET') out.push([port, m]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}
