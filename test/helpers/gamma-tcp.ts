/**
 * TCP probes through the waypoint for the policy matrix: from inside a client pod, a node
 * one-liner connects to echo:9090 (the echo app's TCP echo port, a `tcp` Service port, so the
 * waypoint proxies it as plain TCP), sends a line and reports what came back before the close.
 */
import type { GammaLab } from './gamma-lab.js';
import { MESH_NS } from './gamma-manifests.js';

const probe = (host: string) =>
  `${process.execPath} -e "const s=require('net').connect(9090,'${host}',()=>s.write('ping-tcp\\\\n'));` +
  `let d='';s.on('data',c=>{d+=c;if(d.includes('\\\\n'))s.end()});s.on('error',()=>{});` +
  `const out=()=>{console.log('TCP='+JSON.stringify(d));process.exit(0)};s.on('close',out);setTimeout(out,8000)"`;

/** Three probes in a row from the pod; true when all three got the bytes back. */
export async function tcpEchoes(lab: GammaLab, ns: string, pod: string): Promise<boolean[]> {
  const one = probe(`echo.${MESH_NS}`);
  const r = await lab.sh(ns, pod, [one, one, one].join('; '), 60_000);
  return [...r.stdout.matchAll(/TCP=(".*")/g)].map((m) => JSON.parse(m[1]!) === 'ping-tcp\n');
}
