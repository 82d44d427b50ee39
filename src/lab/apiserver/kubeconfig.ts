/** A kubeconfig for the lab: one cluster, user and context named after the lab, plain http. */
import { stringify } from 'yaml';

export function kubeconfig(lab: string, server: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: lab, cluster: { server } }],
    users: [{ name: lab, user: {} }],
    contexts: [{ name: lab, context: { cluster: lab, user: lab, namespace: 'default' } }],
    'current-context': lab,
    preferences: {},
  });
}
