/**
 * Prometheus' Kubernetes service discovery, role `pod`, as HTTP SD target groups: the same
 * targets and `__meta_kubernetes_*` labels Prometheus' own kubernetes_sd_configs make (one
 * target per declared container port, `podIP:port`; one port-free target per container
 * without ports), so the relabel rules of samples/addons/prometheus.yaml apply unchanged.
 * Debian's prometheus is built without Kubernetes discovery (its NEWS.Debian, 1.5.0:
 * "Kubernetes support has been completely removed"), hence this.
 */
import type { Pod } from '../../../k8s/types.js';

/** One HTTP SD target group (Prometheus' http_sd_configs response format). */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Prometheus' label-name sanitizing: anything but [a-zA-Z0-9_] becomes `_`. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

type Port = { name?: string; containerPort?: number; protocol?: string };
type Container = { name: string; ports?: Port[] };

function podReady(p: Pod): boolean {
  const conds = (p.status as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return conds?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function podLabels(p: Pod): Record<string, string> {
  const out: Record<string, string> = {
    __meta_kubernetes_namespace: p.metadata.namespace ?? 'default',
    __meta_kubernetes_pod_name: p.metadata.name,
    __meta_kubernetes_pod_ip: p.status?.podIP ?? '',
    __meta_kubernetes_pod_ready: String(podReady(p)),
    __meta_kubernetes_pod_phase: p.status?.phase ?? '',
    __meta_kubernetes_pod_node_name: p.spec?.nodeName ?? '',
    __meta_kubernetes_pod_host_ip: (p.status as { hostIP?: string } | undefined)?.hostIP ?? '',
    __meta_kubernetes_pod_uid: p.metadata.uid ?? '',
  };
  for (const [k, v] of Object.entries(p.metadata.labels ?? {})) {
    out[`__meta_kubernetes_pod_label_${sanitizeLabelName(k)}`] = v;
    out[`__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(k)}`] = 'true';
  }
  for (const [k, v] of Object.entries(p.metadata.annotations ?? {})) {
    out[`__meta_kubernetes_pod_annotation_${sanitizeLabelName(k)}`] = v;
    out[`__meta_kubernetes_pod_annotationpresent_${sanitizeLabelName(k)}`] = 'true';
  }
  const owner = p.metadata.ownerReferences?.find((o) => o.controller);
  if (owner) {
    out.__meta_kubernetes_pod_controller_kind = owner.kind;
    out.__meta_kubernetes_pod_controller_name = owner.name;
  }
  return out;
}

/** The target groups of role `pod` for `pods` (pods without an IP yet have no targets). */
export function podTargetGroups(pods: Pod[]): TargetGroup[] {
  const groups: TargetGroup[] = [];
  for (const p of pods) {
    const ip = p.status?.podIP;
    if (!ip) continue;
    const base = podLabels(p);
    const host = ip.includes(':') ? `[${ip}]` : ip;
    for (const c of (p.spec?.containers ?? []) as Container[]) {
      const cl = { ...base, __meta_kubernetes_pod_container_name: c.name };
      const ports = (c.ports ?? []).filter((x) => x.containerPort !== undefined);
      if (ports.length === 0) {
        groups.push({ targets: [host], labels: cl });
        continue;
      }
      for (const port of ports) {
        groups.push({
          targets: [`${host}:${port.containerPort}`],
          labels: {
            ...cl,
            __meta_kubernetes_pod_container_port_name: port.name ?? '',
            __meta_kubernetes_pod_container_port_number: String(port.containerPort),
            __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP',
          },
        });
      }
    }
  }
  return groups;
}
