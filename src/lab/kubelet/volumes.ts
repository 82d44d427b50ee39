/**
 * A pod's files under `<state>/pods/<ns>_<name>/`: the projected service-account volume
 * `serviceaccount/{token,ca.crt,namespace}` (TokenRequest bound to the pod; the container sees
 * it at /var/run/secrets/kubernetes.io/serviceaccount) and ConfigMap and Secret volumes as
 * `volumes/<volume>/<key>` (seen at their volumeMounts' mountPath).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../../errors.js';
import type { KubeClient } from '../../k8s/client.js';
import { resourcePath, resources } from '../../k8s/resources.js';
import type { KubeObject, Pod } from '../../k8s/types.js';

export interface Volume {
  name: string;
  configMap?: { name: string; optional?: boolean };
  secret?: { secretName?: string; optional?: boolean };
}

type ConfigMap = KubeObject & { data?: Record<string, string> };
type Secret = KubeObject & { data?: Record<string, string>; stringData?: Record<string, string> };

/** Where the container sees its service-account files (as in Kubernetes). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function podVolumes(pod: Pod): Volume[] {
  return ((pod.spec as { volumes?: Volume[] } | undefined)?.volumes ?? []).filter(
    (v) => v.configMap || v.secret,
  );
}

export function serviceAccountDir(podDir: string): string {
  return join(podDir, 'serviceaccount');
}

export function volumeEnvName(volume: string): string {
  return 'AMBIT_VOLUME_' + volume.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

function writeAtomic(path: string, data: string, mode = 0o644): void {
  writeFileSync(path + '.tmp', data, { mode });
  renameSync(path + '.tmp', path);
}

/** Requests a token for the pod's service account, bound to the pod, into `<podDir>/token`. */
export async function writeToken(client: KubeClient, pod: Pod, podDir: string): Promise<string> {
  const ns = pod.metadata.namespace ?? 'default';
  const sa = pod.spec?.serviceAccountName ?? 'default';
  const path = resourcePath(resources.serviceaccounts, ns, sa) + '/token';
  const resp = await client.request<{ status?: { token?: string } }>('POST', path, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: [],
      expirationSeconds: 86400,
      boundObjectRef: {
        kind: 'Pod',
        apiVersion: 'v1',
        name: pod.metadata.name,
        uid: pod.metadata.uid,
      },
    },
  });
  const token = resp.status?.token;
  if (!token) {
    throw new AmbitError('KUBELET_NO_TOKEN', `TokenRequest for ${ns}/${sa} returned no token`, {
      value: `${ns}/${sa}`,
    });
  }
  const dir = serviceAccountDir(podDir);
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, 'token'), token, 0o600);
  writeAtomic(join(dir, 'namespace'), ns);
  // The cluster's CA as Kubernetes publishes it to every namespace (empty while the lab's API
  // server has none).
  const ca = await client.tryGet<ConfigMap>(resources.configmaps, 'kube-root-ca.crt', ns);
  writeAtomic(join(dir, 'ca.crt'), ca?.data?.['ca.crt'] ?? '');
  return join(dir, 'token');
}

/**
 * Writes every ConfigMap and Secret volume; throws KUBELET_CONFIGMAP_MISSING when a
 * (non-optional) one does not exist yet (the pod waits and the kubelet retries). Returns the
 * env vars naming the dirs.
 */
export async function writeConfigMapVolumes(
  client: KubeClient,
  pod: Pod,
  podDir: string,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const v of podVolumes(pod)) {
    const dir = join(podDir, 'volumes', v.name);
    let data: Record<string, string> | undefined;
    let optional: boolean;
    let what: string;
    if (v.configMap) {
      what = `configmap "${v.configMap.name}"`;
      optional = v.configMap.optional === true;
      const cm = await client.tryGet<ConfigMap>(
        resources.configmaps,
        v.configMap.name,
        pod.metadata.namespace,
      );
      data = cm ? (cm.data ?? {}) : undefined;
    } else {
      const name = v.secret?.secretName ?? '';
      what = `secret "${name}"`;
      optional = v.secret?.optional === true;
      const sec = await client.tryGet<Secret>(resources.secrets, name, pod.metadata.namespace);
      data = sec
        ? {
            ...Object.fromEntries(
              Object.entries(sec.data ?? {}).map(([k, b]) => [
                k,
                Buffer.from(b, 'base64').toString('utf8'),
              ]),
            ),
            ...(sec.stringData ?? {}),
          }
        : undefined;
    }
    if (!data && !optional) {
      throw new AmbitError('KUBELET_CONFIGMAP_MISSING', `${what} not found`, {
        value: what,
        hint: `volume ${v.name} waits for it`,
      });
    }
    mkdirSync(dir, { recursive: true });
    for (const [key, value] of Object.entries(data ?? {})) {
      if (key.includes('/') || key.startsWith('.')) continue;
      writeAtomic(join(dir, key), value, v.secret ? 0o600 : 0o644);
    }
    env[volumeEnvName(v.name)] = dir;
  }
  return env;
}
