/**
 * The CA over gRPC + TLS against an in-process API server (TokenReview, pods): a ztunnel gets
 * certificates only for identities of pods on its node; `openssl verify` accepts them; exactly
 * one SPIFFE URI SAN; malformed SANs and untrusted callers are refused; a restart with the same
 * state directory keeps the root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type ControlPlane } from '../../src/controlplane/server.js';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { createLogger } from '../../src/log.js';
import { createCsr, requestCertificate } from '../../src/xds/ca-client.js';
import { bearerMetadata, openChannel } from '../../src/xds/transport.js';
import { silentFirstFront } from '../helpers/net.js';
import {
  CA_PATH,
  decodeCertResponse,
  encodeCertRequest,
  type CertResponse,
} from '../../src/xds/wire.js';
import {
  podToken,
  seedMesh,
  startTestCluster,
  until,
  type TestCluster,
} from '../helpers/xds-cluster.js';

let cluster: TestCluster;
let cp: ControlPlane;
let ztW2Token: string;
let sleepToken: string;
const logLines: string[] = [];
/** Process warnings (DEP0123: an IP as the TLS ServerName) seen while the tests ran. */
const warnings: string[] = [];
process.on('warning', (w: Error & { code?: string }) => warnings.push(w.code ?? w.name));
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const HTTPBIN = 'spiffe://cluster.local/ns/default/sa/httpbin';

async function start(): Promise<ControlPlane> {
  return startControlPlane({
    kube: cluster.kube,
    log: createLogger('cp', (l) => logLines.push(l)),
    stateDir: join(cluster.dir, 'controlplane'),
    host: '127.0.0.1',
    port: 0,
    debugHost: '127.0.0.1',
    debugPort: 0,
    trustedAccounts: ['istio-system/ztunnel'],
  });
}

const ask = (identity: string, tokenFile: string, impersonate = true) =>
  requestCertificate({
    address: `127.0.0.1:${cp.grpcPort}`,
    rootCa: cp.ca.rootPem,
    tokenFile,
    identity,
    impersonate,
  });

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(async () => {
  cluster = await startTestCluster();
  const mesh = await seedMesh(cluster.kube);
  ztW2Token = await podToken(cluster.kube, mesh.ztunnelWorker2, cluster.dir);
  sleepToken = await podToken(cluster.kube, mesh.sleep, cluster.dir);
  cp = await start();
});

after(async () => {
  await cp?.close();
  await cluster?.close();
});

void test('a CSR for a pod on the caller node is signed and verifies with openssl', async () => {
  const cert = await ask(SLEEP, ztW2Token);
  assert.equal(cert.certChainPem.length, 2, 'leaf and root');
  const root = join(cluster.dir, 'root.pem');
  const leaf = join(cluster.dir, 'sleep.pem');
  writeFileSync(root, cp.ca.rootPem);
  writeFileSync(leaf, cert.certChainPem[0]!);
  assert.match(openssl(['verify', '-CAfile', root, leaf]), /sleep\.pem: OK/);
  const text = openssl(['x509', '-in', leaf, '-noout', '-text']);
  const san = /X509v3 Subject Alternative Name: critical\s*\n\s*(.+)\n/.exec(text)?.[1]?.trim();
  assert.equal(san, `URI:${SLEEP}`, 'exactly one SAN: the SPIFFE URI');
  assert.match(text, /ASN1 OID: prime256v1/);
  assert.match(text, /Digital Signature, Key Encipherment/);
  assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  const hours = (cert.notAfter.getTime() - cert.notBefore.getTime()) / 3600_000;
  assert.ok(hours > 23.9 && hours < 24.1, `24 h lifetime (got ${hours})`);
  // The key matches the certificate.
  const keyFile = join(cluster.dir, 'sleep.key');
  writeFileSync(keyFile, cert.keyPem);
  assert.equal(
    openssl(['pkey', '-in', keyFile, '-pubout']),
    openssl(['x509', '-in', leaf, '-noout', '-pubkey']),
  );
});

void test('an identity of a pod on another node is refused', async () => {
  await assert.rejects(ask(HTTPBIN, ztW2Token), (err: Error) => {
    assert.match(
      err.message,
      /no pod with identity spiffe:\/\/cluster\.local\/ns\/default\/sa\/httpbin is scheduled on node worker2/,
    );
    assert.match(err.message, /PERMISSION_DENIED/);
    return true;
  });
});

void test('a caller that is not a trusted ztunnel may not impersonate, but gets its own identity', async () => {
  await assert.rejects(ask(SLEEP, sleepToken), /may impersonate[\s\S]*PERMISSION_DENIED/);
  const own = await ask(SLEEP, sleepToken, false);
  assert.equal(own.identity, SLEEP);
  await assert.rejects(ask(HTTPBIN, sleepToken, false), /may only request its own identity/);
});

function rawCall(
  csr: string,
  impersonated: string,
  tokenFile?: string,
  validityDuration = 3600,
): Promise<CertResponse> {
  const client = openChannel({ address: `127.0.0.1:${cp.grpcPort}`, rootCa: cp.ca.rootPem });
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      CA_PATH,
      encodeCertRequest,
      decodeCertResponse,
      { csr, validityDuration, metadata: { ImpersonatedIdentity: impersonated } },
      bearerMetadata(tokenFile),
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res!);
      },
    );
  });
}

