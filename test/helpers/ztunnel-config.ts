/**
 * The ZtunnelConfig of a test ztunnel: on loopback, every listener on a free port, no
 * transparent sockets (spoofing by bind), a control plane that is never dialled. Tests change
 * only what they exercise.
 */
import { HBONE_PORT } from '../../src/api/ports.js';
import { DEFAULT_PORTS, type ZtunnelConfig } from '../../src/ztunnel/config.js';

export function testZtunnelConfig(node: string, over: Partial<ZtunnelConfig> = {}): ZtunnelConfig {
  return {
    podName: `ztunnel-${node}`,
    podNamespace: 'istio-system',
    nodeName: node,
    instanceIp: '127.0.0.1',
    clusterId: 'Kubernetes',
    trustDomain: 'cluster.local',
    xdsAddress: 'unused:15012',
    caAddress: 'unused:15012',
    rootCa: '',
    dnsCapture: false,
    ports: {
      ...DEFAULT_PORTS,
      outbound: 0,
      inboundPlaintext: 0,
      inbound: 0,
      dns: 0,
      admin: 0,
      metrics: 0,
      readiness: 0,
    },
    listenHost: '127.0.0.1',
    dnsHost: '127.0.0.1',
    statsHost: '127.0.0.1',
    transparent: false,
    spoof: 'bind',
    hbonePort: HBONE_PORT,
    drainDeadlineMs: 2000,
    stateWaitMs: 2000,
    ...over,
  };
}
