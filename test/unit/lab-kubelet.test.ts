import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AmbitError } from '../../src/errors.js';
import { containerEnv } from '../../src/lab/kubelet/env.js';
import { sandboxArgv, sandboxScript } from '../../src/sys/sandbox.js';
import { Ipam } from '../../src/lab/kubelet/ipam.js';
import { containerArgv, findExecutable } from '../../src/lab/kubelet/runner.js';
import { computeStatus, podPhase, type PodView } from '../../src/lab/kubelet/status.js';
import { volumeEnvName } from '../../src/lab/kubelet/volumes.js';
import { hostVethName, resolvConf } from '../../src/lab/net/pod-net.js';
import { netnsNames } from '../../src/lab/cluster/cluster.js';

void describe('kubelet IPAM', () => {
  void it('allocates the lowest free address from .2, leaving .3 to the ztunnel', () => {
    const ipam = new Ipam('10.244.1.0/24');
    assert.equal(ipam.gateway(), '10.244.1.1');
    assert.equal(ipam.allocate('a', {}), '10.244.1.2');
    assert.equal(ipam.allocate('b', {}), '10.244.1.4');
    assert.equal(ipam.allocate('a', {}), '10.244.1.2', 'same pod, same address');
    assert.equal(ipam.allocate('z', { pinned: '10.244.1.3' }), '10.244.1.3');
    assert.equal(ipam.allocate('c', { taken: new Set(['10.244.1.5']) }), '10.244.1.6');
    ipam.release('a');
    assert.equal(ipam.allocate('d', {}), '10.244.1.2');
  });

  void it('rejects pins outside the node CIDR or in use, with codes', () => {
    const ipam = new Ipam('10.244.1.0/24');
    ipam.allocate('a', { pinned: '10.244.1.7' });
    assert.throws(
      () => ipam.allocate('b', { pinned: '10.244.1.7' }),
      (e: unknown) => e instanceof AmbitError && e.code === 'IPAM_IN_USE',
    );
    assert.throws(
      () => ipam.allocate('b', { pinned: '10.244.2.7' }),
      (e: unknown) => e instanceof AmbitError && e.code === 'IPAM_BAD_PIN',
    );
    assert.throws(
      () => ipam.allocate('b', { pinned: '10.244.1.1' }),
      (e: unknown) => e instanceof AmbitError && e.code === 'IPAM_BAD_PIN',
    );
  });

  void it('keeps a previous address when free and runs out cleanly', () => {
    const ipam = new Ipam('10.244.1.0/28');
    assert.equal(ipam.allocate('p', { previous: '10.244.1.9' }), '10.244.1.9');
    for (let i = 0; i < 11; i++) ipam.allocate(`x${i}`, {});
    assert.throws(
      () => ipam.allocate('y', {}),
      (e: unknown) => e instanceof AmbitError && e.code === 'IPAM_EXHAUSTED',
    );
  });
});

void describe('container commands', () => {
  void it('runs built-in images through ambit and appends args', () => {
    const argv = containerArgv({ name: 'h', image: 'ambit/httpbin', args: ['--port', '80'] });
    assert.deepEqual(argv.slice(-5), ['lab', 'app', 'httpbin', '--port', '80']);
    assert.ok(argv[1]!.endsWith('/bin/ambit'));
    assert.deepEqual(containerArgv({ name: 'z', image: 'ambit/ztunnel:latest' }).slice(-1), [
      'ztunnel',
    ]);
    assert.deepEqual(
      containerArgv({ name: 'n', image: 'nginx', command: ['nginx'], args: ['-g', 'x'] }),
      ['nginx', '-g', 'x'],
    );
  });

  void it('refuses an unknown image without a command', () => {
    assert.throws(() => containerArgv({ name: 'c', image: 'busybox' }), /busybox.*no command/);
  });

  void it('finds executables on PATH like execvp', () => {
    assert.ok(findExecutable('sh'));
    assert.equal(findExecutable('no-such-program-ambit'), undefined);
    assert.equal(findExecutable('/etc/passwd'), undefined, 'not executable');
  });
});

void describe('pod status', () => {
  const view = (over: Partial<PodView>): PodView => ({
    initialized: true,
    podIP: '10.244.1.7',
    hostIP: '172.18.0.4',
    startTime: '2026-01-01T00:00:00Z',
    containers: [],
    ...over,
  });
  const running = { running: { startedAt: 'x' } };

  void it('is Running and Ready with all containers ready', () => {
    const s = computeStatus(
      view({
        containers: [
          {
            name: 'a',
            image: 'i',
            state: running,
            restartCount: 0,
            ready: true,
            started: true,
            final: false,
          },
        ],
      }),
    );
    assert.equal(s.phase, 'Running');
    assert.deepEqual(s.podIPs, [{ ip: '10.244.1.7' }]);
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
  });

  void it('is Pending before setup, showing why on the containers', () => {
    const s = computeStatus(
      view({
        initialized: false,
        podIP: undefined,
        pendingReason: { reason: 'FailedMount', message: 'configmap "x" not found' },
        containers: [
          {
            name: 'a',
            image: 'i',
            state: { waiting: { reason: 'ContainerCreating' } },
            restartCount: 0,
            ready: false,
            started: false,
            final: false,
          },
        ],
      }),
    );
    assert.equal(s.phase, 'Pending');
    assert.equal(s.podIP, undefined);
    assert.deepEqual(s.containerStatuses![0]!.state, {
      waiting: { reason: 'ContainerCreating', message: 'configmap "x" not found' },
    });
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
  });

  void it('ends Succeeded or Failed when no container restarts', () => {
    const done = (exitCode: number) => ({
      name: 'a',
      image: 'i',
      state: { terminated: { exitCode, reason: 'x', finishedAt: 'y' } },
      restartCount: 0,
      ready: false,
      started: true,
      final: true,
    });
    assert.equal(podPhase(view({ containers: [done(0)] })), 'Succeeded');
    assert.equal(podPhase(view({ containers: [done(0), done(2)] })), 'Failed');
    assert.equal(podPhase(view({ containers: [{ ...done(1), final: false }] })), 'Running');
  });
});

