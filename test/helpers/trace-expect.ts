/** Checks that a traced path holds seed 000's hops, in order; shared by fixture and lab tests. */
import assert from 'node:assert/strict';
import type { ConnectionPath, Hop, PacketKind, TracePath } from '../../src/trace/model.js';

export interface SeedsNames {
  sleep: string;
  nodeA: string;
  zA: string;
  nodeB: string;
  zB: string;
  httpbin: string;
  vethSleep?: string;
  vethHttpbin?: string;
  zvethA?: string;
  zvethB?: string;
}

function conn(p: TracePath, part: number): ConnectionPath {
  const c = p.connections.find((x) => x.part === part);
  assert.ok(
    c,
    `part ${part} missing; connections: ${p.connections.map((x) => x.title).join(', ')}`,
  );
  return c;
}

function hops(c: ConnectionPath, kind: PacketKind): Hop[] {
  const pk = c.packets.find((x) => x.kind === kind);
  assert.ok(pk, `${c.title}: no ${kind} packet`);
  return pk.hops;
}

/** The hops' names must contain `want` in order (other hops, e.g. the underlay, may sit between). */
function inOrder(hs: Hop[], want: string[], what: string): Hop[] {
  const out: Hop[] = [];
  let i = 0;
  for (const w of want) {
    while (i < hs.length && hs[i]!.name !== w) i++;
    assert.ok(
      i < hs.length,
      `${what}: hop ${w} missing or out of order in ${hs.map((h) => h.name).join(' → ')}`,
    );
    out.push(hs[i++]!);
  }
  return out;
}

function markSet(h: Hop, mark: number, what: string): void {
  assert.ok(
    h.rules.some((r) => r.markKnown && (r.markAfter & mark) === mark),
    `${what}: no rule set mark 0x${mark.toString(16)} in [${h.name}]: ${h.rules.map((r) => r.rule).join(' | ')}`,
  );
}

export function assertSeedsPath(p: TracePath, n: SeedsNames): void {
  assert.ok(
    p.namespaces.some((x) => x.events > 0),
    'the trace is empty',
  );
  // Part 1, first packet: sleep veth → mark 0x100 → rule 101/table 101 → istioout → pistioout → TPROXY 15001.
  const p1 = conn(p, 1);
  const [, a1, z1] = inOrder(hops(p1, 'first'), [n.sleep, n.nodeA, n.zA], 'part 1 SYN');
  if (n.vethSleep) assert.equal(a1!.inDev, n.vethSleep);
  markSet(a1!, 0x100, 'part 1 SYN');
  assert.match(a1!.ipRule ?? '', /^101:/);
  assert.equal(a1!.routeTable, '101');
  assert.equal(a1!.outDev, 'istioout');
  assert.equal(z1!.inDev, 'pistioout');
  assert.equal(z1!.tproxy?.port, 15001);
  // Part 1, reply: marked 0x210 on the ztunnel veth, saved to the connection.
  const [, a1r] = inOrder(hops(p1, 'first-reply'), [n.zA, n.nodeA, n.sleep], 'part 1 SYN-ACK');
  markSet(a1r!, 0x210, 'part 1 SYN-ACK');
  assert.ok(
    a1r!.rules.some((r) => /CONNMARK --save-mark/.test(r.rule)),
    'part 1: connmark not saved',
  );
  // Part 1, later packet: connmark 0x210 → mark 0x040 → table 102 → ztunnel veth → 0x4d3.
  const [, a1l, z1l] = inOrder(hops(p1, 'later'), [n.sleep, n.nodeA, n.zA], 'part 1 later');
  markSet(a1l!, 0x40, 'part 1 later');
  assert.ok(a1l!.rules.some((r) => /connmark --mark 0x210\/0x210/.test(r.rule)));
  assert.match(a1l!.ipRule ?? '', /^102:/);
  if (n.zvethA) assert.equal(a1l!.outDev, n.zvethA);
  assert.equal(z1l!.inDev, 'eth0');
  markSet(z1l!, 0x4d3, 'part 1 later');
  assert.match(z1l!.ipRule ?? '', /^20003:/);
  // Part 2: ztunnel A eth0 → node A → node B rule 103/table 100 → istioin → pistioin → TPROXY 15008.
  const p2 = conn(p, 2);
  const [zA2, , b2, zB2] = inOrder(hops(p2, 'first'), [n.zA, n.nodeA, n.nodeB, n.zB], 'part 2 SYN');
  assert.equal(zA2!.outDev, 'eth0');
  assert.match(b2!.ipRule ?? '', /^103:/);
  assert.equal(b2!.routeTable, '100');
  assert.equal(b2!.outDev, 'istioin');
  assert.equal(zB2!.inDev, 'pistioin');
  assert.equal(zB2!.tproxy?.port, 15008);
  // Part 3: ztunnel B → mark 0x210 → main table → httpbin veth.
  const p3 = conn(p, 3);
  const [, b3, h3] = inOrder(hops(p3, 'first'), [n.zB, n.nodeB, n.httpbin], 'part 3 SYN');
  markSet(b3!, 0x210, 'part 3 SYN');
  assert.match(b3!.ipRule ?? '', /^100:.*goto 32766/);
  assert.equal(b3!.routeTable, 'main');
  if (n.vethHttpbin) assert.equal(b3!.outDev, n.vethHttpbin);
  assert.equal(h3!.inDev, 'eth0');
}
