import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AmbitError } from '../../src/errors.js';
import { defaultCluster, parseCluster, validateCluster } from '../../src/lab/cluster/cluster.js';

function fails(text: string, ...fragments: string[]): void {
  assert.throws(
    () => parseCluster(text, 'c.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof AmbitError, `not an AmbitError: ${String(err)}`);
      assert.equal(err.code, 'LAB_BAD_CLUSTER');
      for (const f of fragments) assert.ok(err.message.includes(f), `${err.message} lacks ${f}`);
      return true;
    },
  );
}

const base = (nodes: string) => `name: lab1
underlay: {cidr: 172.18.0.0/16, gateway: 172.18.0.1}
serviceCIDR: 10.96.0.0/16
dnsIP: 10.96.0.10
nodes:
${nodes}`;
const cp = '  - {name: cp, ip: 172.18.0.2, podCIDR: 10.244.0.0/24, role: control-plane}\n';

void describe('cluster file', () => {
  void it('defaults to the seeds cluster', () => {
    const c = validateCluster({});
    assert.deepEqual(c, defaultCluster());
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.ip, n.podCIDR]),
      [
        ['control-plane', '172.18.0.2', '10.244.0.0/24'],
        ['worker', '172.18.0.4', '10.244.1.0/24'],
        ['worker2', '172.18.0.3', '10.244.2.0/24'],
      ],
    );
  });

  void it('accepts a valid custom cluster', () => {
    const c = parseCluster(base(cp + '  - {name: w1, ip: 172.18.0.9, podCIDR: 10.244.5.0/24}\n'));
    assert.equal(c.name, 'lab1');
    assert.equal(c.nodes[1]!.role, 'worker');
  });

  void it('rejects a bad CIDR, naming field and value', () => {
    fails(
      base(cp + '  - {name: w1, ip: 172.18.0.9, podCIDR: 10.244.5.1/24}\n'),
      'nodes[1].podCIDR',
      '10.244.5.1/24',
    );
    fails(base(cp).replace('172.18.0.0/16', '172.18.0.0/33'), 'underlay.cidr', '172.18.0.0/33');
    fails(base(cp).replace('10.96.0.0/16', 'ten'), 'serviceCIDR', '"ten"');
  });

  void it('rejects duplicate IPs and the gateway as a node IP', () => {
    fails(
      base(cp + '  - {name: w1, ip: 172.18.0.2, podCIDR: 10.244.5.0/24}\n'),
      'nodes[1].ip',
      '172.18.0.2',
      'nodes[0].ip',
    );
    fails(
      base(cp + '  - {name: w1, ip: 172.18.0.1, podCIDR: 10.244.5.0/24}\n'),
      'nodes[1].ip',
      'underlay.gateway',
    );
  });

  void it('rejects overlapping pod CIDRs', () => {
    fails(
      base(cp + '  - {name: w1, ip: 172.18.0.9, podCIDR: 10.244.0.0/16}\n'),
      'nodes[1].podCIDR',
      'overlaps nodes[0].podCIDR',
    );
    fails(
      base(cp + '  - {name: w1, ip: 172.18.0.9, podCIDR: 10.96.4.0/24}\n'),
      'overlaps serviceCIDR',
    );
  });

  void it('rejects a node IP outside the underlay', () => {
    fails(
      base(cp + '  - {name: w1, ip: 172.19.0.9, podCIDR: 10.244.5.0/24}\n'),
      'nodes[1].ip',
      '172.19.0.9',
      'underlay',
    );
    fails(
      base(cp + '  - {name: w1, ip: 172.18.255.255, podCIDR: 10.244.5.0/24}\n'),
      '172.18.255.255',
    );
  });

  void it('rejects names too long for network namespaces or with bad characters', () => {
    fails(base(cp).replace('name: lab1', 'name: waytoolongname'), 'name', 'waytoolongname');
    fails(base(cp).replace('name: lab1', 'name: a-b'), '"a-b"');
    fails(
      base(cp + `  - {name: ${'w'.repeat(40)}, ip: 172.18.0.9, podCIDR: 10.244.5.0/24}\n`),
      'nodes[1].name',
    );
    fails(base(cp + '  - {name: Worker_1, ip: 172.18.0.9, podCIDR: 10.244.5.0/24}\n'), 'Worker_1');
  });

  void it('rejects duplicate names, bad roles, no or two control planes, unknown fields', () => {
    fails(
      base(cp + '  - {name: cp, ip: 172.18.0.9, podCIDR: 10.244.5.0/24}\n'),
      'duplicate node name',
    );
    fails(
      base(cp + '  - {name: w, ip: 172.18.0.9, podCIDR: 10.244.5.0/24, role: master}\n'),
      'nodes[1].role',
      'master',
    );
    fails(base('  - {name: w, ip: 172.18.0.9, podCIDR: 10.244.5.0/24}\n'), 'exactly one node');
    fails(
      base(cp + '  - {name: w, ip: 172.18.0.9, podCIDR: 10.244.5.0/24, role: control-plane}\n'),
      'exactly one',
    );
    fails(
      base(cp + '  - {name: w, ip: 172.18.0.9, podCidr: 10.244.5.0/24}\n'),
      'nodes[1].podCidr',
      'unknown field',
    );
    fails(base(cp).replace('dnsIP: 10.96.0.10', 'dnsIP: 10.97.0.10'), 'dnsIP', 'serviceCIDR');
    fails('nodes: [', 'not valid YAML');
    fails('nodes: []', 'nodes', 'non-empty');
  });
});
