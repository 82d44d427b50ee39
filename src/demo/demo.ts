/**
 * `ambit demo`: the seeds' scenario end to end. Brings up the seeds' cluster with the mesh,
 * enrols the default namespace, runs a real curl from sleep to httpbin, and prints the
 * evidence from the live system: the three TCP connections, the mTLS identities of the HBONE
 * hop, and the kernel's own trace of the packets' path.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Annotation } from '../api/labels.js';
import { Port } from '../api/ports.js';
import { AmbitError, errorMessage } from '../errors.js';
import { cliCommand } from '../repo.js';
import type { KubeClient } from '../k8s/client.js';
import { resources } from '../k8s/resources.js';
import type { Pod } from '../k8s/types.js';
import { defaultCluster } from '../lab/cluster/cluster.js';
import { labPaths } from '../lab/cluster/paths.js';
import { podNetns } from '../lab/conventions.js';
import { installMesh, setAmbient } from '../lab/mesh/install.js';
import { daemonRunning } from '../lab/orchestrator/daemons.js';
import { labDown } from '../lab/orchestrator/down.js';
import { labClient } from '../lab/orchestrator/status.js';
import { labUp } from '../lab/orchestrator/up.js';
import { traceLive } from '../trace/live.js';
import { renderPath } from '../trace/render.js';
import { renderBpfConnections } from '../trace/bpf-path.js';
import { run } from '../sys/exec.js';
import { connectionsInFlight, lastAccessLog, type PodRef } from './evidence.js';
import { waypointScene } from './waypoint.js';

export interface DemoOptions {
  lab: string;
  trace: boolean;
  print: (line: string) => void;
  /** The node agents' redirection backend (default iptables). */
  redirect?: string;
  /** A namespace waypoint on the path: the four connections instead of three (waypoint.ts). */
  waypoint?: boolean;
  /** The mesh as bare per-node pods, not the DaemonSets (installMesh's `mode: 'pods'`). */
  meshPods?: boolean;
}

const URL = 'http://httpbin:8000/get';

async function findPod(client: KubeClient, namespace: string, prefix: string): Promise<PodRef> {
  const pods = (await client.list<Pod>(resources.pods, { namespace })).items;
  const p = pods.find(
    (x) => x.metadata.name === prefix || x.metadata.name.startsWith(`${prefix}-`),
  );
  const netns = p ? podNetns(p) : undefined;
  if (!p || !netns || !p.status?.podIP) {
    throw new AmbitError('DEMO_NO_POD', `no running pod ${namespace}/${prefix}*`, {
      value: prefix,
    });
  }
  return { name: p.metadata.name, namespace, netns, ip: p.status.podIP };
}

