/**
 * A pod's files under `<state>/pods/<ns>_<name>/`: the service-account token (TokenRequest
 * bound to the pod) and ConfigMap volumes as `volumes/<volume>/<key>`.
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
}

type ConfigMap = KubeObject & { data?: Record<string, string> };

export function podVolumes(pod: Pod): Volume[] {
  return ((pod.spec as { volumes?: Volume[] } | undefined)?.volumes ?? []).filter(
    (v) => v.configMap,
  );
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
  const file = join(podDir, 'token');
  writeAtomic(file, token, 0o600);
  return file;
}

/**
 * Writes every ConfigMap volume; throws KUBELET_CONFIGMAP_MISSING when a ConfigMap does not
 * exist yet (the pod waits and the kubelet retries). Returns the env vars naming the dirs.
 */
export async function writeConfigMapVolumes(
  client: KubeClient,
  pod: Pod,
  podDir: string,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const v of podVolumes(pod)) {
    const cmName = v.configMap!.name;
    const cm = await client.tryGet<ConfigMap>(resources.configmaps, cmName, pod.metadata.namespace);
    const dir = join(podDir, 'volumes', v.name);
    if (!cm && !v.configMap!.optional) {
      throw new AmbitError('KUBELET_CONFIGMAP_MISSING', `configmap "${cmName}" not found`, {
        value: cmName,
        hint: `volume ${v.name} waits for it`,
      });
    }
    mkdirSync(dir, { recursive: true });
    for (const [key, value] of Object.entries(cm?.data ?? {})) {
      if (key.includes('/') || key.startsWith('.')) continue;
      writeAtomic(join(dir, key), value);
    }
    env[volumeEnvName(v.name)] = dir;
  }
  return env;
}
