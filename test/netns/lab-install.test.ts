/**
 * The README's real-cluster commands, run against one lab with a real kubectl:
 * - `ambit manifest generate | kubectl apply --dry-run=server -f -` succeeds for every object
 *   and creates nothing;
 * - `ambit manifest generate | kubectl apply -f -`, followed with `kubectl rollout status`, then
 *   `ambit install --set profile=ambient -y -c <kubeconfig>` over it, bring the mesh up
 *   (istiod Deployment, istio-cni and ztunnel DaemonSets run by the lab's controllers);
 * - Istio's httpbin and curl samples, applied unmodified into an enrolled namespace, answer each
 *   other through the mesh: `kubectl exec deploy/curl -- curl -s http://httpbin:8000/get` shows
 *   the curl pod's own IP as origin, its hostname is its pod name, the destination's ztunnel
 *   logged curl's SPIFFE identity; an unknown image is ErrImagePull naming the known images;
 * - a deleted ztunnel pod is recreated by its DaemonSet at the node's .3 and traffic flows through
 *   it again over HBONE;
 * - `ambit uninstall -y -c` and `kubectl delete namespace istio-system` leave no rule, ipset,
 *   link or object behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { run, type RunResult } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';
import { externalDir } from '../helpers/external.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('in');
const kubeconfig = labPaths(N).kubeconfig;

function ambit(args: string[], input?: string, timeoutMs = 120_000): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { allowFail: true, timeoutMs, input });
}
function kubectl(args: string[], input?: string, timeoutMs = 90_000): Promise<RunResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    allowFail: true,
    input,
    timeoutMs,
  });
}
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}`);
}
const samples = process.env.ISTIO_SAMPLES ?? join(externalDir(), 'istio', 'samples');
const CURL_ID = 'spiffe://cluster.local/ns/default/sa/curl';
const skip = skipUnlessRoot || (existsSync(samples) ? false : `no Istio samples at ${samples}`);

interface PodJson {
  metadata: { name: string; uid: string; ownerReferences?: { kind: string }[] };
  spec: { nodeName: string };
  status: { podIP: string };
}
async function pods(args: string[]): Promise<PodJson[]> {
  const r = await kubectl(['get', 'pods', ...args, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { items: PodJson[] }).items;
}
const ztunnelOn = async (node: string) =>
  (
    await pods([
      '-n',
      'istio-system',
      '-l',
      'app=ztunnel',
      '--field-selector',
      `spec.nodeName=${node}`,
    ])
  )[0];
const getThroughMesh = () =>
  kubectl(['exec', 'deploy/curl', '--', 'curl', '-s', '-m', '5', 'http://httpbin:8000/get']);

async function nodeState(node: string): Promise<string> {
  const ns = `${N}-${node}`;
  const rules = (await run('iptables-save', [], { netns: ns })).stdout
    .split('\n')
    .filter((l) => /ztunnel|ISTIO/.test(l)).length;
  const sets = (await run('ipset', ['list', '-n'], { netns: ns })).stdout.trim();
  const links = (await run('ip', ['-n', ns, '-o', 'link'])).stdout.match(/istio\w*/g) ?? [];
  const prules = (await run('ip', ['-n', ns, 'rule'])).stdout
    .split('\n')
    .filter((l) => /^10[0-3]:/.test(l)).length;
  return `rules=${rules} ipsets=[${sets}] links=[${[...new Set(links)].join(' ')}] iprules=${prules}`;
}

