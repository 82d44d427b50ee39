import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isCode, type ErrorCode } from '../../src/errors.js';
import { loadConfig } from '../../src/ztunnel/config.js';

const dir = mkdtempSync(join(tmpdir(), 'ambit-ztcfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'root-cert.pem'),
  '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
);

const base = {
  POD_NAME: 'ztunnel-worker',
  POD_NAMESPACE: 'istio-system',
  NODE_NAME: 'worker',
  INSTANCE_IP: '10.244.1.3',
  AMBIT_VOLUME_ISTIO_CA_ROOT_CERT: dir,
  AMBIT_KUBE_TOKEN_FILE: '/tmp/token',
};

void test('the pod environment gives the production defaults', () => {
  const c = loadConfig(base);
  assert.equal(c.xdsAddress, 'istiod.istio-system.svc:15012');
  assert.equal(c.caAddress, 'istiod.istio-system.svc:15012');
  assert.equal(c.trustDomain, 'cluster.local');
  assert.equal(c.tokenFile, '/tmp/token');
  assert.deepEqual(
    [c.ports.outbound, c.ports.inboundPlaintext, c.ports.inbound, c.ports.dns],
    [15001, 15006, 15008, 15053],
  );
  assert.deepEqual([c.ports.admin, c.ports.metrics, c.ports.readiness], [15000, 15020, 15021]);
  assert.equal(c.listenHost, '127.0.0.1');
  assert.equal(c.dnsHost, '0.0.0.0'); // the node agent DNATs port 53 to <ztunnel pod IP>:15053
  assert.equal(c.transparent, true);
  assert.equal(c.spoof, 'transparent');
  assert.equal(c.dnsCapture, false);
  assert.equal(c.drainDeadlineMs, 5000);
  assert.match(c.rootCa, /BEGIN CERTIFICATE/);
});

void test('overrides: addresses, DNS capture, drain deadline from the grace period', () => {
  const c = loadConfig({
    ...base,
    XDS_ADDRESS: 'https://10.96.0.20:15012',
    CA_ADDRESS: '10.96.0.21:15012',
    DNS_CAPTURE: 'true',
    TERMINATION_GRACE_PERIOD_SECONDS: '10',
  });
  assert.equal(c.xdsAddress, '10.96.0.20:15012');
  assert.equal(c.caAddress, '10.96.0.21:15012');
  assert.equal(c.dnsCapture, true);
  assert.equal(c.drainDeadlineMs, 9000);
  assert.equal(
    loadConfig({ ...base, TERMINATION_GRACE_PERIOD_SECONDS: '30' }).drainDeadlineMs,
    25000,
  );
  assert.equal(
    loadConfig({ ...base, CONNECTION_TERMINATION_DEADLINE: '750ms' }).drainDeadlineMs,
    750,
  );
});

void test('bad input stops with a stable code naming the value', () => {
  const cases: [Record<string, string | undefined>, ErrorCode][] = [
    [{ ...base, NODE_NAME: undefined }, 'ZTUNNEL_CONFIG_MISSING'],
    [{ ...base, INSTANCE_IP: 'ten' }, 'ZTUNNEL_CONFIG_BAD_IP'],
    [{ ...base, OUTBOUND_PORT: '99999' }, 'ZTUNNEL_CONFIG_BAD_PORT'],
    [{ ...base, DNS_CAPTURE: 'maybe' }, 'ZTUNNEL_CONFIG_BAD_BOOL'],
    [{ ...base, CONNECTION_TERMINATION_DEADLINE: 'soon' }, 'ZTUNNEL_CONFIG_BAD_DURATION'],
    [{ ...base, AMBIT_VOLUME_ISTIO_CA_ROOT_CERT: undefined }, 'ZTUNNEL_CONFIG_MISSING'],
    [{ ...base, AMBIT_VOLUME_ISTIO_CA_ROOT_CERT: '/nonexistent' }, 'ZTUNNEL_CONFIG_ROOT_CERT'],
  ];
  for (const [env, code] of cases) {
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => isCode(e, code),
      code,
    );
  }
});
