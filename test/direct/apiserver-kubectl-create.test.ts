// kubectl's typed `create` commands send protobuf bodies; the server decodes them into exactly
// the object kubectl itself renders as JSON (`--dry-run=client -o json`).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { skipUnlessKubectl, startKubectlHarness, type KubectlHarness } from '../helpers/kubectl.js';

type Obj = { metadata: Record<string, unknown>; [k: string]: unknown };

/** What the client chose, without what the server adds (uid, timestamps, defaults, status). */
function clientPart(o: Obj, ref: Obj): unknown {
  const pick = (a: unknown, b: unknown): unknown => {
    if (b === null || typeof b !== 'object' || Array.isArray(b)) {
      if (Array.isArray(b) && Array.isArray(a)) return a.map((x, i) => pick(x, b[i]));
      return a;
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(b))
      out[k] = pick((a as Record<string, unknown>)?.[k], (b as Record<string, unknown>)[k]);
    return out;
  };
  return pick(o, ref);
}

/** kubectl's own rendering less status and the null timestamps Go's JSON writes for unset times. */
const strip = (o: Obj): Obj => {
  const drop = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(drop);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k, x]) => x !== null && k !== 'status')
        .map(([k, x]) => [k, drop(x)]),
    );
  };
  return drop(o) as Obj;
};

void describe('kubectl create (protobuf bodies)', { skip: skipUnlessKubectl }, () => {
  let h: KubectlHarness;
  before(async () => {
    h = await startKubectlHarness('kubectl-create');
  });
  after(() => h.close());

  const cases: [string, string[], string][] = [
    ['namespace', ['namespace', 'x'], 'namespace/x'],
    [
      'deployment',
      [
        'deployment',
        'web',
        '--image=nginx:1.27',
        '--replicas=3',
        '--port=8080',
        '--',
        'nginx',
        '-g',
        'daemon off;',
      ],
      'deployment/web',
    ],
    ['service', ['service', 'clusterip', 'web', '--tcp=80:8080', '--tcp=443:https'], 'service/web'],
    [
      'configmap',
      ['configmap', 'cfg', '--from-literal=a=b', '--from-literal=empty='],
      'configmap/cfg',
    ],
    ['serviceaccount', ['serviceaccount', 'robot'], 'serviceaccount/robot'],
  ];
  for (const [what, args, ref] of cases)
    void test(`create ${what}: the stored object is what kubectl meant`, async () => {
      const want = strip(
        JSON.parse(await h.ok('create', '--dry-run=client', '-o', 'json', ...args)) as Obj,
      );
      const out = await h.ok('create', ...args);
      assert.match(out, new RegExp(`^${ref.replace('/', '[./a-z]*/')} created$`, 'm'));
      const got = JSON.parse(await h.ok('get', ref, '-o', 'json')) as Obj;
      assert.deepEqual(clientPart(got, want), want);
      assert.match(String(got.metadata.uid), /^[0-9a-f-]{36}$/);
    });

  void test('kubectl create deployment then the pods template has what was asked', async () => {
    const d = JSON.parse(await h.ok('get', 'deploy/web', '-o', 'json')) as {
      spec: {
        replicas: number;
        template: {
          spec: { containers: { command: string[]; ports: { containerPort: number }[] }[] };
        };
      };
    };
    assert.equal(d.spec.replicas, 3);
    assert.deepEqual(d.spec.template.spec.containers[0]!.command, ['nginx', '-g', 'daemon off;']);
    assert.equal(d.spec.template.spec.containers[0]!.ports[0]!.containerPort, 8080);
    const zero = await h.ok(
      'create',
      'deployment',
      'none',
      '--image=nginx',
      '--replicas=0',
      '-o',
      'json',
    );
    assert.equal((JSON.parse(zero) as { spec: { replicas: number } }).spec.replicas, 0);
  });

  void test('a kind the server does not serve as protobuf is refused naming it', async () => {
    const r = await h.kubectl('create', 'priorityclass', 'high', '--value=1000');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /could not find the requested resource|UnsupportedMediaType/);
  });
});