/** Waits until the node agents have captured both pods (they annotate them, as istio-cni does). */
async function waitEnrolled(client: KubeClient, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pods = (await client.list<Pod>(resources.pods, { namespace: 'default' })).items;
    const ok = names.every((n) =>
      pods.some(
        (p) =>
          p.metadata.name === n && p.metadata.annotations?.[Annotation.redirection] === 'enabled',
      ),
    );
    if (ok) return;
    await sleep(200);
  }
  throw new AmbitError(
    'DEMO_NOT_ENROLLED',
    `pods not captured after ${timeoutMs / 1000}s: ${names.join(', ')}`,
    {
      value: names,
      hint: 'see the istio-cni-node pod logs in the lab state dir',
    },
  );
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const { print } = o;
  const started = Date.now();
  const ebpf = o.trace && o.redirect === 'ebpf';
  const total = o.waypoint ? 6 : (o.trace ? 6 : 5) + (ebpf ? 1 : 0);
  let n = 0;
  const step = async <T>(title: string, fn: () => Promise<T>): Promise<T> => {
    n++;
    const t = Date.now();
    print(`[${n}/${total}] ${title} …`);
    try {
      const r = await fn();
      print(`      done in ${((Date.now() - t) / 1000).toFixed(1)}s`);
      return r;
    } catch (err) {
      print(`      FAILED after ${((Date.now() - t) / 1000).toFixed(1)}s: ${errorMessage(err)}`);
      print(
        `      logs: ${labPaths(o.lab).dir}/logs and …/pods; clean up with \`ambit demo --down\``,
      );
      throw err;
    }
  };

  await step(
    `the seeds' cluster: lab "${o.lab}" (control-plane, worker, worker2; sleep, httpbin)`,
    async () => {
      // Only a lab that finished coming up is reused; labUp refuses a half-built one, saying how.
      if (daemonRunning(labPaths(o.lab), 'apiserver') && existsSync(labPaths(o.lab).upDone)) {
        print('      already running, reusing it');
        return;
      }
      const rc = await labUp({
        cluster: defaultCluster(o.lab),
        scenario: true,
        timeoutMs: 120_000,
        print: (l) => print(`      ${l}`),
      });
      if (rc !== 0) throw new AmbitError('DEMO_LAB_FAILED', `lab up exited ${rc}`, { value: rc });
    },
  );
  const client = labClient(o.lab);
  await step(
    `the mesh: istiod, a node agent (${o.redirect ?? 'iptables'} redirection) and a ztunnel on every node`,
    () =>
      installMesh(client, {
        redirect: o.redirect,
        lab: o.lab,
        ...(o.meshPods ? { mode: 'pods' as const } : {}),
        progress: (s, ms) => print(`      ${s} (${(ms / 1000).toFixed(1)}s)`),
      }),
  );
  const [sleepPod, httpbin] = await Promise.all([
    findPod(client, 'default', 'sleep'),
    findPod(client, 'default', 'httpbin'),
  ]);
  await step('enrol namespace default: istio.io/dataplane-mode=ambient', async () => {
    await setAmbient(client, 'default', true);
    // Generous: on a loaded machine the node agents take a while to capture both pods.
    await waitEnrolled(client, [sleepPod.name, httpbin.name], 60_000);
  });

  if (o.waypoint) {
    await waypointScene({
      lab: o.lab,
      client,
      step,
      print,
      sleepPod,
      httpbin,
      findPod: (ns, prefix) => findPod(client, ns, prefix),
      redirect: o.redirect,
    });
    print('');
    print(
      `demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s. The lab keeps running.`,
    );
    print(`  ambit demo --down${o.lab === 'ambit' ? '' : ` --name ${o.lab}`}`);
    return 0;
  }

  const ztA = await findPod(client, 'istio-system', 'ztunnel-worker2');
  const ztB = await findPod(client, 'istio-system', 'ztunnel-worker');

  let traced: Awaited<ReturnType<typeof traceLive>> | undefined;
  await step(`curl -sS ${URL} from ${sleepPod.name} (10.244.2.8, worker2)`, async () => {
    let body: string;
    if (o.trace) {
      traced = await traceLive({ pod: sleepPod.name, url: URL, lab: o.lab });
      if (traced.response.exitCode !== 0) {
        throw new AmbitError('DEMO_CURL_FAILED', `curl failed: ${traced.response.stderr.trim()}`, {
          value: traced.response,
        });
      }
      body = traced.response.body;
    } else {
      const r = await run('curl', ['-sS', '-m', '10', URL], {
        netns: sleepPod.netns,
        allowFail: true,
        timeoutMs: 15_000,
      });
      if (r.code !== 0) {
        throw new AmbitError('DEMO_CURL_FAILED', `curl failed: ${r.stderr.trim()}`, {
          value: r.code,
        });
      }
      body = r.stdout;
    }
    print('');
    for (const l of body.trimEnd().split('\n')) print(`      ${l}`);
    print('');
  });

  await step(
    'the three TCP connections of one request (ss in each namespace, request in flight)',
    async () => {
      const socks = await connectionsInFlight(
        sleepPod,
        'http://httpbin:8000/delay/2',
        [ztA, ztB, httpbin],
        [8000, Port.inbound, 80],
      );
      const show = (
        title: string,
        filter: (s: { pod: string; local: string; peer: string }) => boolean,
      ) => {
        print(`      ${title}`);
        const rows = socks.filter(filter);
        if (rows.length === 0) print('        (none seen)');
        for (const s of rows)
          print(`        ${s.pod.padEnd(26)} ${s.local.padEnd(22)} ↔ ${s.peer}`);
      };
      show(
        `1. sleep → ztunnel A (port 8000: the client sees the service VIP; ztunnel holds it via ${o.redirect === 'ebpf' ? 'bpf_sk_assign' : 'TPROXY'})`,
        (s) => s.local.endsWith(':8000') || s.peer.endsWith(':8000'),
      );
      show(
        '2. ztunnel A → ztunnel B (HBONE, mTLS on 15008)',
        (s) => s.local.endsWith(`:${Port.inbound}`) || s.peer.endsWith(`:${Port.inbound}`),
      );
      show(
        "3. ztunnel B → httpbin (spoofed source: httpbin sees sleep's address)",
        (s) => s.local.endsWith(':80') || s.peer.endsWith(':80'),
      );
      const log = lastAccessLog(
        o.lab,
        { namespace: 'istio-system', name: ztB.name },
        { direction: 'inbound', 'src.addr': sleepPod.ip },
      );
      print('      mTLS identities on the HBONE hop (ztunnel B access log):');
      if (log) {
        print(
          `        peer (client) ${log.fields['src.identity'] ?? '?'}  →  server ${log.fields['dst.identity'] ?? '?'}`,
        );
        print(`        ${log.text.slice(log.text.indexOf('connection complete'))}`);
      } else print('        (no access-log line yet)');
    },
  );

  if (o.trace && traced) {
    const t = traced;
    await step("the packets' path, from the kernel's own trace (nftrace) and route lookups", () => {
      print('');
      for (const l of renderPath(t.path).split('\n')) print(`  ${l}`);
      return Promise.resolve();
    });
    if (ebpf) {
      await step(
        "the eBPF programs' own account: one ring-buffer event per program and packet",
        () => {
          print('');
          for (const l of renderBpfConnections(t.ebpf ?? [])) print(`  ${l}`);
          if (!t.ebpf)
            throw new AmbitError('DEMO_NO_BPF_EVENTS', 'no eBPF node found to record', {
              value: o.lab,
              hint: `is the mesh installed with --redirect ebpf? see \`ambit node rules worker2 --lab ${o.lab}\``,
            });
          return Promise.resolve();
        },
      );
    }
  }

  print('');
  print(
    `demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s. The lab keeps running. Try:`,
  );
  const lab = o.lab === 'ambit' ? '' : ` --name ${o.lab}`;
  const ambit = cliCommand();
  print(`  ${ambit} lab exec${lab} ${sleepPod.name} -- curl -sS http://httpbin:8000/headers`);
  print(`  kubectl --kubeconfig ${labPaths(o.lab).kubeconfig} get pods -A -o wide`);
  print(`  ${ambit} node rules worker2${o.lab === 'ambit' ? '' : ` --lab ${o.lab}`}`);
  print(
    `  ${ambit} trace --live ${sleepPod.name} http://httpbin:8000/ip${o.lab === 'ambit' ? '' : ` --lab ${o.lab}`}`,
  );
  print(
    `  kubectl --kubeconfig ${labPaths(o.lab).kubeconfig} apply -f examples/deny-sleep.yaml   # then curl again: refused`,
  );
  print(`  ${ambit} demo --down${lab}                                      # take it all down`);
  return 0;
}

export async function demoDown(lab: string, print: (l: string) => void): Promise<number> {
  return labDown(lab, print);
}
