/**
 * API discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>[/<version>]`, in the
 * legacy (non-aggregated) format, which kubectl and client libraries fall back to.
 */
import { apiVersionOf, groups, kinds } from './catalog.js';

/** kubectl's dispatcher picks its client minor version from this answer. */
export const serverVersion = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: `node${process.versions.node}`,
  compiler: 'ambit',
  platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
};

export function coreVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupEntry(group: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: vs, preferredVersion: vs[0] };
}

export function groupList(): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups()].map(([g, v]) => groupEntry(g, v)),
  };
}

export function group(name: string): Record<string, unknown> | undefined {
  const v = groups().get(name);
  return v ? { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(name, v) } : undefined;
}

/** Subresources whose objects are of another kind than their parent. */
const subresourceKinds: Record<
  string,
  { kind: string; group?: string; version?: string; verbs: string[] }
> = {
  token: { kind: 'TokenRequest', group: 'authentication.k8s.io', version: 'v1', verbs: ['create'] },
  binding: { kind: 'Binding', verbs: ['create'] },
  scale: { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
  log: { kind: 'Pod', verbs: ['get'] },
  exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
  attach: { kind: 'PodAttachOptions', verbs: ['create', 'get'] },
  portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
};

export function resourceList(group: string, version: string): Record<string, unknown> | undefined {
  const ks = kinds.filter((k) => k.group === group && k.version === version);
  if (ks.length === 0) return undefined;
  const list: Record<string, unknown>[] = [];
  for (const k of ks) {
    list.push({
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: k.verbs,
      ...(k.shortNames.length ? { shortNames: k.shortNames } : {}),
      ...(k.categories?.length
        ? { categories: k.categories }
        : k.group === 'apps' || (k.group === '' && ['pods', 'services'].includes(k.plural))
          ? { categories: ['all'] }
          : {}),
      storageVersionHash: '',
    });
    for (const sub of k.subresources) {
      const special = subresourceKinds[sub];
      list.push({
        name: `${k.plural}/${sub}`,
        singularName: '',
        namespaced: k.namespaced,
        kind: special?.kind ?? k.kind,
        ...(special?.group !== undefined ? { group: special.group, version: special.version } : {}),
        verbs: special?.verbs ?? ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: list,
  };
}

export { apiVersionOf };
