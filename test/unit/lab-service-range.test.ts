/**
 * The cluster file's serviceCIDR reaches the API server: the `kubernetes` Service, ClusterIP
 * validation and allocation follow it (a lab with `serviceCIDR: 10.100.0.0/16` used to refuse
 * its own kube-dns address as "not in 10.96.0.0/16").
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AmbitError } from '../../src/errors.js';
import { kinds } from '../../src/lab/apiserver/catalog.js';
import { Persistence } from '../../src/lab/apiserver/persist.js';
import { Registry } from '../../src/lab/apiserver/registry.js';
import { Store } from '../../src/lab/apiserver/store.js';
import { ServiceRange } from '../../src/lab/cluster/service-range.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const svcKind = kinds.find((k) => k.kind === 'Service')!;

function registry(cidr: string): Registry {
  const dir = mkdtempSync(path.join(tmpdir(), 'ambit-service-range-'));
  dirs.push(dir);
  const reg = new Registry(new Store(new Persistence(dir)), undefined, new ServiceRange(cidr));
  reg.bootstrap({ advertise: { ip: '192.168.77.10', port: 6443 } });
  return reg;
}

const clusterIP = (o: object): unknown => (o as { spec?: { clusterIP?: unknown } }).spec?.clusterIP;
const svc = (name: string, clusterIP?: string) => ({
  metadata: { name },
  spec: { ...(clusterIP ? { clusterIP } : {}), ports: [{ port: 80 }] },
});

void describe('ServiceRange', () => {
  void it('knows its host addresses and the kubernetes Service address', () => {
    const r = new ServiceRange('10.100.0.0/16');
    assert.equal(r.kubernetesIP, '10.100.0.1');
    assert.equal(r.contains('10.100.0.10'), true);
    assert.equal(r.contains('10.100.255.254'), true);
    assert.equal(r.contains('10.100.0.0'), false);
    assert.equal(r.contains('10.100.255.255'), false);
    assert.equal(r.contains('10.96.0.10'), false);
    assert.equal(r.contains('not-an-ip'), false);
  });

  void it('allocates above the low band first, then inside it, then none', () => {
    const r = new ServiceRange('10.100.0.0/16');
    assert.equal(r.allocate(new Set()), '10.100.1.1');
    const small = new ServiceRange('10.50.0.0/29'); // hosts .1–.6, .1 is kubernetes
    const taken = new Set<string>();
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const ip = small.allocate(taken);
      if (!ip) break;
      taken.add(ip);
      got.push(ip);
    }
    assert.deepEqual(got.sort(), ['10.50.0.2', '10.50.0.3', '10.50.0.4', '10.50.0.5', '10.50.0.6']);
    assert.equal(small.allocate(taken), undefined);
  });

  void it('refuses a CIDR it cannot use, naming it', () => {
    for (const bad of ['10.100.0.1/16', '10.100.0.0/31', 'banana']) {
      assert.throws(
        () => new ServiceRange(bad),
        (e: unknown) =>
          e instanceof AmbitError && e.code === 'LAB_BAD_CLUSTER' && e.message.includes(bad),
      );
    }
  });
});

void describe('the API server on a custom serviceCIDR', () => {
  void it('puts the kubernetes Service at the first address', () => {
    const reg = registry('10.100.0.0/16');
    assert.equal(clusterIP(reg.get(svcKind, 'default', 'kubernetes')), '10.100.0.1');
  });

  void it('accepts a pinned address in the range, allocates from it, refuses one outside', () => {
    const reg = registry('10.100.0.0/16');
    const dns = reg.create(svcKind, 'kube-system', svc('kube-dns', '10.100.0.10'));
    assert.equal(clusterIP(dns), '10.100.0.10');
    assert.equal(clusterIP(reg.create(svcKind, 'default', svc('web'))), '10.100.1.1');
    assert.throws(
      () => reg.create(svcKind, 'default', svc('old', '10.96.0.105')),
      /10\.96\.0\.105.*The range of valid IPs is 10\.100\.0\.0\/16/s,
    );
  });
});
