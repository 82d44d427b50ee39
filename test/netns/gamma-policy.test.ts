/**
 * An L7 AuthorizationPolicy matrix end to end in one lab (test/helpers/gamma-policy-cases.ts:
 * 60+ cases): real curl (HTTP/1.1 and gRPC with HTTP/2 prior knowledge) and TCP probes from three
 * client pods of different identities, through ztunnel → namespace waypoint → ztunnel → echo.
 * Policies are applied with kubectl (targetRefs Gateway or Service); each phase's cases must each
 * pass 3 times in a row (policy delivery is asynchronous), then the phase's policies are deleted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCases, type Client } from '../helpers/gamma-client.js';
import { gammaLab, gammaLabUp } from '../helpers/gamma-lab.js';
import { CONSUMER_NS, MESH_NS } from '../helpers/gamma-manifests.js';
import { phases, type PolicyPhase, type Who } from '../helpers/gamma-policy-cases.js';
import { tcpEchoes } from '../helpers/gamma-tcp.js';
import { skipUnlessRoot } from '../helpers/root.js';

const lab = gammaLab('gp');
const clients: Partial<Record<Who, Client>> = {};
let dir = '';

const gmClient = `apiVersion: v1
kind: ServiceAccount
metadata: {name: gm-client, namespace: ${MESH_NS}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gm-client, namespace: ${MESH_NS}}
spec:
  selector: {matchLabels: {app: gm-client}}
  template:
    metadata: {labels: {app: gm-client}}
    spec:
      serviceAccountName: gm-client
      containers: [{name: sleep, image: ambit/sleep}]
`;

/** Every TCP probe of the phase gives its expected result 3 times in a row, within 60 s. */
async function tcpPhase(p: PolicyPhase): Promise<Record<string, string>> {
  const deadline = Date.now() + 60_000;
  let bad: Record<string, string> = {};
  do {
    bad = {};
    for (const [who, want] of Object.entries(p.tcp ?? {}) as [Who, boolean][]) {
      const c = clients[who]!;
      const got = await tcpEchoes(lab, c.ns, c.pod);
      if (got.length !== 3 || got.some((g) => g !== want))
        bad[`TCP from ${who}`] = `echoed ${JSON.stringify(got)}, want ${want}`;
    }
    if (Object.keys(bad).length === 0) return bad;
    await sleep(1000);
  } while (Date.now() < deadline);
  return bad;
}

describe('L7 policy matrix through a namespace waypoint', { skip: skipUnlessRoot }, () => {
  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ambit-gm-'));
      await gammaLabUp(lab, gmClient);
      const one = async (ns: string, sel: string) => {
        const [pod] = await lab.pods(ns, sel);
        assert.ok(pod, `a pod ${ns} ${sel}`);
        return { lab, ns, pod, dir };
      };
      clients.v1 = await one(MESH_NS, 'app=echo,version=v1');
      clients.client = await one(MESH_NS, 'app=gm-client');
      clients.consumer = await one(CONSUMER_NS, 'app=echo');
    },
    { timeout: 600_000 },
  );
  after(
    async () => {
      await lab.down();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 300_000 },
  );

  for (const p of phases) {
    test(p.name, { timeout: 240_000 }, async () => {
      if (p.yaml) {
        const a = await lab.kubectl(['apply', '-f', '-'], p.yaml);
        assert.equal(a.code, 0, a.stderr);
      }
      try {
        const failures: Record<string, unknown> = {};
        for (const who of Object.keys(p.cases) as Who[])
          Object.assign(failures, await runCases(clients[who]!, p.cases[who]!));
        Object.assign(failures, await tcpPhase(p));
        assert.deepEqual(failures, {}, `${p.name}: failing cases`);
      } finally {
        if (p.yaml) await lab.kubectl(['delete', '--ignore-not-found', '-f', '-'], p.yaml);
      }
    });
  }
});