void describe(
  'ambit manifest generate / install / uninstall on a lab',
  { skip, timeout: 600_000 },
  () => {
    before(async () => {
      const r = await ambit(
        ['lab', 'up', '--name', N, '--no-scenario', '--timeout', '120'],
        undefined,
        180_000,
      );
      assert.equal(r.code, 0, `lab up failed:\n${r.stdout}\n${r.stderr}`);
    });
    after(async () => {
      const r = await ambit(['lab', 'down', '--name', N]);
      assert.equal(r.code, 0, r.stderr);
    });

    void it('ambit manifest generate | kubectl apply --dry-run=server -f - succeeds, creating nothing', async () => {
      const gen = await ambit(['manifest', 'generate']);
      assert.equal(gen.code, 0, gen.stderr);
      const docs = parseAllDocuments(gen.stdout).map(
        (d) => d.toJS() as { kind: string; metadata: { name: string } },
      );
      assert.deepEqual([...new Set(docs.map((d) => d.kind))].sort(), [
        'ClusterRole',
        'ClusterRoleBinding',
        'ConfigMap',
        'CustomResourceDefinition',
        'DaemonSet',
        'Deployment',
        'Namespace',
        'Service',
        'ServiceAccount',
      ]);
      // Exactly the pipeline, every object: the lab serves each kind (CRDs and RBAC included).
      const dry = await kubectl(['apply', '--dry-run=server', '-f', '-'], gen.stdout);
      assert.equal(dry.code, 0, dry.stderr);
      const lines = dry.stdout.trim().split('\n');
      assert.equal(lines.length, docs.length, dry.stdout);
      assert.ok(
        lines.every((l) => / (created|configured|unchanged) \(server dry run\)$/.test(l)),
        dry.stdout,
      );
      assert.match(dry.stdout, /daemonset\.apps\/ztunnel (created|configured) \(server dry run\)/);
      assert.match(
        dry.stdout,
        /customresourcedefinition\.apiextensions\.k8s\.io\/authorizationpolicies\.security\.istio\.io (created|configured) \(server dry run\)/,
      );
      const left = await kubectl([
        'get',
        'daemonsets,deployments',
        '-n',
        'istio-system',
        '-o',
        'name',
      ]);
      assert.equal(left.stdout.trim(), '', 'a dry run creates nothing');
    });

    void it('manifest generate | kubectl apply -f -, rollout status, then ambit install -y -c over it', async () => {
      const gen = await ambit(['manifest', 'generate']);
      assert.equal(gen.code, 0, gen.stderr);
      const applied = await kubectl(['apply', '-f', '-'], gen.stdout);
      assert.equal(applied.code, 0, applied.stderr);
      for (const w of ['deployment/istiod', 'daemonset/istio-cni-node', 'daemonset/ztunnel']) {
        const r = await kubectl(
          ['-n', 'istio-system', 'rollout', 'status', w, '--timeout=150s'],
          undefined,
          180_000,
        );
        assert.equal(r.code, 0, `${w}: ${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /successfully rolled out/);
      }
      // istioctl's form over the same objects: nothing to change, each component waited for.
      const inst = await ambit(
        ['install', '--set', 'profile=ambient', '-y', '-c', kubeconfig],
        undefined,
        300_000,
      );
      assert.equal(inst.code, 0, `${inst.stdout}\n${inst.stderr}`);
      assert.match(inst.stdout, /Ztunnel installed/);
      const zt = await pods(['-n', 'istio-system', '-l', 'app=ztunnel']);
      assert.equal(zt.length, 3, 'one ztunnel per node');
      for (const p of zt) {
        assert.equal(p.metadata.ownerReferences?.[0]?.kind, 'DaemonSet');
        // The lab names a DaemonSet's pods after their node (lab.ambit.dev/pod-name: node).
        assert.equal(p.metadata.name, `ztunnel-${p.spec.nodeName}`);
        assert.match(p.status.podIP, /^10\.244\.\d+\.3$/);
      }
    });

    void it("Istio's httpbin and curl samples answer each other through the mesh", async () => {
      const label = await kubectl([
        'label',
        'namespace',
        'default',
        'istio.io/dataplane-mode=ambient',
      ]);
      assert.equal(label.code, 0, label.stderr);
      for (const f of ['httpbin/httpbin.yaml', 'curl/curl.yaml']) {
        const a = await kubectl(['apply', '-f', join(samples, f)]);
        assert.equal(a.code, 0, a.stderr);
      }
      const w = await kubectl(
        ['wait', '--for=condition=Ready', 'pod', '-l', 'app in (httpbin,curl)', '--timeout=120s'],
        undefined,
        150_000,
      );
      assert.equal(w.code, 0, w.stderr);
      const curlPod = (await pods(['-l', 'app=curl']))[0]!;
      const body = await until('httpbin answering through the mesh', async () => {
        const r = await kubectl([
          'exec',
          'deploy/curl',
          '--',
          'curl',
          '-s',
          'http://httpbin:8000/get',
        ]);
        return r.code === 0 && r.stdout.startsWith('{') ? r.stdout : undefined;
      });
      const got = JSON.parse(body) as {
        headers: Record<string, string[]>;
        method: string;
        origin: string;
        url: string;
      };
      assert.equal(got.origin, curlPod.status.podIP);
      assert.equal(got.method, 'GET');
      assert.equal(got.url, 'http://httpbin:8000/get');
      assert.deepEqual(got.headers.Host, ['httpbin:8000']);
      assert.match(got.headers['User-Agent']?.[0] ?? '', /^curl\//);
      const host = await kubectl(['exec', 'deploy/curl', '--', 'hostname']);
      assert.equal(host.stdout.trim(), curlPod.metadata.name);
      // Through the destination's ztunnel, with curl's identity.
      const httpbinNode = (await pods(['-l', 'app=httpbin']))[0]!.spec.nodeName;
      await until('ztunnel access log line', async () => {
        const logs = await kubectl(['logs', '-n', 'istio-system', `ztunnel-${httpbinNode}`]);
        return logs.stdout.includes(`src.identity=${CURL_ID}`) ? true : undefined;
      });
    });

    void it('an unknown image is ErrImagePull naming the known images', async () => {
      const c = await kubectl(['run', 'unknown', '--image=example.com/nothing:1']);
      assert.equal(c.code, 0, c.stderr);
      const waiting = await until('the pod to report its image', async () => {
        const r = await kubectl([
          'get',
          'pod',
          'unknown',
          '-o',
          'jsonpath={.status.containerStatuses[0].state.waiting}',
        ]);
        return r.stdout.includes('ErrImagePull') ? r.stdout : undefined;
      });
      assert.match(waiting, /example\.com\/nothing:1/);
      assert.match(waiting, /mccutchen\/go-httpbin/);
      assert.match(waiting, /curlimages\/curl/);
      await kubectl(['delete', 'pod', 'unknown', '--grace-period=0']);
    });

    void it('a deleted ztunnel pod comes back from its DaemonSet at .3, traffic through it over HBONE', async () => {
      const curlNode = (await pods(['-l', 'app=curl']))[0]!.spec.nodeName;
      const old = (await ztunnelOn(curlNode))!;
      assert.equal(old.metadata.ownerReferences?.[0]?.kind, 'DaemonSet');
      const del = await kubectl([
        'delete',
        'pod',
        '-n',
        'istio-system',
        old.metadata.name,
        '--wait=true',
      ]);
      assert.equal(del.code, 0, del.stderr);
      await until(`a new ztunnel on ${curlNode}`, async () => {
        const p = await ztunnelOn(curlNode);
        return p &&
          p.metadata.uid !== old.metadata.uid &&
          p.status.podIP === old.status.podIP &&
          p.metadata.ownerReferences?.[0]?.kind === 'DaemonSet'
          ? true
          : undefined;
      });
      const body = await until('httpbin through the new ztunnel', async () => {
        const r = await getThroughMesh();
        return r.code === 0 && r.stdout.startsWith('{') ? r.stdout : undefined;
      });
      assert.match(body, /"origin": "10\.244\.\d+\.\d+"/);
      // Still over HBONE: the destination's ztunnel logs curl's identity for new connections.
      const dst = `ztunnel-${(await pods(['-l', 'app=httpbin']))[0]!.spec.nodeName}`;
      const seen = async () =>
        (await kubectl(['logs', '-n', 'istio-system', dst])).stdout
          .split('\n')
          .filter((l) => l.includes(`src.identity=${CURL_ID}`) && l.includes('direction=inbound '))
          .length;
      const before = await seen();
      await until('the destination ztunnel logging a new HBONE connection', async () => {
        await getThroughMesh();
        return (await seen()) > before ? true : undefined;
      });
      assert.match(await nodeState(curlNode), /rules=[1-9]/);
    });

    void it('ambit uninstall -y -c, then kubectl delete namespace istio-system, leave no rule, ipset, link or object', async () => {
      const r = await ambit(['uninstall', '-y', '-c', kubeconfig]);
      assert.equal(r.code, 0, r.stderr);
      // As istioctl, uninstall keeps the namespace; the user deletes it (Istio's guide does).
      assert.equal((await kubectl(['delete', 'namespace', 'istio-system', '--wait=true'])).code, 0);
      let left = '';
      await until('istio-system empty', async () => {
        const p = await kubectl([
          'get',
          'pods,daemonsets,deployments,services,serviceaccounts,configmaps',
          '-n',
          'istio-system',
          '-o',
          'name',
        ]);
        left = p.stdout.trim() || p.stderr.trim();
        return p.stdout.trim() === '' ? true : undefined;
      }).catch((err: unknown) => assert.fail(`${String(err)}; left: ${left}`));
      for (const node of ['control-plane', 'worker', 'worker2']) {
        assert.equal(await nodeState(node), 'rules=0 ipsets=[] links=[] iprules=0', node);
      }
    });
  },
);
