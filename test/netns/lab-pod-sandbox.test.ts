/**
 * Pods like real pods: own hostname (UTS namespace) and HOSTNAME, the projected
 * service-account volume, Secrets and ConfigMaps at the Kubernetes paths (own mount
 * namespace), and no pod able to read another pod's token or the lab's admin files.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('sb');
const labDir = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', N);
const kubeconfig = join(labDir, 'kubeconfig');

function ambit(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { allowFail: true, timeoutMs });
}
function kubectl(args: string[], input?: string): Promise<RunResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    allowFail: true,
    input,
    timeoutMs: 60_000,
  });
}
async function sh(target: string, script: string): Promise<RunResult> {
  return kubectl(['exec', target, '--', 'sh', '-c', script]);
}

const extra = `
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: default}
stringData: {password: s3cret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {mode: fast}
---
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: default}
spec:
  serviceAccountName: default
  containers:
  - name: main
    image: ambit/sleep
    volumeMounts:
    - {name: creds, mountPath: /var/run/lab-test/creds, readOnly: true}
    - {name: settings, mountPath: /run/lab-test/settings}
  volumes:
  - {name: creds, secret: {secretName: creds}}
  - {name: settings, configMap: {name: settings}}
`;

void describe('pod sandbox', { skip: skipUnlessRoot, timeout: 300_000 }, () => {
  let sleepPod = '';
  let httpbinPod = '';

  before(async () => {
    const r = await ambit(['lab', 'up', '--name', N, '--timeout', '120'], 180_000);
    assert.equal(r.code, 0, `lab up failed:\n${r.stdout}\n${r.stderr}`);
    const names = await kubectl(['get', 'pods', '-o', 'jsonpath={.items[*].metadata.name}']);
    for (const n of names.stdout.split(' ')) {
      if (n.startsWith('sleep-')) sleepPod = n;
      if (n.startsWith('httpbin-')) httpbinPod = n;
    }
    assert.ok(sleepPod && httpbinPod, names.stdout);
  });

  after(async () => {
    const r = await ambit(['lab', 'down', '--name', N], 120_000);
    assert.equal(r.code, 0, r.stderr);
  });

  void it('a pod has its own hostname, in uname and in HOSTNAME, and /etc/hosts names it', async () => {
    const r = await sh(
      'deploy/sleep',
      'hostname; echo "$HOSTNAME"; grep -c "10.244.2.8" /etc/hosts',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [sleepPod, sleepPod, '1']);
    const other = await sh('deploy/httpbin', 'hostname');
    assert.equal(other.stdout.trim(), httpbinPod);
    // The machine's own hostname is untouched.
    assert.equal(
      (await run('hostname', [])).stdout.trim(),
      readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(),
    );
    assert.notEqual((await run('hostname', [])).stdout.trim(), sleepPod);
  });

  void it("the service-account volume is at the Kubernetes path and its token is the pod's", async () => {
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const r = await sh('deploy/sleep', `ls ${sa}; cat ${sa}/namespace; echo; cat ${sa}/token`);
    assert.equal(r.code, 0, r.stderr);
    const [ca, ns, tok, nsv, token] = r.stdout.split('\n');
    assert.deepEqual([ca, ns, tok, nsv], ['ca.crt', 'namespace', 'token', 'default']);
    const review = await kubectl(
      ['create', '-f', '-', '-o', 'json'],
      JSON.stringify({
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token },
      }),
    );
    assert.equal(review.code, 0, review.stderr);
    const st = (
      JSON.parse(review.stdout) as {
        status: {
          authenticated?: boolean;
          user?: { username?: string; extra?: Record<string, string[]> };
        };
      }
    ).status;
    assert.equal(st.authenticated, true);
    assert.equal(st.user?.username, 'system:serviceaccount:default:sleep');
    assert.deepEqual(st.user?.extra?.['authentication.kubernetes.io/pod-name'], [sleepPod]);
  });

  void it("no pod reads another pod's token, the API server's keys or the admin kubeconfig", async () => {
    const other = join(labDir, 'pods', `default_${httpbinPod}`, 'serviceaccount', 'token');
    // The kubelet wrote it (so the path is right) ...
    assert.ok(readFileSync(other, 'utf8').length > 20);
    // ... and from inside a pod it is not there, nor is anything of the lab's secrets.
    const r = await sh(
      'deploy/sleep',
      `cat ${other} 2>&1; echo "rc=$?"; ls -A ${join(labDir, 'pods')}; ls -A ${join(labDir, 'apiserver')} | wc -l; wc -c < ${kubeconfig}`,
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /No such file or directory/);
    assert.equal(lines[1], 'rc=1');
    assert.deepEqual(lines.slice(2), [`default_${sleepPod}`, '0', '0']);
    const mine = await sh(
      'deploy/sleep',
      `cat ${join(labDir, 'pods', `default_${sleepPod}`, 'serviceaccount', 'token')}`,
    );
    assert.equal(mine.code, 0, mine.stderr);
  });

  void it('Secret and ConfigMap volumes appear at their mountPath', async () => {
    const a = await kubectl(['apply', '-f', '-'], extra);
    assert.equal(a.code, 0, a.stderr);
    let r: RunResult | undefined;
    for (let i = 0; i < 120; i++) {
      r = await sh(
        'reader',
        'cat /var/run/lab-test/creds/password; echo; cat /run/lab-test/settings/mode',
      );
      if (r.code === 0) break;
      await sleep(250);
    }
    assert.equal(r?.code, 0, r?.stderr);
    assert.equal(r!.stdout, 's3cret\nfast');
    const ro = await sh('reader', 'echo x > /var/run/lab-test/creds/password');
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    await kubectl(['delete', 'pod', 'reader', '--grace-period=0']);
  });
});
