// Built-in kinds validated against the official schemas (kubernetes-models' generated
// validators), as real kubectl shows the answers: wrong types and unknown fields (Strict) are
// 400 decoding errors, missing required fields and unsupported values 422 Invalid naming the
// field; with fieldValidation Warn an unknown field is dropped with a warning.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { skipUnlessKubectl, startKubectlHarness, type KubectlHarness } from '../helpers/kubectl.js';

const deployment = (name: string, spec: Record<string, unknown> = {}, container: object = {}) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: 'ambit/httpbin', ...container }] },
      },
      ...spec,
    },
  });

void describe('built-in kinds against their official schemas', { skip: skipUnlessKubectl }, () => {
  let h: KubectlHarness;
  before(async () => {
    h = await startKubectlHarness('validation');
  });
  after(async () => {
    await h.close();
  });

  const refused = async (name: string, body: string): Promise<string> => {
    const r = await h.kubectl('apply', '-f', h.file(`${name}.json`, body));
    assert.notEqual(r.code, 0, `${name} was accepted`);
    await assert.rejects(h.client.get(resources.deployments, name, 'default'), /404/);
    return r.stderr;
  };

  void test('a wrong type is a 400 decoding error naming the field', async () => {
    const err = await refused('t1', deployment('t1', { replicas: 'two' }));
    assert.match(
      err,
      /Error from server \(BadRequest\): .*Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into field spec\.replicas of type integer/,
    );
    const err2 = await refused('t2', deployment('t2', {}, { ports: [{ containerPort: '80' }] }));
    assert.match(err2, /spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort/);
  });

  void test('an unknown field is refused (Strict), or dropped with a warning (Warn)', async () => {
    const body = deployment('u1', {}, { imagee: 'typo' });
    const err = await refused('u1', body);
    assert.match(
      err,
      /BadRequest.*strict decoding error: unknown field "spec\.template\.spec\.containers\[0\]\.imagee"/,
    );
    const r = await h.kubectl('apply', '--validate=warn', '-f', h.file('u1.json', body));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /Warning: unknown field "spec\.template\.spec\.containers\[0\]\.imagee"/,
    );
    const d = await h.client.get<KubeObject<{ template: { spec: { containers: object[] } } }>>(
      resources.deployments,
      'u1',
      'default',
    );
    assert.deepEqual(Object.keys(d.spec!.template.spec.containers[0]!).sort(), [
      'image',
      'imagePullPolicy',
      'name',
    ]);
    // Top level too, and on other kinds (a Service).
    const svc = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', namespace: 'default' },
      spec: { ports: [{ port: 80, targetPortt: 8080 }] },
      extra: 1,
    });
    const s = await h.kubectl('create', '-f', h.file('svc.json', svc));
    assert.match(s.stderr, /unknown field "extra", unknown field "spec\.ports\[0\]\.targetPortt"/);
  });

  void test('missing required fields and unsupported values are 422 Invalid', async () => {
    const err = await refused(
      'r1',
      deployment('r1', { strategy: { type: 'Sideways' } }, { name: undefined, ports: [{}] }),
    );
    assert.match(err, /The Deployment "r1" is invalid:/);
    assert.match(err, /\* spec\.template\.spec\.containers\[0\]\.name: Required value/);
    assert.match(
      err,
      /\* spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort: Required value/,
    );
    assert.match(
      err,
      /\* spec\.strategy\.type: Unsupported value: "Sideways": supported values: "Recreate", "RollingUpdate"/,
    );
    // The raw answer: a Status with one cause per field.
    const r = await fetch(`${h.server.urls[0]!}/apis/apps/v1/namespaces/default/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: deployment('r2', {}, { name: undefined }),
    });
    assert.equal(r.status, 422);
    const st = (await r.json()) as {
      reason: string;
      details: { kind: string; causes: { field: string; reason: string }[] };
    };
    assert.equal(st.reason, 'Invalid');
    assert.equal(st.details.kind, 'Deployment');
    assert.deepEqual(st.details.causes, [
      {
        field: 'spec.template.spec.containers[0].name',
        reason: 'FieldValueRequired',
        message: 'Required value',
      },
    ]);
  });

  void test('a valid Deployment with every common field is accepted unchanged', async () => {
    const body = deployment(
      'ok',
      {
        replicas: 2,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
        minReadySeconds: 1,
      },
      {
        ports: [{ containerPort: 80, name: 'http' }],
        env: [{ name: 'A', value: 'b' }],
        resources: { limits: { cpu: '100m', memory: '64Mi' } },
        readinessProbe: { httpGet: { path: '/', port: 'http' } },
      },
    );
    const out = await h.ok('apply', '-f', h.file('ok.json', body));
    assert.match(out, /deployment.apps\/ok created/);
  });
});
