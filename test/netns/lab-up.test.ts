/**
 * `ambit lab up` with the default (seeds) cluster: addresses and routes as in the seeds, sleep
 * reaching httpbin through cluster DNS and the ClusterIP, real kubectl against the lab, a new
 * Deployment coming up and going away with its namespace and processes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';
import { repoRoot } from '../../src/repo.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('up');
const stateDir = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', N);
const kubeconfig = join(stateDir, 'kubeconfig');

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
interface PodJson {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  status?: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] };
}
async function pods(selector: string): Promise<PodJson[]> {
  const r = await kubectl(['get', 'pods', '-n', 'default', '-l', selector, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { items: PodJson[] }).items;
}
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}
const ready = (p: PodJson) =>
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

void describe('lab up (default cluster)', { skip: skipUnlessRoot, timeout: 300_000 }, () => {
  let sleepPod = '';
  const tmp = mkdtempSync(join(tmpdir(), 'ambit-lab-up-'));
  /** The pid a lab PID file names (its first line). */
  const pidOf = (f: string) =>
    Number(readFileSync(join(stateDir, 'pids', f), 'utf8').split('\n')[0]);
  /** httpbin's /ip as `pod` sees it, through the mesh (`ambit lab exec`). */
  const originFrom = async (pod: string) => {
    const r = await ambit([
      'lab',
      'exec',
      '--name',
      N,
      pod,
      '--',
      'curl',
      '-s',
      '--max-time',
      '10',
      'http://httpbin:8000/ip',
    ]);
    return JSON.parse(r.stdout) as unknown;
  };

  before(async () => {
    const r = await ambit(['lab', 'up', '--name', N, '--timeout', '120'], 180_000);
    assert.equal(r.code, 0, `lab up failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\[1\/\d+\] creating state directory/);
    sleepPod = (await pods('app=sleep'))[0]!.metadata.name;
  });

  after(async () => {
    const r = await ambit(['lab', 'down', '--name', N], 120_000);
    rmSync(tmp, { recursive: true, force: true });
    assert.equal(r.code, 0, r.stderr);
  });

  void it('gives the seeds addresses and routes', async () => {
    const addr = (await run('ip', ['-n', `${N}-worker2`, '-o', 'addr'])).stdout;
    assert.match(addr, /eth0\s+inet 172\.18\.0\.3\/16/);
    const routes = (await run('ip', ['-n', `${N}-worker2`, 'route'])).stdout;
    assert.match(routes, /^default via 172\.18\.0\.1 dev eth0/m);
    assert.match(routes, /^10\.244\.0\.0\/24 via 172\.18\.0\.2 dev eth0/m);
    assert.match(routes, /^10\.244\.1\.0\/24 via 172\.18\.0\.4 dev eth0/m);
    assert.match(routes, /^10\.244\.2\.8 dev veth[0-9a-f]{8} scope host/m);
    const fwd = await run('sysctl', ['-n', 'net.ipv4.ip_forward'], { netns: `${N}-worker2` });
    assert.equal(fwd.stdout.trim(), '1');
    const wr = (await run('ip', ['-n', `${N}-worker`, 'route'])).stdout;
    assert.match(wr, /^10\.244\.2\.0\/24 via 172\.18\.0\.3 dev eth0/m);
    assert.match(wr, /^10\.244\.1\.7 dev veth[0-9a-f]{8} scope host/m);

    const [sp] = await pods('app=sleep');
    const podNs = sp!.metadata.annotations?.['lab.ambit.dev/netns'] ?? '';
    assert.equal(podNs, `${N}-p${sp!.metadata.uid.replace(/-/g, '').slice(0, 8)}`);
    const veth = sp!.metadata.annotations?.['lab.ambit.dev/host-veth'] ?? '';
    assert.match(
      (await run('ip', ['-n', `${N}-worker2`, '-o', 'addr', 'show', veth])).stdout,
      /inet 10\.244\.2\.1\/32/,
    );
    assert.match(
      (await run('ip', ['-n', podNs, '-o', 'addr'])).stdout,
      /eth0\s+inet 10\.244\.2\.8\/32/,
    );
    const pr = (await run('ip', ['-n', podNs, 'route'])).stdout;
    assert.match(pr, /^default via 10\.244\.2\.1 dev eth0/m);
    assert.match(pr, /^10\.244\.2\.0\/24 via 10\.244\.2\.1 dev eth0 src 10\.244\.2\.8/m);
    assert.match(pr, /^10\.244\.2\.1 dev eth0 scope link/m);
    assert.match(
      readFileSync(`/etc/netns/${podNs}/resolv.conf`, 'utf8'),
      /^nameserver 10\.96\.0\.10$/m,
    );
  });

  void it('sleep curls httpbin through cluster DNS and the ClusterIP', async () => {
    const dns = await ambit([
      'lab',
      'exec',
      '--name',
      N,
      sleepPod,
      '--',
      'getent',
      'hosts',
      'httpbin',
    ]);
    assert.equal(dns.code, 0, dns.stderr);
    assert.match(dns.stdout, /^10\.96\.0\.105\s+httpbin\.default\.svc\.cluster\.local/);
    const r = await ambit([
      'lab',
      'exec',
      '--name',
      N,
      sleepPod,
      '--',
      'curl',
      '-s',
      '--max-time',
      '10',
      'http://httpbin:8000/get',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout) as {
      origin: string;
      url: string;
      headers: Record<string, string>;
    };
    assert.equal(body.origin, '10.244.2.8');
    assert.equal(body.url, 'http://httpbin:8000/get');
    assert.equal(body.headers.Host, 'httpbin:8000');
    // The ClusterIP rule on sleep's node counted the connection (DNAT by kube-proxy's chains).
    const nat = await run('iptables-save', ['-c', '-t', 'nat'], { netns: `${N}-worker2` });
    const rule = nat.stdout
      .split('\n')
      .find((l) => l.includes('-d 10.96.0.105/32') && l.includes('--dport 8000'));
    assert.ok(rule, `no ClusterIP rule in\n${nat.stdout}`);
    assert.match(rule, /^\[[1-9]\d*:\d+\]/, `rule never matched: ${rule}`);
    // exec passes the exit code through
    const ex = await ambit(['lab', 'exec', '--name', N, sleepPod, '--', 'sh', '-c', 'exit 7']);
    assert.equal(ex.code, 7);
  });

  void it('serves kubectl get pods -A -o wide', async () => {
    const r = await kubectl(['get', 'pods', '-A', '-o', 'wide']);
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.includes('httpbin-'));
    assert.ok(line, r.stdout);
    assert.match(line, /Running/);
    assert.match(line, /10\.244\.1\.7\s+worker\s/);
    const st = await ambit(['lab', 'status', '--name', N]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /worker2\s+Ready/);
    assert.match(st.stdout, /sleep-\S+\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.2\.8\s+worker2/);
  });

  void it('runs a Deployment applied with kubectl, reachable from sleep, removed by kubectl delete', async () => {
    const conf = join(tmp, 'nginx.conf');
    writeFileSync(
      conf,
      `pid ${tmp}/nginx.pid;\nerror_log ${tmp}/error.log;\nevents {}\nhttp {\n  access_log off;\n` +
        `  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy;\n` +
        `  fastcgi_temp_path ${tmp}/fcgi; uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;\n` +
        `  server { listen 8080; location / { return 200 "hello from nginx\\n"; } }\n}\n`,
    );
    const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: worker}
      containers:
        - name: nginx
          image: nginx
          command: [nginx, -c, ${conf}, -g, 'daemon off;']
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: 8080}}
`;
    const ap = await kubectl(['apply', '-f', '-'], manifest);
    assert.equal(ap.code, 0, ap.stderr);
    const pod = await until('web pod ready', async () => (await pods('app=web')).find(ready));
    const ip = pod.status!.podIP!;
    assert.match(ip, /^10\.244\.1\.\d+$/);
    const podNs = pod.metadata.annotations!['lab.ambit.dev/netns']!;
    assert.ok(existsSync(`/run/netns/${podNs}`));
    const pids = (await run('ip', ['netns', 'pids', podNs])).stdout
      .trim()
      .split('\n')
      .filter((x) => x);
    assert.ok(pids.length >= 2, `nginx master and worker in ${podNs}: ${pids.join(',')}`);

    const r = await ambit([
      'lab',
      'exec',
      '--name',
      N,
      sleepPod,
      '--',
      'curl',
      '-s',
      '--max-time',
      '10',
      `http://${ip}:8080/`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from nginx\n');

    const del = await kubectl(['delete', 'deployment', 'web', '--wait=true', '--timeout=60s']);
    assert.equal(del.code, 0, del.stderr);
    await until('web pods gone', async () =>
      (await pods('app=web')).length === 0 ? true : undefined,
    );
    await until('pod netns removed', async () =>
      existsSync(`/run/netns/${podNs}`) ? undefined : true,
    );
    for (const pid of pids)
      assert.equal(existsSync(`/proc/${pid}`), false, `nginx process ${pid} still runs`);
    assert.equal(existsSync(`/etc/netns/${podNs}`), false);
  });

  void it('gives pods env, a bound token and ConfigMap volumes (waiting for a missing ConfigMap)', async () => {
    const pod = `apiVersion: v1
kind: Pod
metadata: {name: cmpod, namespace: default}
spec:
  nodeName: worker2
  volumes: [{name: cfg, configMap: {name: greeting}}]
  containers:
    - name: c
      image: shell
      command: [sh, -c, 'cat $AMBIT_VOLUME_CFG/hello; echo "pod=$POD_NAME ip=$INSTANCE_IP node=$NODE_NAME host=$HOST_IP"; cat $AMBIT_KUBE_TOKEN_FILE > $AMBIT_POD_DIR/token-copy; exec sleep 1000']
`;
    assert.equal((await kubectl(['apply', '-f', '-'], pod)).code, 0);
    type Full = PodJson & {
      status?: { containerStatuses?: { state?: { waiting?: { reason?: string } } }[] };
    };
    const get = async () =>
      JSON.parse((await kubectl(['get', 'pod', 'cmpod', '-o', 'json'])).stdout) as Full;
    await until('cmpod waiting for its ConfigMap', async () => {
      const p = await get();
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating'
        ? true
        : undefined;
    });
    await sleep(1500);
    assert.equal((await get()).status?.phase, 'Pending');
    const cm =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: greeting, namespace: default}\ndata: {hello: "hi from a configmap"}\n';
    assert.equal((await kubectl(['apply', '-f', '-'], cm)).code, 0);
    const p = await until('cmpod ready', async () => {
      const x = await get();
      return ready(x) ? x : undefined;
    });
    const log = join(stateDir, 'pods', 'default_cmpod', 'c.log');
    await until('container output', () =>
      Promise.resolve(
        existsSync(log) && readFileSync(log, 'utf8').includes('pod=') ? true : undefined,
      ),
    );
    const text = readFileSync(log, 'utf8');
    assert.match(text, /^hi from a configmap/);
    assert.match(
      text,
      new RegExp(
        `pod=cmpod ip=${p.status!.podIP!.replace(/\./g, '\\.')} node=worker2 host=172\\.18\\.0\\.3`,
      ),
    );
    // The shell writes the copy after the line above: wait for it (CI once read it empty).
    const copy = join(stateDir, 'pods', 'default_cmpod', 'token-copy');
    const token = await until('the token copy', () =>
      Promise.resolve(
        existsSync(copy) ? readFileSync(copy, 'utf8').trim() || undefined : undefined,
      ),
    );
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
          authenticated: boolean;
          user: { username: string; extra?: Record<string, string[]> };
        };
      }
    ).status;
    assert.equal(st.authenticated, true);
    assert.equal(st.user.username, 'system:serviceaccount:default:default');
    assert.deepEqual(st.user.extra?.['authentication.kubernetes.io/pod-name'], ['cmpod']);
    assert.equal((await kubectl(['delete', 'pod', 'cmpod', '--timeout=60s'])).code, 0);
  });

  void it('survives bad pods and restarts crashed containers', async () => {
    const bad = `apiVersion: v1
kind: Pod
metadata: {name: nocmd, namespace: default}
spec:
  nodeName: worker
  containers: [{name: c, image: x, command: [no-such-program-ambit]}]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: default}
spec:
  nodeName: worker
  containers: [{name: c, image: x, command: [sh, -c, 'exit 3']}]
`;
    assert.equal((await kubectl(['apply', '-f', '-'], bad)).code, 0);
    type Full = {
      status?: {
        phase?: string;
        containerStatuses?: {
          restartCount: number;
          state?: { waiting?: { reason?: string; message?: string } };
          lastState?: { terminated?: { exitCode: number } };
        }[];
      };
    };
    const get = async (n: string) =>
      JSON.parse((await kubectl(['get', 'pod', n, '-o', 'json'])).stdout) as Full;
    const nocmd = await until('nocmd error', async () => {
      const s = (await get('nocmd')).status?.containerStatuses?.[0];
      return s?.state?.waiting?.reason === 'CreateContainerError' ? s : undefined;
    });
    assert.match(nocmd.state!.waiting!.message!, /no-such-program-ambit.*not found/);
    const crash = await until('crasher restarted', async () => {
      const s = (await get('crasher')).status?.containerStatuses?.[0];
      return s && s.restartCount >= 1 && s.lastState?.terminated ? s : undefined;
    });
    assert.equal(crash.lastState!.terminated!.exitCode, 3);
    const ev = await kubectl(['get', 'events', '-o', 'json']);
    assert.match(ev.stdout, /executable file not found/);
    // The kubelet of that node still serves new pods.
    const ok = await ambit([
      'lab',
      'exec',
      '--name',
      N,
      sleepPod,
      '--',
      'curl',
      '-s',
      '--max-time',
      '10',
      'http://httpbin:8000/status/200',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
    ]);
    assert.equal(ok.stdout, '200');
    assert.equal((await kubectl(['delete', 'pod', 'nocmd', 'crasher', '--timeout=60s'])).code, 0);
  });

  void it('calls the CNI hook: ADD after the network is up (failure = Pending + Event + retry), DEL before teardown', async () => {
    const cniDir = join(stateDir, 'nodes', 'worker2', 'cni');
    const rec = join(tmp, 'cni.log');
    const failFlag = join(tmp, 'cni-fail');
    mkdirSync(join(cniDir, 'bin'), { recursive: true });
    mkdirSync(join(cniDir, 'net.d'), { recursive: true });
    writeFileSync(
      join(cniDir, 'bin', 'rec-cni'),
      `#!/bin/sh
ns=$(basename "$CNI_NETNS")
{ echo "$CNI_COMMAND id=$CNI_CONTAINERID netns=$CNI_NETNS if=$CNI_IFNAME args=$CNI_ARGS exists=$(test -e "$CNI_NETNS" && echo yes || echo no)"
  echo "addr=$(ip -n "$ns" -o -4 addr show eth0 2>/dev/null | awk '{print $4}')"
  echo "stdin=$(cat)"; } >> ${rec}
if [ "$CNI_COMMAND" = ADD ] && [ -e ${failFlag} ]; then
  echo '{"cniVersion":"1.0.0","code":999,"msg":"rec-cni refuses","details":"test says no"}'; exit 1
fi
echo '{"cniVersion":"1.0.0"}'
`,
      { mode: 0o755 },
    );
    writeFileSync(failFlag, '');
    writeFileSync(
      join(cniDir, 'net.d', '00-test.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'test',
        plugins: [{ type: 'ptp' }, { type: 'rec-cni', marker: 'm1' }],
      }),
    );
    try {
      const pod =
        'apiVersion: v1\nkind: Pod\nmetadata: {name: cnipod, namespace: default}\nspec:\n  nodeName: worker2\n  containers: [{name: c, image: x, command: [sleep, "1000"]}]\n';
      assert.equal((await kubectl(['apply', '-f', '-'], pod)).code, 0);
      await until('CNI failure event', async () =>
        (await kubectl(['get', 'events', '-o', 'json'])).stdout.includes(
          'rec-cni refuses: test says no',
        )
          ? true
          : undefined,
      );
      const pending = JSON.parse(
        (await kubectl(['get', 'pod', 'cnipod', '-o', 'json'])).stdout,
      ) as PodJson;
      assert.equal(pending.status?.phase, 'Pending');
      rmSync(failFlag);
      const p = await until('cnipod ready after the hook succeeds', async () => {
        const x = JSON.parse(
          (await kubectl(['get', 'pod', 'cnipod', '-o', 'json'])).stdout,
        ) as PodJson;
        return ready(x) ? x : undefined;
      });
      const uid = p.metadata.uid;
      const podNs = p.metadata.annotations!['lab.ambit.dev/netns']!;
      const adds = readFileSync(rec, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('ADD'));
      assert.ok(adds.length >= 2, 'failed ADD was retried');
      assert.equal(
        adds[0],
        `ADD id=${uid} netns=/run/netns/${podNs} if=eth0 args=K8S_POD_NAMESPACE=default;K8S_POD_NAME=cnipod;K8S_POD_UID=${uid} exists=yes`,
      );
      const text = readFileSync(rec, 'utf8');
      assert.ok(text.includes(`addr=${p.status!.podIP!}/32`), 'network was up before ADD');
      const stdin = JSON.parse(
        text
          .split('\n')
          .find((l) => l.startsWith('stdin='))!
          .slice(6),
      ) as Record<string, unknown>;
      assert.equal(stdin.type, 'rec-cni');
      assert.equal(stdin.marker, 'm1');
      assert.deepEqual((stdin.prevResult as { ips: unknown[] }).ips, [
        { address: `${p.status!.podIP!}/32`, gateway: '10.244.2.1', interface: 1 },
      ]);
      assert.equal((await kubectl(['delete', 'pod', 'cnipod', '--timeout=60s'])).code, 0);
      await until('DEL recorded', () =>
        Promise.resolve(readFileSync(rec, 'utf8').includes('DEL id=') ? true : undefined),
      );
      const del = readFileSync(rec, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('DEL'))!;
      assert.match(del, /exists=yes$/, 'DEL ran before the netns was removed');
    } finally {
      rmSync(join(cniDir, 'net.d', '00-test.conflist'), { force: true });
    }
  });

  void it('runs hostNetwork pods in the node netns', async () => {
    const pod =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: hostpod, namespace: default}\nspec:\n  nodeName: worker2\n  hostNetwork: true\n  containers: [{name: c, image: x, command: [sh, -c, "ip -o -4 addr show eth0; exec sleep 1000"]}]\n';
    assert.equal((await kubectl(['apply', '-f', '-'], pod)).code, 0);
    const p = await until('hostpod ready', async () => {
      const x = JSON.parse(
        (await kubectl(['get', 'pod', 'hostpod', '-o', 'json'])).stdout,
      ) as PodJson;
      return ready(x) ? x : undefined;
    });
    assert.equal(p.status?.podIP, '172.18.0.3');
    assert.equal(p.metadata.annotations?.['lab.ambit.dev/netns'], `${N}-worker2`);
    const log = join(stateDir, 'pods', 'default_hostpod', 'c.log');
    await until('hostpod output', () =>
      Promise.resolve(
        existsSync(log) && readFileSync(log, 'utf8').includes('inet') ? true : undefined,
      ),
    );
    assert.match(readFileSync(log, 'utf8'), /eth0\s+inet 172\.18\.0\.3\/16/);
    const lg = await ambit(['lab', 'logs', '--name', N, 'hostpod']);
    assert.equal(lg.code, 0, lg.stderr);
    assert.match(lg.stdout, /inet 172\.18\.0\.3\/16/);
    assert.equal((await kubectl(['delete', 'pod', 'hostpod', '--timeout=60s'])).code, 0);
    assert.ok(existsSync(`/run/netns/${N}-worker2`), 'the node netns stays');
  });

  void it('a restarted kubelet adopts running pods; up restarts a dead daemon', async () => {
    const sp = (await pods('app=sleep'))[0]!;
    const sleepPid = pidOf(`pod-${sp.metadata.uid.slice(0, 8)}-sleep.pid`);
    const kubeletPid = pidOf('kubelet-worker2.pid');
    process.kill(kubeletPid, 'SIGKILL');
    const gone = (pid: number) => {
      try {
        return /\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return true;
      }
    };
    await until('kubelet gone', () => Promise.resolve(gone(kubeletPid) ? true : undefined));
    const up = await ambit(['lab', 'up', '--name', N]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /already running/);
    assert.match(up.stdout, /restarted kubelet-worker2/);
    const log = join(stateDir, 'logs', 'kubelet-worker2.log');
    await until('adoption', () =>
      Promise.resolve(
        readFileSync(log, 'utf8').includes(`adopted pod pod=default/${sp.metadata.name}`)
          ? true
          : undefined,
      ),
    );
    assert.equal(pidOf(`pod-${sp.metadata.uid.slice(0, 8)}-sleep.pid`), sleepPid, 'same process');
    assert.deepEqual(await originFrom(sp.metadata.name), { origin: '10.244.2.8' });
    // An adopted process that dies is noticed and restarted.
    process.kill(sleepPid, 'SIGKILL');
    await until('sleep restarted', async () => {
      const p = (await pods('app=sleep'))[0] as PodJson & {
        status?: { containerStatuses?: { restartCount: number }[] };
      };
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && ready(p)
        ? true
        : undefined;
    });
    assert.notEqual(pidOf(`pod-${sp.metadata.uid.slice(0, 8)}-sleep.pid`), sleepPid);
  });

  void it('up restarts a dead API server; its objects and the running pods are kept', async () => {
    const before = (await pods('app=sleep'))[0]!;
    const apiPid = pidOf('apiserver.pid');
    process.kill(apiPid, 'SIGKILL');
    await until('apiserver gone', () =>
      Promise.resolve(
        existsSync(`/proc/${apiPid}/stat`) &&
          !/\) [ZX] /.test(readFileSync(`/proc/${apiPid}/stat`, 'utf8'))
          ? undefined
          : true,
      ),
    );
    const down = await ambit(['lab', 'status', '--name', N]);
    assert.notEqual(down.code, 0, 'status of a lab without its API server');
    const up = await ambit(['lab', 'up', '--name', N]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /restarted apiserver/);
    assert.notEqual(pidOf('apiserver.pid'), apiPid);
    const after = (await pods('app=sleep'))[0]!;
    assert.equal(after.metadata.uid, before.metadata.uid, 'the same pod object');
    assert.deepEqual(await originFrom(after.metadata.name), { origin: '10.244.2.8' });
  });

  void it('reports Ready only while the readiness probe passes', async () => {
    const flag = join(tmp, 'ready-flag');
    const pod = `apiVersion: v1\nkind: Pod\nmetadata: {name: probed, namespace: default}\nspec:\n  nodeName: worker\n  containers: [{name: c, image: x, command: [sleep, "1000"], readinessProbe: {exec: {command: [test, -e, ${flag}]}, periodSeconds: 1}}]\n`;
    assert.equal((await kubectl(['apply', '-f', '-'], pod)).code, 0);
    const get = async () =>
      JSON.parse((await kubectl(['get', 'pod', 'probed', '-o', 'json'])).stdout) as PodJson;
    await until('probed running', async () =>
      (await get()).status?.phase === 'Running' ? true : undefined,
    );
    await sleep(2500);
    assert.equal(ready(await get()), false, 'not ready while the probe fails');
    writeFileSync(flag, '');
    await until('probed ready', async () => (ready(await get()) ? true : undefined));
    rmSync(flag);
    await until('probed unready again', async () => (ready(await get()) ? undefined : true));
    assert.equal((await kubectl(['delete', 'pod', 'probed', '--timeout=60s'])).code, 0);
  });
});
