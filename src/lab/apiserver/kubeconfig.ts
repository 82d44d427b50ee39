/**
 * A kubeconfig for the lab: one cluster, user and context named after the lab. With `auth`,
 * the cluster carries the CA (certificate-authority-data, so kubectl verifies the server) and
 * the user a client certificate or a bearer token.
 */
import { stringify } from 'yaml';

export interface KubeconfigAuth {
  caPem?: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export function kubeconfig(lab: string, server: string, auth: KubeconfigAuth = {}): string {
  const cluster: Record<string, string> = { server };
  if (auth.caPem) cluster['certificate-authority-data'] = b64(auth.caPem);
  const user: Record<string, string> = {};
  if (auth.certPem) user['client-certificate-data'] = b64(auth.certPem);
  if (auth.keyPem) user['client-key-data'] = b64(auth.keyPem);
  if (auth.token) user.token = auth.token;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: lab, cluster }],
    users: [{ name: lab, user }],
    contexts: [{ name: lab, context: { cluster: lab, user: lab, namespace: 'default' } }],
    'current-context': lab,
    preferences: {},
  });
}
