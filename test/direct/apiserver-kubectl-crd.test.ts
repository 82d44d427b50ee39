// CustomResourceDefinitions through the real kubectl: Gateway API's CRDs (unmodified files from
// ../shared/external/gateway-api), then objects of the new kinds created, listed, watched,
// validated against the CRD's schema and deleted.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  kubectlBin,
  skipUnlessKubectl,
  startKubectlHarness,
  type KubectlHarness,
} from '../helpers/kubectl.js';
import { externalDir } from '../helpers/external.js';

const external = path.join(externalDir(), 'gateway-api');
const standard = path.join(external, 'standard-install.yaml');
const tcproute = path.join(external, 'experimental-tcproute.yaml');

const route = (name: string, extra = '', port = 8080): string => `
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: gw}]${extra}
  rules:
  - backendRefs: [{name: echo, port: ${port}}]
`;

void describe(
  'CustomResourceDefinitions with kubectl',
  { skip: skipUnlessKubectl || (existsSync(tcproute) ? false : `no ${tcproute}`) },
  () => {
    let h: KubectlHarness;
    before(async () => {
      h = await startKubectlHarness('kubectl-crd');
    });
    after(() => h.close());

    void test('the Gateway API kinds are CRDs from the start; the standard install applies over them', async () => {
      const list = await h.ok('get', 'crd');
      assert.match(list, /^NAME\s+CREATED AT$/m);
      for (const n of [
        'gateways',
        'httproutes',
        'grpcroutes',
        'gatewayclasses',
        'referencegrants',
        'backendtlspolicies',
      ])
        assert.match(
          list,
          new RegExp(`^${n}\\.gateway\\.networking\\.k8s\\.io\\s+\\d{4}-\\d\\d-\\d\\dT`, 'm'),
        );
      const out = await h.ok('apply', '-f', standard);
      assert.equal(out.trim().split('\n').length, 6, out);
      assert.match(
        out,
        /customresourcedefinition\.apiextensions\.k8s\.io\/httproutes\.gateway\.networking\.k8s\.io (configured|unchanged)/,
      );
      const gw = await h.ok('get', 'crd', 'gateways.gateway.networking.k8s.io', '-o', 'json');
      const crd = JSON.parse(gw) as {
        status: { conditions: { type: string; status: string }[]; storedVersions: string[] };
      };
      assert.deepEqual(
        crd.status.conditions.map((c) => [c.type, c.status]),
        [
          ['NamesAccepted', 'True'],
          ['Established', 'True'],
        ],
      );
      assert.deepEqual(crd.status.storedVersions, ['v1']);
    });

    void test('apply the experimental TCPRoute CRD; it is established and discoverable', async () => {
      assert.match(
        await h.ok('apply', '-f', tcproute),
        /tcproutes\.gateway\.networking\.k8s\.io created/,
      );
      assert.match(
        await h.ok(
          'wait',
          '--for=condition=Established',
          'crd/tcproutes.gateway.networking.k8s.io',
          '--timeout=10s',
        ),
        /condition met/,
      );
      const res = await h.ok(
        'api-resources',
        '--api-group=gateway.networking.k8s.io',
        '-o',
        'name',
      );
      assert.match(res, /^tcproutes\.gateway\.networking\.k8s\.io$/m);
      assert.match(res, /^httproutes\.gateway\.networking\.k8s\.io$/m);
    });

    void test('create, get with printer columns and defaults, list', async () => {
      assert.match(
        await h.ok('apply', '-f', h.file('r1.yaml', route('r1'))),
        /^tcproute\.gateway\.networking\.k8s\.io\/r1 created$/m,
      );
      const r = parse(await h.ok('get', 'tcproute', 'r1', '-o', 'yaml')) as {
        apiVersion: string;
        spec: {
          parentRefs: { group: string; kind: string }[];
          rules: { backendRefs: { group: string; kind: string; weight: number }[] }[];
        };
      };
      // The CRD serves v1 and v1alpha2; kubectl reads the preferred one.
      assert.equal(r.apiVersion, 'gateway.networking.k8s.io/v1');
      // Defaults from the CRD's schema.
      assert.equal(r.spec.parentRefs[0]!.group, 'gateway.networking.k8s.io');
      assert.equal(r.spec.parentRefs[0]!.kind, 'Gateway');
      assert.equal(r.spec.rules[0]!.backendRefs[0]!.kind, 'Service');
      assert.equal(r.spec.rules[0]!.backendRefs[0]!.weight, 1);
      assert.match(await h.ok('get', 'tcproutes'), /^NAME\s+AGE\nr1\s+\d+s$/m);
    });

    void test("kubectl explain walks a CRD's schema", async () => {
      const out = await h.ok('explain', 'tcproute.spec.rules.backendRefs.port');
      assert.match(out, /^KIND:\s+TCPRoute$/m);
      assert.match(out, /^FIELD: port <integer>$/m);
      const hr = await h.ok('explain', 'httproute.spec.parentRefs');
      assert.match(hr, /ParentRefs references the resources \(usually Gateways\)/);
    });

    void test('values the schema forbids are refused naming the field', async () => {
      const bad = await h.kubectl('apply', '-f', h.file('bad.yaml', route('bad', '', 70000)));
      assert.notEqual(bad.code, 0);
      assert.match(
        bad.stderr,
        /The TCPRoute "bad" is invalid: spec\.rules\[0\]\.backendRefs\[0\]\.port: Invalid value: 70000: spec\.rules\[0\]\.backendRefs\[0\]\.port in body should be less than or equal to 65535/,
      );
      const noRules = await h.kubectl(
        'apply',
        '-f',
        h.file(
          'norules.yaml',
          'apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {name: norules, namespace: default}\nspec: {}\n',
        ),
      );
      assert.notEqual(noRules.code, 0);
      assert.match(noRules.stderr, /spec\.rules: Required value/);
      await assert.rejects(
        h.client.get(
          {
            group: 'gateway.networking.k8s.io',
            version: 'v1alpha2',
            plural: 'tcproutes',
            kind: 'TCPRoute',
            namespaced: true,
          },
          'bad',
          'default',
        ),
      );
    });

    void test('a misspelt field: refused by default (Strict), a warning with --validate=warn', async () => {
      const strict = await h.kubectl(
        'apply',
        '-f',
        h.file('typo.yaml', route('typo', '\n  hostnamez: [a.example]')),
      );
      assert.notEqual(strict.code, 0);
      assert.match(strict.stderr, /strict decoding error: unknown field "spec\.hostnamez"/);
      const warn = await h.kubectl(
        'apply',
        '--validate=warn',
        '-f',
        h.file('typo.yaml', route('typo', '\n  hostnamez: [a.example]')),
      );
      assert.equal(warn.code, 0, warn.stderr);
      assert.match(warn.stderr, /Warning: unknown field "spec\.hostnamez"/);
      const kept = JSON.parse(await h.ok('get', 'tcproute', 'typo', '-o', 'json')) as {
        spec: Record<string, unknown>;
      };
      assert.equal(kept.spec.hostnamez, undefined, 'the unknown field was dropped');
    });

    void test('kubectl get -w sees objects of the new kind arrive', async () => {
      const watched = new Promise<string>((resolve) => {
        execFile(
          kubectlBin,
          ['--kubeconfig', h.kubeconfigPath, 'get', 'tcproutes', '-w', '--no-headers'],
          { timeout: 5000 },
          (_err, stdout) => resolve(stdout),
        );
      });
      await new Promise((r) => setTimeout(r, 1500));
      await h.ok('apply', '-f', h.file('r2.yaml', route('r2')));
      const out = await watched;
      assert.match(out, /^r1\s/m);
      assert.match(out, /^r2\s/m);
    });

    void test('delete an object, then the CRD: its objects go and the kind is no longer served', async () => {
      assert.match(
        await h.ok('delete', 'tcproute', 'r1'),
        /tcproute\.gateway\.networking\.k8s\.io "r1" deleted/,
      );
      assert.doesNotMatch(await h.ok('get', 'tcproutes', '-o', 'name'), /r1/);
      await h.ok('delete', 'crd', 'tcproutes.gateway.networking.k8s.io');
      const r = await h.kubectl('get', 'tcproutes');
      assert.notEqual(r.code, 0);
      // (kubectl's discovery cache may still list the kind: then the list itself is refused.)
      assert.match(
        r.stderr,
        /the server doesn't have a resource type "tcproutes"|Resource=tcproutes": the server could not find the requested resource/,
      );
      // Gateway API's standard kinds are unaffected.
      await h.ok('get', 'httproutes', '-A');
    });
  },
);
