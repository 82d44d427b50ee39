/**
 * The lab's prom/prometheus image: the container of samples/addons/prometheus.yaml becomes
 * `ambit lab app prometheus` with its paths in the pod's volumes; the ConfigMap's
 * kubernetes_sd_configs become http_sd_configs with the relabel rules untouched; the pod role's
 * targets and __meta_kubernetes_pod_* labels are Prometheus' own.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { flagValue, rewriteConfig } from '../../src/lab/apps/prometheus/config.js';
import { podTargetGroups, sanitizeLabelName } from '../../src/lab/apps/prometheus/discovery.js';
import { hostPath } from '../../src/lab/kubelet/prometheus.js';
import { containerArgv } from '../../src/lab/kubelet/runner.js';
import type { Container, Pod } from '../../src/k8s/types.js';
import { repoRoot } from '../../src/repo.js';

type Obj = {
  kind: string;
  data?: Record<string, string>;
  spec?: { template: { spec: { containers: Container[] } } };
};
const docs = parseAllDocuments(
  readFileSync(join(repoRoot(), 'samples/addons/prometheus.yaml'), 'utf8'),
).map((d) => d.toJS() as Obj);

test('the addon has the objects of Istio’s prometheus.yaml', () => {
  assert.deepEqual(docs.map((d) => d.kind).sort(), [
    'ClusterRole',
    'ClusterRoleBinding',
    'ConfigMap',
    'Deployment',
    'Service',
    'ServiceAccount',
  ]);
});

test('prom/prometheus runs ambit lab app prometheus with its paths in the pod’s volumes', () => {
  const dep = docs.find((d) => d.kind === 'Deployment')!;
  const c = dep.spec!.template.spec.containers[0]!;
  assert.match(c.image ?? '', /^prom\/prometheus:v2\./);
  const argv = containerArgv(c, '/state/pods/istio-system_p');
  const i = argv.indexOf('prometheus');
  assert.deepEqual(argv.slice(i - 2, i + 1), ['lab', 'app', 'prometheus']);
  assert.equal(
    flagValue(argv, '--config.file'),
    '/state/pods/istio-system_p/volumes/config-volume/prometheus.yml',
  );
  assert.equal(
    flagValue(argv, '--storage.tsdb.path'),
    '/state/pods/istio-system_p/volumes/storage-volume',
  );
  // Paths under no mount stay (Debian ships /etc/prometheus/console_libraries).
  assert.equal(flagValue(argv, '--web.console.libraries'), '/etc/prometheus/console_libraries');
  // Without a pod directory (asking only for the argv) nothing is rewritten.
  assert.equal(flagValue(containerArgv(c), '--config.file'), '/etc/config/prometheus.yml');
});

test('hostPath: the longest mount wins, siblings with a common prefix do not match', () => {
  const ctx = {
    podDir: '/p',
    mounts: [
      { name: 'a', mountPath: '/etc/config' },
      { name: 'b', mountPath: '/etc/config/rules' },
    ],
  };
  assert.equal(hostPath('/etc/config/x.yml', ctx), '/p/volumes/a/x.yml');
  assert.equal(hostPath('/etc/config/rules/r.yml', ctx), '/p/volumes/b/r.yml');
  assert.equal(hostPath('/etc/configs/x', ctx), '/etc/configs/x');
  assert.equal(hostPath('/etc/config', ctx), '/p/volumes/a');
  assert.equal(hostPath('relative', ctx), 'relative');
});

test('the ConfigMap’s kubernetes_sd_configs become http_sd_configs on the pod’s loopback', () => {
  const cm = docs.find((d) => d.kind === 'ConfigMap')!;
  const original = cm.data!['prometheus.yml']!;
  const r = rewriteConfig(original, 'http://127.0.0.1:4321');
  type Sc = Record<string, unknown> & { job_name: string };
  const before = (parse(original) as { scrape_configs: Sc[] }).scrape_configs;
  const after = (parse(r.yaml) as { scrape_configs: Sc[] }).scrape_configs;
  const pods = after.find((s) => s.job_name === 'kubernetes-pods')!;
  assert.equal(pods.kubernetes_sd_configs, undefined);
  const i = r.requests.findIndex((q) => q.role === 'pod');
  assert.ok(i >= 0);
  assert.deepEqual(pods.http_sd_configs, [
    { url: `http://127.0.0.1:4321/sd/${i}`, refresh_interval: '5s' },
  ]);
  // Relabelling, the self-scrape job and every other field are as written.
  const podsBefore = before.find((s) => s.job_name === 'kubernetes-pods')!;
  assert.deepEqual(pods.relabel_configs, podsBefore.relabel_configs);
  assert.deepEqual(
    after.find((s) => s.job_name === 'prometheus'),
    before.find((s) => s.job_name === 'prometheus'),
  );
  assert.deepEqual(
    r.requests.map((q) => q.role),
    ['pod', 'endpoints'],
  );
});

test('namespaces.names is kept; bad YAML is a PROMETHEUS_BAD_CONFIG error', () => {
  const r = rewriteConfig(
    'scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces: {names: [x, y]}\n',
    'http://h',
  );
  assert.deepEqual(r.requests, [{ role: 'pod', namespaces: ['x', 'y'] }]);
  assert.throws(() => rewriteConfig('a: [', 'http://h'), /PROMETHEUS_BAD_CONFIG|not YAML/);
});

test('pod role: one target per container port, Prometheus’ meta labels', () => {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'ztunnel-w',
      namespace: 'istio-system',
      uid: 'u1',
      labels: { app: 'ztunnel', 'sidecar.istio.io/inject': 'false' },
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ztunnel', uid: 'd', controller: true },
      ],
    },
    spec: {
      nodeName: 'worker',
      containers: [
        {
          name: 'istio-proxy',
          ports: [
            { containerPort: 15008, name: 'hbone' },
            { containerPort: 15020, name: 'metrics' },
          ],
        },
        { name: 'side' },
      ],
    },
    status: {
      podIP: '10.244.1.3',
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  } as Pod;
  const g = podTargetGroups([pod, { ...pod, status: {} } as Pod]);
  assert.deepEqual(
    g.map((x) => x.targets[0]),
    ['10.244.1.3:15008', '10.244.1.3:15020', '10.244.1.3'],
  );
  const l = g[1]!.labels;
  assert.equal(l.__meta_kubernetes_pod_annotation_prometheus_io_port, '15020');
  assert.equal(l.__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape, 'true');
  assert.equal(l.__meta_kubernetes_pod_label_sidecar_istio_io_inject, 'false');
  assert.equal(l.__meta_kubernetes_pod_container_port_name, 'metrics');
  assert.equal(l.__meta_kubernetes_pod_container_port_number, '15020');
  assert.equal(l.__meta_kubernetes_pod_ready, 'true');
  assert.equal(l.__meta_kubernetes_pod_phase, 'Running');
  assert.equal(l.__meta_kubernetes_pod_node_name, 'worker');
  assert.equal(l.__meta_kubernetes_pod_controller_kind, 'DaemonSet');
  assert.equal(l.__meta_kubernetes_namespace, 'istio-system');
  assert.equal(g[2]!.labels.__meta_kubernetes_pod_container_port_number, undefined);
  assert.equal(sanitizeLabelName('prometheus.io/scrape'), 'prometheus_io_scrape');
});
