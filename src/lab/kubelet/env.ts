/** A container's environment, per the lab conventions, plus the spec's env (incl. fieldRef). */
import type { Container, Pod } from '../../k8s/types.js';
import { DEFAULT_PATH } from './runner.js';

export interface EnvInput {
  pod: Pod;
  container: Container;
  nodeName: string;
  hostIP: string;
  podIP: string;
  lab: string;
  /** AMBIT_STATE_DIR (the directory holding labs/). */
  stateBase: string;
  /** The in-lab API server URL. */
  server: string;
  /** The `kubernetes` Service's ClusterIP (first address of the cluster's serviceCIDR). */
  kubernetesIP: string;
  podDir: string;
  hostname: string;
  /** Token file and ConfigMap volume dirs. */
  extra: Record<string, string>;
}

type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } };

export function containerEnv(i: EnvInput): Record<string, string> {
  const pod = i.pod;
  const ns = pod.metadata.namespace ?? 'default';
  const sa = pod.spec?.serviceAccountName ?? 'default';
  const base: Record<string, string> = { PATH: process.env.PATH ?? DEFAULT_PATH, HOME: '/root' };
  // Development switches pass through so built-in apps run the same way as the lab.
  for (const k of ['AMBIT_TSX', 'AMBIT_LOG', 'LANG']) {
    const v = process.env[k];
    if (v !== undefined) base[k] = v;
  }
  const fields: Record<string, string> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': ns,
    'metadata.uid': pod.metadata.uid ?? '',
    'spec.nodeName': i.nodeName,
    'spec.serviceAccountName': sa,
    'status.podIP': i.podIP,
    'status.hostIP': i.hostIP,
  };
  const specEnv: Record<string, string> = {};
  for (const e of (i.container.env ?? []) as EnvVar[]) {
    const ref = e.valueFrom?.fieldRef?.fieldPath;
    specEnv[e.name] = e.value ?? (ref ? (fields[ref] ?? '') : '');
  }
  return {
    ...base,
    HOSTNAME: i.hostname,
    // The `kubernetes` Service, as the kubelet tells every container (in-cluster clients dial it).
    KUBERNETES_SERVICE_HOST: i.kubernetesIP,
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: `tcp://${i.kubernetesIP}:443`,
    KUBERNETES_PORT_443_TCP: `tcp://${i.kubernetesIP}:443`,
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: i.kubernetesIP,
    POD_NAME: pod.metadata.name,
    POD_NAMESPACE: ns,
    POD_UID: pod.metadata.uid ?? '',
    NODE_NAME: i.nodeName,
    INSTANCE_IP: i.podIP,
    HOST_IP: i.hostIP,
    SERVICE_ACCOUNT: sa,
    AMBIT_LAB: i.lab,
    AMBIT_STATE_DIR: i.stateBase,
    AMBIT_KUBE_SERVER: i.server,
    AMBIT_POD_DIR: i.podDir,
    ...i.extra,
    ...specEnv,
  };
}
