/**
 * Kernel-side evidence for the capture tests: per-rule packet counters, per-device packet
 * counters, conntrack marks, route lookups, and a normalized dump of all state uninstall must
 * restore. Plus the listeners the tests put in pods: TPROXY-style transparent listeners that
 * report the addresses they saw, and a plain "httpbin".
 */
import net from 'node:net';
import { run } from '../../src/sys/exec.js';
import { listen } from '../../src/sys/socket.js';

/** Packet counters of every rule of `table`, as [rule text, packets] in chain order. */
export async function ruleCounters(netns: string, table: string): Promise<[string, number][]> {
  const r = await run('iptables-save', ['-c', '-t', table], { netns });
  const out: [string, number][] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\[(\d+):\d+\] (-A .*)$/.exec(line);
    if (m) out.push([m[2]!, Number(m[1])]);
  }
  return out;
}

/** Packets counted by the first rule whose text is `rule` (throws if there is none). */
export async function rulePackets(netns: string, table: string, rule: string): Promise<number> {
  const hit = (await ruleCounters(netns, table)).find(([r]) => r === rule);
  if (!hit) throw new Error(`no rule in ${netns} ${table}: ${rule}`);
  return hit[1];
}

export async function linkPackets(netns: string, dev: string): Promise<{ rx: number; tx: number }> {
  const r = await run('ip', ['-s', '-j', 'link', 'show', 'dev', dev], { netns });
  const [l] = JSON.parse(r.stdout) as {
    stats64: { rx: { packets: number }; tx: { packets: number } };
  }[];
  return { rx: l!.stats64.rx.packets, tx: l!.stats64.tx.packets };
}

/** conntrack entries in `netns` with the given mark (value/mask) and original destination. */
export async function conntrackWithMark(
  netns: string,
  mark: string,
  origDst: string,
): Promise<string[]> {
  const r = await run('conntrack', ['-L', '-m', mark, '-d', origDst], { netns, allowFail: true });
  return r.stdout.split('\n').filter((l) => l.includes(`dst=${origDst}`));
}

/** `ip route get` in `netns`: the kernel's own routing decision. */
export async function routeGet(netns: string, args: string[]): Promise<string> {
  return (await run('ip', ['-o', 'route', 'get', ...args], { netns })).stdout.trim();
}

/** Everything uninstall must return to: iptables, rules, routes of all tables, ipsets, links. */
export interface KernelState {
  iptables: string;
  rules: string;
  routes: string;
  ipset: string;
  links: string;
  /** qdiscs, and the filters of every clsact hook (what tc-attached programs leave). */
  tc: string;
}

async function tcState(netns: string): Promise<string> {
  const q = await run('tc', ['qdisc', 'show'], { netns, allowFail: true });
  const lines = q.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const m of q.stdout.matchAll(/^qdisc clsact \S+ dev (\S+)/gm)) {
    for (const hook of ['ingress', 'egress']) {
      const f = await run('tc', ['filter', 'show', 'dev', m[1]!, hook], { netns, allowFail: true });
      lines.push(`${m[1]} ${hook}: ${f.stdout.trim().replace(/\s+/g, ' ')}`);
    }
  }
  return lines.join('\n');
}

export async function kernelState(netns: string): Promise<KernelState> {
  const txt = async (cmd: string, args: string[]) =>
    (await run(cmd, args, { netns, allowFail: true })).stdout;
  const ipt = (await txt('iptables-save', []))
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[]'))
    .join('\n');
  return {
    iptables: ipt,
    rules: await txt('ip', ['rule']),
    // IPv4: all the backends touch (IPv6 link-local churn of pod veths is not ours).
    routes: await txt('ip', ['-4', 'route', 'show', 'table', 'all']),
    ipset: await txt('ipset', ['save']),
    links: (await txt('ip', ['-br', 'link'])).replace(/\s+/g, ' '),
    tc: await tcState(netns),
  };
}

export interface Seen {
  port: number;
  local: string;
  remote: string;
  /** Request bytes read before answering (headers + body: every packet of the request). */
  received: number;
}

