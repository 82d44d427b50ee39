/**
 * The real-cluster commands of the README, run against a lab: `ambit manifest generate | kubectl
 * apply --dry-run=server -f -` succeeds for every object and creates nothing; `ambit install
 * --set profile=ambient -y -c <kubeconfig>` brings the mesh up from the same objects
 * (DaemonSets: a deleted ztunnel pod is recreated at the node's .3 and traffic flows through it
 * again, over HBONE); `ambit uninstall -y -c` leaves no rule, ipset, link or object behind.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { run, type RunResult } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('in');
const kubeconfig = labPaths(N).kubeconfig;

function ambit(args: string[], input?: string, timeoutMs = 120_000): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { allowFail: true, timeoutMs, input });
}
function kubectl(args: string[], input?: string): Promise<RunResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    allowFail: true,
    input,
    timeoutMs: 90_000,
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
const httpbin = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {nodeName: worker, containers: [{name: web, image: docker.io/mccutchen/go-httpbin:v2.15.0}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{port: 8000, targetPort: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: default}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec: {nodeName: worker2, containers: [{name: c, image: docker.io/curlimages/curl:8.16.0, command: [/bin/sleep, infinity]}]}
`;

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
  { skip: skipUnlessRoot, timeout: 400_000 },
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

    void it('ambit install -y -c: the mesh runs from them; a deleted ztunnel comes back from its DaemonSet', async () => {
      // The README's real-cluster command, as a user runs it against this lab.
      const inst = await ambit(
        ['install', '--set', 'profile=ambient', '-y', '-c', kubeconfig],
        undefined,
        300_000,
      );
      assert.equal(inst.code, 0, `${inst.stdout}\n${inst.stderr}`);
      assert.match(inst.stdout, /Ztunnel installed/);
      assert.equal(
        (await kubectl(['label', 'namespace', 'default', 'istio.io/dataplane-mode=ambient'])).code,
        0,
      );
      assert.equal((await kubectl(['apply', '-f', '-'], httpbin)).code, 0);
      assert.equal(
        (
          await kubectl([
            'wait',
            '--for=condition=Ready',
            'pod',
            '-l',
            'app in (web,client)',
            '--timeout=120s',
          ])
        ).code,
        0,
      );
      const call = () =>
        kubectl(['exec', 'deploy/client', '--', 'curl', '-s', '-m', '5', 'http://web:8000/ip']);
      await until('web through the mesh', async () =>
        (await call()).code === 0 ? true : undefined,
      );
      const zt = JSON.parse(
        (
          await kubectl([
            'get',
            'pods',
            '-n',
            'istio-system',
            '-l',
            'app=ztunnel',
            '--field-selector',
            'spec.nodeName=worker2',
            '-o',
            'json',
          ])
        ).stdout,
      ) as {
        items: {
          metadata: { name: string; uid: string; ownerReferences?: { kind: string }[] };
          status: { podIP: string };
        }[];
      };
      const old = zt.items[0]!;
      assert.equal(old.metadata.ownerReferences?.[0]?.kind, 'DaemonSet');
      assert.equal(old.status.podIP, '10.244.2.3');
      // The lab names a DaemonSet's pods after their node (lab.ambit.dev/pod-name: node).
      assert.equal(old.metadata.name, 'ztunnel-worker2');
      assert.equal(
        (await kubectl(['delete', 'pod', '-n', 'istio-system', old.metadata.name, '--wait=true']))
          .code,
        0,
      );
      const fresh = await until('a new ztunnel on worker2', async () => {
        const r = await kubectl([
          'get',
          'pods',
          '-n',
          'istio-system',
          '-l',
          'app=ztunnel',
          '--field-selector',
          'spec.nodeName=worker2',
          '-o',
          'jsonpath={.items[*].metadata.uid} {.items[*].status.podIP} {.items[*].metadata.ownerReferences[0].kind}',
        ]);
        const [uid, ip, owner] = r.stdout.split(' ');
        return uid && uid !== old.metadata.uid && ip === '10.244.2.3' && owner === 'DaemonSet'
          ? uid
          : undefined;
      });
      assert.notEqual(fresh, old.metadata.uid);
      const body = await until('web through the new ztunnel', async () => {
        const r = await call();
        return r.code === 0 ? r.stdout : undefined;
      });
      assert.match(body, /"origin": "10\.244\.2\.\d+"/);
      // Still over HBONE: the destination's ztunnel logs the client's identity for new connections.
      const dst = (
        await kubectl([
          'get',
          'pods',
          '-n',
          'istio-system',
          '-l',
          'app=ztunnel',
          '--field-selector',
          'spec.nodeName=worker',
          '-o',
          'jsonpath={.items[0].metadata.name}',
        ])
      ).stdout;
      const seen = async () =>
        (await kubectl(['logs', '-n', 'istio-system', dst])).stdout
          .split('\n')
          .filter(
            (l) =>
              l.includes('src.identity=spiffe://cluster.local/ns/default/sa/default') &&
              l.includes('direction=inbound '),
          ).length;
      const before = await seen();
      await until('the destination ztunnel logging a new HBONE connection', async () => {
        await call();
        return (await seen()) > before ? true : undefined;
      });
      assert.match(await nodeState('worker2'), /rules=[1-9]/);
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
