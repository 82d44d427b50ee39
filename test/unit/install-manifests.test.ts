import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateManifests } from '../../src/install/manifests.js';
import { applySets, defaultValues } from '../../src/install/values.js';

test('one image for every component, the component in args', () => {
  const objs = generateManifests(applySets(defaultValues(), ['hub=reg.example/x', 'tag=9']));
  const containers = objs
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .map(
      (o) =>
        (o as { spec: { template: { spec: { containers: { image: string; args: string[] }[] } } } })
          .spec.template.spec.containers[0]!,
    );
  assert.deepEqual(
    containers.map((c) => [c.image, c.args.join(' ')]),
    [
      ['reg.example/x/ambit:9', 'controlplane'],
      ['reg.example/x/ambit:9', 'cni run'],
      ['reg.example/x/ambit:9', 'ztunnel'],
    ],
  );
  const cni = objs.find((o) => o.metadata.name === 'istio-cni-node') as unknown as {
    spec: { template: { spec: { hostNetwork: boolean } } };
  };
  assert.equal(cni.spec.template.spec.hostNetwork, true);
});

test('settings: crds, namespace, lab pins; unknown keys are refused', () => {
  const noCrd = generateManifests(applySets(defaultValues(), ['crds=false', 'namespace=mesh']));
  assert.equal(
    noCrd.some((o) => o.kind === 'CustomResourceDefinition'),
    false,
  );
  assert.ok(
    noCrd.filter((o) => o.metadata.namespace).every((o) => o.metadata.namespace === 'mesh'),
  );
  assert.throws(() => applySets(defaultValues(), ['profile=demo']), /only the ambient profile/);
  assert.throws(() => applySets(defaultValues(), ['crds=yes']), /want true or false/);
  assert.throws(() => applySets(defaultValues(), ['nope=1']), /unknown setting "nope=1"/);
});

test('ebpfTproxy: rendered into the node agent args; a bad mode is refused naming the allowed ones', () => {
  const cniArgs = (sets: string[]) => {
    const ds = generateManifests(applySets(defaultValues(), sets)).find(
      (o) => o.metadata.name === 'istio-cni-node',
    ) as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    return ds.spec.template.spec.containers[0]!.args;
  };
  assert.deepEqual(cniArgs([]), ['cni', 'run']);
  assert.deepEqual(cniArgs(['ebpfTproxy=mark']), ['cni', 'run', '--ebpf-tproxy', 'mark']);
  assert.deepEqual(cniArgs(['ebpfTproxy=sk_assign']), ['cni', 'run', '--ebpf-tproxy', 'sk_assign']);
  assert.throws(
    () => applySets(defaultValues(), ['ebpfTproxy=tc']),
    (e: Error & { code?: string; value?: unknown }) =>
      e.code === 'INSTALL_BAD_VALUE' &&
      e.value === 'tc' &&
      /ebpfTproxy=tc/.test(e.message) &&
      /auto, sk_assign, mark/.test(e.message),
  );
});
