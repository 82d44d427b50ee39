/**
 * The conformance topology on a real lab (`ambit lab up --no-scenario`): the seeds' nodes, and
 * pods created through the API with the seeds' pinned addresses: sleep 10.244.2.8 and "other"
 * 10.244.2.9 on worker2, httpbin 10.244.1.7 on worker behind Service httpbin 10.96.0.105:8000
 * (kube-proxy's DNAT), and stand-in ztunnel pods at 10.244.N.3 whose namespaces the suite's
 * transparent listeners occupy. Pod netns and host veths come from the kubelet's annotations.
 */
import { join } from 'node:path';
import { run } from '../../src/sys/exec.js';
import type { CaptureTopology, TopoNode, TopoPod } from './redirect-topology.js';
import { repoRoot } from '../../src/repo.js';

interface PodJson {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  status?: { phase?: string; podIP?: string };
}

export async function buildLabTopology(lab: string): Promise<CaptureTopology> {
  const ambit = join(repoRoot(), 'bin', 'ambit');
  const state = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', lab);
  const kubectl = async (args: string[], input?: string) => {
    const r = await run('kubectl', ['--kubeconfig', join(state, 'kubeconfig'), ...args], {
      input,
      allowFail: true,
    });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const destroy = async () => {
    await run(process.execPath, [ambit, 'lab', 'down', '--name', lab], {
      allowFail: true,
      timeoutMs: 120_000,
    });
  };
  const up = await run(process.execPath, [ambit, 'lab', 'up', '--name', lab, '--no-scenario'], {
    allowFail: true,
    timeoutMs: 240_000,
  });
  if (up.code !== 0) {
    await destroy();
    throw new Error(`ambit lab up failed:\n${up.stdout}\n${up.stderr}`);
  }
  try {
    const node = (name: TopoNode['name'], ip: string, n: number): TopoNode => ({
      name,
      netns: `${lab}-${name}`,
      ip,
      hostIp: `10.244.${n}.1`,
      cidr: `10.244.${n}.0/24`,
    });
    const worker = node('worker', '172.18.0.4', 1);
    const worker2 = node('worker2', '172.18.0.3', 2);
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'httpbin', namespace: 'default' },
        spec: {
          clusterIP: '10.96.0.105',
          selector: { app: 'httpbin' },
          ports: [{ name: 'http', port: 8000, targetPort: 80 }],
        },
      }),
    );
    const addPod = async (name: string, n: TopoNode, ip: string): Promise<TopoPod> => {
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name,
            namespace: 'default',
            labels: { app: name.replace(/-.*$/, '') },
            annotations: { 'lab.ambit.dev/ip': ip },
          },
          spec: {
            nodeName: n.name,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: 'busybox', command: ['sleep', 'infinity'] }],
          },
        }),
      );
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const p = JSON.parse(
          await kubectl(['get', 'pod', '-n', 'default', name, '-o', 'json']),
        ) as PodJson;
        const a = p.metadata.annotations ?? {};
        const netns = a['lab.ambit.dev/netns'];
        const hostVeth = a['lab.ambit.dev/host-veth'];
        if (p.status?.phase === 'Running' && p.status.podIP === ip && netns && hostVeth) {
          return { name, node: n, ip, uid: p.metadata.uid, netns, hostVeth };
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`pod ${name} not running at ${ip} within 60s`);
    };
    const removePod = async (pod: TopoPod) => {
      await kubectl(['delete', 'pod', '-n', 'default', pod.name, '--wait=true']);
    };
    const pods = {
      ztunnelA: await addPod('ztunnel-a', worker2, '10.244.2.3'),
      sleep: await addPod('sleep', worker2, '10.244.2.8'),
      other: await addPod('other', worker2, '10.244.2.9'),
      ztunnelB: await addPod('ztunnel-b', worker, '10.244.1.3'),
      httpbin: await addPod('httpbin', worker, '10.244.1.7'),
    };
    // The suite snapshots the nodes first: wait until kube-proxy has httpbin's endpoint.
    for (const n of [worker, worker2]) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const saved = (await run('iptables-save', [], { netns: n.netns })).stdout;
        if (saved.includes('10.244.1.7:80') && !saved.includes('httpbin:http has no endpoints')) {
          break;
        }
        if (Date.now() > deadline) throw new Error(`kube-proxy on ${n.name}: no httpbin endpoint`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return {
      ...pods,
      tag: lab,
      worker,
      worker2,
      quietDevices: false,
      clusterIp: '10.96.0.105',
      clusterPort: 8000,
      addPod,
      removePod,
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
