/**
 * The lab's credentials, written by the API server at start: the user's kubeconfig (client
 * certificate of `kubernetes-admin` in `system:masters`, as kubeadm's admin.conf) and one
 * kubeconfig per lab daemon with its own identity, as kubeadm gives the control-plane
 * components and kubelets: `system:kube-controller-manager`, `system:node:<node>` in
 * `system:nodes`, `system:kube-proxy`. Client keys stay in `<state>/pki/` (mode 0600), which
 * pods do not see.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonKubeconfig } from '../cluster/paths.js';
import { kubeconfig } from './kubeconfig.js';
import type { CertPair, LabPki } from './pki.js';

export interface LabIdentity {
  /** Daemon name (its kubeconfig is `<state>/pki/<daemon>.kubeconfig`). */
  daemon: string;
  user: string;
  groups: string[];
  /** Where it runs: in a node's netns (the in-lab URL) or the root netns (loopback). */
  inLab: boolean;
}

export const adminIdentity = { user: 'kubernetes-admin', groups: ['system:masters'] };

export function labIdentities(nodes: string[]): LabIdentity[] {
  return [
    {
      daemon: 'controller-manager',
      user: 'system:kube-controller-manager',
      groups: [],
      inLab: false,
    },
    ...nodes.flatMap((n) => [
      { daemon: `kubelet-${n}`, user: `system:node:${n}`, groups: ['system:nodes'], inLab: true },
      { daemon: `kube-proxy-${n}`, user: 'system:kube-proxy', groups: [], inLab: true },
    ]),
  ];
}

/** The stored pair of `name`, or a new one from `make` (stored). */
async function pairOf(pki: LabPki, name: string, make: () => Promise<CertPair>): Promise<CertPair> {
  const certFile = join(pki.dir, `${name}.crt`);
  const keyFile = join(pki.dir, `${name}.key`);
  if (existsSync(certFile) && existsSync(keyFile))
    return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
  const pair = await make();
  pki.store(name, pair);
  return pair;
}

export async function writeCredentials(opts: {
  pki: LabPki;
  lab: string;
  labDir: string;
  userUrl: string;
  inLabUrl: string | undefined;
  nodes: string[];
}): Promise<void> {
  const { pki } = opts;
  const admin = await pairOf(pki, 'admin', () =>
    pki.client(adminIdentity.user, adminIdentity.groups),
  );
  writeFileSync(
    join(opts.labDir, 'kubeconfig'),
    kubeconfig(opts.lab, opts.userUrl, { caPem: pki.caPem, ...admin }),
    { mode: 0o600 },
  );
  for (const id of labIdentities(opts.nodes)) {
    const pair = await pairOf(pki, id.daemon, () => pki.client(id.user, id.groups));
    const server = id.inLab && opts.inLabUrl ? opts.inLabUrl : opts.userUrl;
    writeFileSync(
      daemonKubeconfig(opts.labDir, id.daemon),
      kubeconfig(opts.lab, server, { caPem: pki.caPem, ...pair }),
      { mode: 0o600 },
    );
  }
}