/** Reads one HTTP/1 request (headers, then Content-Length bytes) and calls `done(bytes)`. */
function readRequest(c: net.Socket, done: (bytes: number) => void): void {
  let buf = Buffer.alloc(0);
  let need = -1;
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (need < 0) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = /content-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      need = end + 4 + Number(len?.[1] ?? 0);
    }
    if (buf.length >= need) {
      c.off('data', onData);
      done(buf.length);
    }
  };
  c.on('data', onData);
}

/** Transparent listeners on 127.0.0.1:15001/15006/15008 in `netns`, like ztunnel's. */
export async function startCaptureListeners(netns: string, label: string) {
  const seen: Seen[] = [];
  const servers: net.Server[] = [];
  const open = new Set<net.Socket>();
  for (const port of [15001, 15006, 15008]) {
    const s = net.createServer((c) => {
      const hit: Seen = {
        port,
        local: `${c.localAddress}:${c.localPort}`,
        remote: `${c.remoteAddress}:${c.remotePort}`,
        received: 0,
      };
      seen.push(hit);
      open.add(c);
      c.on('close', () => open.delete(c));
      c.on('error', () => undefined);
      readRequest(c, (bytes) => {
        hit.received = bytes;
        c.end(`HTTP/1.0 200 OK\r\n\r\n${JSON.stringify({ label, ...hit })}\n`);
      });
    });
    await listen(s, { host: '127.0.0.1', port, transparent: true, netns });
    servers.push(s);
  }
  return {
    seen,
    close: async () => {
      const done = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const c of open) c.destroy();
      await Promise.all(done);
    },
  };
}

/** A plain server on 0.0.0.0:`port` in `netns` that answers with the client address. */
export async function startHttpbin(netns: string, port = 80) {
  const seen: string[] = [];
  const open = new Set<net.Socket>();
  const s = net.createServer((c) => {
    seen.push(`${c.remoteAddress}:${c.remotePort}`);
    open.add(c);
    c.on('close', () => open.delete(c));
    c.on('error', () => undefined);
    c.end(
      `HTTP/1.0 200 OK\r\n\r\n${JSON.stringify({ label: 'httpbin', remote: c.remoteAddress })}\n`,
    );
  });
  await listen(s, { host: '0.0.0.0', port, netns });
  return {
    seen,
    close: () => {
      const done = new Promise<void>((r) => s.close(() => r()));
      for (const c of open) c.destroy();
      return done;
    },
  };
}

/** curl from `netns`; the body (JSON from our listeners) or undefined on failure. */
export async function curlFrom(
  netns: string,
  url: string,
  maxTime = 5,
  body?: string,
): Promise<{ label: string; local?: string; remote: string; received?: number } | undefined> {
  const data = body === undefined ? [] : ['--data-binary', '@-', '-H', 'Expect:'];
  const r = await run('curl', ['-sS', '--max-time', String(maxTime), ...data, url], {
    netns,
    input: body,
    allowFail: true,
    timeoutMs: (maxTime + 5) * 1000,
  });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as { label: string; local?: string; remote: string };
}

/** Sends one UDP datagram from `netns` and returns the reply text, if any within `ms`. */
export async function udpAsk(
  netns: string,
  host: string,
  port: number,
  ms = 2000,
): Promise<string | undefined> {
  const script = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>{process.stdout.write(m.toString()+' from '+r.address+':'+r.port);process.exit(0)});s.send('ping',${port},'${host}');setTimeout(()=>process.exit(3),${ms});`;
  const r = await run(process.execPath, ['-e', script], {
    netns,
    allowFail: true,
    timeoutMs: ms + 5000,
  });
  return r.code === 0 ? r.stdout : undefined;
}

/** A UDP echo server on 0.0.0.0:`port` in `netns` (a child process; stop() ends it by PID). */
export async function startUdpEcho(netns: string, port: number) {
  const { spawn } = await import('node:child_process');
  const script = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('echo '+r.address,r.port,r.address));s.bind(${port},()=>console.log('ready'));`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('udp echo did not start')), 10_000);
    child.stdout.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    child.once('exit', () => {
      clearTimeout(t);
      reject(new Error('udp echo exited'));
    });
  });
  return {
    stop: () =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((r) => {
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
  };
}
