/**
 * The Gateway API mesh (GAMMA) conformance tests, HTTP and gRPC (docs/istio/gamma-conformance.md
 * §4), re-created against one lab: the conformance namespaces enrolled in ambient, a namespace
 * waypoint `namespace` in gateway-conformance-mesh (as Istio's ambient run sets it up), the
 * echo-advanced image served by the lab's echo app, and the machine's curl as the client inside
 * the echo-v1 pod (gRPC with curl's HTTP/2 prior knowledge). Per test: apply its routes, run its
 * cases under the harness's rule (3 consecutive passes), delete the routes. Weighted tests count
 * 500-request batches (±0.05, up to 10 batches); the gRPC batch rides one HTTP/2 connection, so
 * it holds only if the waypoint balances per request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  runCases,
  weightBatch,
  weightOk,
  type Client,
  type MeshCase,
} from '../helpers/gamma-client.js';
import { gammaLab, gammaLabUp } from '../helpers/gamma-lab.js';
import { MESH_NS } from '../helpers/gamma-manifests.js';
import {
  grpcSuites,
  grpcWeightRoute,
  httpSuites,
  httpWeightRoute,
  type Suite,
  type SuiteContext,
} from '../helpers/gamma-suites.js';
import { skipUnlessRoot } from '../helpers/root.js';

const lab = gammaLab('gc');
const ctx: SuiteContext = { v2IP: '' };
const clients: Partial<Record<'v1' | 'v2', Client>> = {};
let dir = '';

async function withYaml(yaml: string | undefined, body: () => Promise<void>): Promise<void> {
  if (yaml) {
    const a = await lab.kubectl(['apply', '-f', '-'], yaml);
    assert.equal(a.code, 0, a.stderr);
  }
  try {
    await body();
  } finally {
    if (yaml) await lab.kubectl(['delete', '--ignore-not-found', '-f', '-'], yaml);
  }
}

async function runSuite(s: Suite): Promise<void> {
  await withYaml(s.yaml, async () => {
    const failures: Record<string, string[]> = {};
    for (const [who, cases] of Object.entries(s.cases) as ['v1' | 'v2', MeshCase[]][]) {
      Object.assign(failures, await runCases(clients[who]!, cases));
    }
    assert.deepEqual(failures, {}, `${s.name}: failing cases`);
  });
}

async function weighted(yaml: string, grpc: boolean): Promise<void> {
  await withYaml(yaml, async () => {
    const first: MeshCase = grpc ? { name: 'first', grpc: true } : { name: 'first', path: '/' };
    assert.deepEqual(await runCases(clients.v1!, [first]), {});
    const tries: string[] = [];
    for (let i = 0; i < 10; i++) {
      const counts = await weightBatch(clients.v1!, grpc);
      const bad = weightOk(counts, { 'echo-v1': 70, 'echo-v2': 30 });
      if (!bad) return;
      tries.push(`${JSON.stringify(counts)}: ${bad}`);
    }
    assert.fail(`no batch within tolerance:\n${tries.join('\n')}`);
  });
}

describe('GAMMA conformance through a namespace waypoint', { skip: skipUnlessRoot }, () => {
  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ambit-gm-'));
      await gammaLabUp(lab);
      const [p1] = await lab.pods(MESH_NS, 'app=echo,version=v1');
      const [p2] = await lab.pods(MESH_NS, 'app=echo,version=v2');
      assert.ok(p1 && p2, 'echo pods');
      clients.v1 = { lab, ns: MESH_NS, pod: p1, dir };
      clients.v2 = { lab, ns: MESH_NS, pod: p2, dir };
      ctx.v2IP = await lab.podIP(MESH_NS, p2);
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

  for (const s of httpSuites(ctx)) {
    test(s.name, { skip: s.skip, timeout: 180_000 }, () =>
      runSuite(httpSuites(ctx).find((x) => x.name === s.name)!),
    );
  }
  test('MeshHTTPRouteWeight', { timeout: 300_000 }, () => weighted(httpWeightRoute, false));
  for (const s of grpcSuites()) test(s.name, { timeout: 180_000 }, () => runSuite(s));
  test('MeshGRPCRouteWeight', { timeout: 300_000 }, () => weighted(grpcWeightRoute, true));
});
