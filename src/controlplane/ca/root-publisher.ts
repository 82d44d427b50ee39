/**
 * Publishes the root certificate as ConfigMap `istio-ca-root-cert` (key `root-cert.pem`) in
 * every namespace, as istiod does, so pods (ztunnel) can verify the control plane and peers.
 * Runs for each new namespace and re-checks all of them periodically.
 */
import { errorMessage } from '../../errors.js';
import type { KubeClient } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { KubeObject } from '../../k8s/types.js';
import type { Logger } from '../../log.js';
import { Label } from '../../api/labels.js';

export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';

type ConfigMap = KubeObject & { data?: Record<string, string> };

export class RootCertPublisher {
  constructor(
    private readonly kube: KubeClient,
    private readonly rootPem: string,
    private readonly log: Logger,
  ) {}

  /** Creates or fixes the ConfigMap in one namespace. */
  async ensure(namespace: string): Promise<void> {
    try {
      const cm = await this.kube.tryGet<ConfigMap>(
        resources.configmaps,
        ROOT_CERT_CONFIGMAP,
        namespace,
      );
      if (!cm) {
        await this.kube.create<ConfigMap>(resources.configmaps, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: ROOT_CERT_CONFIGMAP,
            namespace,
            labels: { [Label.config]: 'true' },
          },
          data: { [ROOT_CERT_KEY]: this.rootPem },
        });
        this.log.info('published root certificate', { namespace });
      } else if (cm.data?.[ROOT_CERT_KEY] !== this.rootPem) {
        await this.kube.update<ConfigMap>(resources.configmaps, {
          ...cm,
          data: { ...cm.data, [ROOT_CERT_KEY]: this.rootPem },
        });
        this.log.info('updated root certificate', { namespace });
      }
    } catch (err) {
      this.log.warn('cannot publish the root certificate', { namespace, error: errorMessage(err) });
    }
  }
}
