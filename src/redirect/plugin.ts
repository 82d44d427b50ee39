/**
 * `ambit cni plugin`: the CNI plugin the kubelet runs on pod ADD/DEL (type `ambit-cni`). It
 * is a thin shim: it forwards the event to this node's agent over the unix socket named in
 * its config and waits, so the agent (which has the API view and the backend) decides and
 * captures before the pod's app starts. Istio 1.19+ fails ADD when capture fails; so do we.
 */
import http from 'node:http';
import { AmbitError, errorMessage } from '../errors.js';
import type { CniEvent } from './agent.js';

interface PluginConf {
  cniVersion?: string;
  agentSocket?: string;
  prevResult?: {
    interfaces?: { name: string; sandbox?: string }[];
    ips?: { address: string; interface?: number }[];
  };
}

function cniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (s ?? '').split(';')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Builds the agent request from the CNI environment and config. */
export function cniEvent(env: NodeJS.ProcessEnv, conf: PluginConf): CniEvent {
  const command = env.CNI_COMMAND;
  if (command !== 'ADD' && command !== 'DEL') {
    throw new AmbitError('CNI_BAD_COMMAND', `unsupported CNI_COMMAND ${command ?? '(unset)'}`, {
      value: command,
      hint: 'the plugin handles ADD and DEL',
    });
  }
  const a = cniArgs(env.CNI_ARGS);
  const ip = conf.prevResult?.ips?.[0]?.address?.split('/')[0];
  const hostVeth = conf.prevResult?.interfaces?.find((i) => !i.sandbox)?.name;
  return {
    command,
    uid: a.K8S_POD_UID ?? env.CNI_CONTAINERID ?? '',
    namespace: a.K8S_POD_NAMESPACE ?? '',
    name: a.K8S_POD_NAME ?? '',
    ip,
    hostVeth,
    netns: env.CNI_NETNS || conf.prevResult?.interfaces?.find((i) => i.sandbox)?.sandbox,
  };
}

function post(socketPath: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path: '/cni',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () =>
      req.destroy(new AmbitError('CNI_AGENT_FAILED', 'the node agent did not answer in 30 s')),
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs one plugin invocation; CNI result or CNI error JSON on stdout. */
export async function runPlugin(stdin: string, env: NodeJS.ProcessEnv): Promise<number> {
  let conf: PluginConf = {};
  try {
    conf = JSON.parse(stdin) as PluginConf;
    const ev = cniEvent(env, conf);
    if (!conf.agentSocket) {
      throw new AmbitError('CNI_NO_AGENT_SOCKET', 'plugin config has no agentSocket', {
        hint: "the node agent chains it into the node's primary conflist",
      });
    }
    const r = await post(conf.agentSocket, JSON.stringify(ev));
    if (r.status !== 200) {
      throw new AmbitError('CNI_AGENT_FAILED', `node agent: ${r.body}`, { value: ev.uid });
    }
    // A chained plugin passes the previous result on unchanged.
    process.stdout.write(JSON.stringify(conf.prevResult ?? { cniVersion: conf.cniVersion }));
    return 0;
  } catch (err) {
    process.stdout.write(
      JSON.stringify({
        cniVersion: conf.cniVersion ?? '1.0.0',
        code: 999,
        msg: 'ambit-cni: pod capture failed',
        details: errorMessage(err),
      }),
    );
    return 1;
  }
}