void test('malformed SANs, CSRs and missing tokens are refused with clear errors', async () => {
  const bad = await createCsr('spiffe://cluster.local/ns/default/sleep');
  await assert.rejects(
    rawCall(bad.csrPem, 'spiffe://cluster.local/ns/default/sleep', ztW2Token),
    (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, /malformed SPIFFE identity/);
      return true;
    },
  );
  const other = await createCsr(HTTPBIN);
  await assert.rejects(rawCall(other.csrPem, SLEEP, ztW2Token), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /URI SANs .*httpbin.* differ from .*sleep/);
    return true;
  });
  await assert.rejects(
    rawCall(
      '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      SLEEP,
      ztW2Token,
    ),
    (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      return true;
    },
  );
  const good = await createCsr(SLEEP);
  await assert.rejects(rawCall(good.csrPem, SLEEP), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.UNAUTHENTICATED);
    return true;
  });
  assert.ok(logLines.some((l) => l.includes('certificate request refused')));
  // Refusals name the caller (here ztunnel on worker2, refused for its bad SAN).
  assert.ok(
    logLines.some(
      (l) =>
        l.includes('certificate request refused') &&
        l.includes('caller=system:serviceaccount:istio-system:ztunnel'),
    ),
    logLines.join('\n'),
  );
});

void test('TTL as istiod: above the maximum is an error, zero or negative means the default', async () => {
  const csr = (await createCsr(SLEEP)).csrPem;
  await assert.rejects(
    rawCall(csr, SLEEP, ztW2Token, 10 * 365 * 24 * 3600),
    (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, /requested TTL \d+s is greater than the max allowed TTL \d+s/);
      return true;
    },
  );
  for (const ttl of [0, -5]) {
    const res = await rawCall(csr, SLEEP, ztW2Token, ttl);
    const leaf = new X509Certificate(res.certChain[0]!);
    const hours = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 3_600_000;
    assert.ok(hours > 23 && hours < 25, `TTL ${ttl} gave ${hours} h`);
  }
});

void test('the root is published as ConfigMap istio-ca-root-cert in every namespace', async () => {
  for (const ns of ['default', 'istio-system', 'kube-system']) {
    const cm = await until(`configmap in ${ns}`, () =>
      cluster.kube.tryGet<KubeObject & { data?: Record<string, string> }>(
        resources.configmaps,
        'istio-ca-root-cert',
        ns,
      ),
    );
    assert.equal(cm.data?.['root-cert.pem'], cp.ca.rootPem);
  }
  await cluster.kube.create(resources.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'late' },
  });
  await until('configmap in a new namespace', () =>
    cluster.kube.tryGet(resources.configmaps, 'istio-ca-root-cert', 'late'),
  );
});

void test('after a restart with the same state dir, old certificates verify and new ones chain to the same root', async () => {
  const before = await ask(SLEEP, ztW2Token);
  const rootBefore = cp.ca.rootPem;
  await cp.close();
  cp = await start();
  assert.equal(cp.ca.rootPem, rootBefore, 'same root');
  const afterCert = await ask(SLEEP, ztW2Token);
  const root = join(cluster.dir, 'root2.pem');
  writeFileSync(root, cp.ca.rootPem);
  for (const [n, c] of [
    ['old', before],
    ['new', afterCert],
  ] as const) {
    const f = join(cluster.dir, `${n}.pem`);
    writeFileSync(f, c.certChainPem[0]!);
    assert.match(openssl(['verify', '-CAfile', root, f]), /: OK/);
  }
});

void test('dialled by IP: no IP as TLS ServerName (DEP0123), and the server is still verified against that IP', async () => {
  // Every test above dialled 127.0.0.1:<port>; grpc-js would have put the IP into SNI.
  assert.ok(!warnings.includes('DEP0123'), `warnings: ${warnings.join(', ')}`);
  // A gRPC-shaped server answering UNIMPLEMENTED, with a serving certificate for `names`.
  const call = async (names: string[]) => {
    const serving = await cp.ca.issueServing(names);
    const server = http2.createSecureServer({ key: serving.keyPem, cert: serving.certPem });
    server.on('stream', (s) => {
      s.on('error', () => undefined);
      s.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' },
        {
          endStream: true,
        },
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = openChannel({ address: `127.0.0.1:${port}`, rootCa: cp.ca.rootPem });
    try {
      return await new Promise<grpc.ServiceError>((resolve) => {
        client.makeUnaryRequest(
          '/x.Y/Z',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (err) => resolve(err!),
        );
      });
    } finally {
      client.close();
      server.close();
    }
  };
  assert.equal((await call(['127.0.0.1'])).code, grpc.status.UNIMPLEMENTED);
  const wrong = await call(['127.0.0.9', 'istiod.istio-system.svc']);
  assert.equal(wrong.code, grpc.status.UNAVAILABLE, wrong.message);
  assert.ok(!warnings.includes('DEP0123'), `warnings: ${warnings.join(', ')}`);
});

void test('a request whose dial never connected is not stuck with it: the next one dials again', async () => {
  const front = await silentFirstFront(cp.grpcPort);
  const opts = {
    address: `127.0.0.1:${front.port}`,
    rootCa: cp.ca.rootPem,
    tokenFile: ztW2Token,
    identity: SLEEP,
  };
  try {
    await assert.rejects(requestCertificate({ ...opts, timeoutMs: 500 }), /DEADLINE|deadline/i);
    const cert = await requestCertificate({ ...opts, timeoutMs: 5000 });
    assert.equal(cert.identity, SLEEP);
    assert.equal(front.held(), 1);
  } finally {
    await front.close();
  }
});