void describe('names and files', () => {
  void it('names namespaces, veths and volume env vars by convention', () => {
    assert.equal(
      netnsNames.pod('ambit', '1a2b3c4d-5e6f-7788-99aa-bbccddeeff00'),
      'ambit-p1a2b3c4d',
    );
    assert.equal(netnsNames.node('ambit', 'worker2'), 'ambit-worker2');
    assert.match(hostVethName('some-uid'), /^veth[0-9a-f]{8}$/);
    assert.equal(volumeEnvName('istio-ca-root-cert'), 'AMBIT_VOLUME_ISTIO_CA_ROOT_CERT');
    assert.equal(
      resolvConf('default', '10.96.0.10'),
      'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
    );
  });
});

void describe('container environment', () => {
  void it('carries the conventions, the volume dirs and the spec env with fieldRefs', () => {
    const env = containerEnv({
      pod: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'ns1', uid: 'u-1' },
        spec: { serviceAccountName: 'sa1', containers: [] },
      },
      container: {
        name: 'c',
        env: [
          { name: 'A', value: '1' },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'POD_NAME', value: 'overridden' },
        ] as { name: string; value?: string }[],
      },
      nodeName: 'worker',
      hostIP: '172.18.0.4',
      podIP: '10.244.1.9',
      lab: 'ambit',
      stateBase: '/var/lib/ambit',
      server: 'http://172.18.0.2:6443',
      kubernetesIP: '10.100.0.1',
      podDir: '/var/lib/ambit/labs/ambit/pods/ns1_p',
      hostname: 'p',
      extra: { AMBIT_VOLUME_CFG: '/x/volumes/cfg', AMBIT_KUBE_TOKEN_FILE: '/x/token' },
    });
    assert.equal(env.POD_NAMESPACE, 'ns1');
    assert.equal(env.KUBERNETES_SERVICE_HOST, '10.100.0.1');
    assert.equal(env.KUBERNETES_PORT_443_TCP, 'tcp://10.100.0.1:443');
    assert.equal(env.HOSTNAME, 'p');
    assert.equal(env.POD_UID, 'u-1');
    assert.equal(env.INSTANCE_IP, '10.244.1.9');
    assert.equal(env.HOST_IP, '172.18.0.4');
    assert.equal(env.SERVICE_ACCOUNT, 'sa1');
    assert.equal(env.AMBIT_KUBE_SERVER, 'http://172.18.0.2:6443');
    assert.equal(env.AMBIT_VOLUME_CFG, '/x/volumes/cfg');
    assert.equal(env.A, '1');
    assert.equal(env.IP, '10.244.1.9');
    assert.equal(env.POD_NAME, 'overridden', 'the spec env wins, as in Kubernetes');
    assert.ok(env.PATH);
  });
});

void describe('pod sandbox', () => {
  const base = {
    netns: 'lab-p1',
    hostname: 'web-1',
    podDir: '/s/pods/ns_web-1',
    stash: '/s/mnt/u1',
    binds: [{ src: "/s/pods/ns_web-1/it's", dst: '/var/run/x', create: true, readOnly: true }],
    hideDirs: ['/s/pods'],
    hideFiles: ['/s/kubeconfig'],
  };
  void it('sets the hostname, binds, hides the state, then brings the pod dir back and execs', () => {
    const script = sandboxScript(base);
    const lines = script.split('\n');
    assert.deepEqual(lines, [
      'set -e',
      "echo 'web-1' > /proc/sys/kernel/hostname",
      "mount --bind '/s/pods/ns_web-1' '/s/mnt/u1'",
      "mkdir -p '/var/run/x'",
      "mount --bind '/s/pods/ns_web-1/it'\\''s' '/var/run/x'",
      "mount -o remount,bind,ro '/var/run/x'",
      "mount -t tmpfs -o size=64k,mode=0700 hidden '/s/pods'",
      "mount --bind /dev/null '/s/kubeconfig'",
      "mkdir -p '/s/pods/ns_web-1'",
      "mount --move '/s/mnt/u1' '/s/pods/ns_web-1'",
      'exec "$@"',
    ]);
    const argv = sandboxArgv(base, ['sleep', 'infinity']);
    assert.deepEqual(argv.slice(0, 10), [
      'ip',
      'netns',
      'exec',
      'lab-p1',
      'unshare',
      '--uts',
      '--mount',
      '--propagation',
      'slave',
      '--',
    ]);
    assert.deepEqual(argv.slice(-3), ['sh', 'sleep', 'infinity']);
  });
  void it('refuses a hostname that is not a DNS name', () => {
    assert.throws(() => sandboxScript({ ...base, hostname: 'a;b' }), /not a valid hostname/);
  });
});
