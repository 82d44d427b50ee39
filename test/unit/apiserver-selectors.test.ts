import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  matchRequirements,
  objectFilter,
  parseFieldSelector,
  parseLabelSelector,
} from '../../src/lab/apiserver/selectors.js';
import { ApiError } from '../../src/lab/apiserver/status.js';

const labels = { app: 'httpbin', tier: 'web', 'istio.io/dataplane-mode': 'ambient' };
const m = (sel: string, l: Record<string, string> = labels): boolean =>
  matchRequirements(parseLabelSelector(sel), l);

void test('label selector operators', () => {
  assert.equal(m('app=httpbin'), true);
  assert.equal(m('app==httpbin'), true);
  assert.equal(m('app=sleep'), false);
  assert.equal(m('app!=sleep'), true);
  assert.equal(m('missing!=x'), true, '!= matches objects without the key');
  assert.equal(m('app in (sleep, httpbin)'), true);
  assert.equal(m('app in (sleep)'), false);
  assert.equal(m('app notin (sleep)'), true);
  assert.equal(m('missing notin (sleep)'), true);
  assert.equal(m('istio.io/dataplane-mode'), true, 'exists');
  assert.equal(m('!istio.io/dataplane-mode'), false, 'does not exist');
  assert.equal(m('!missing'), true);
  assert.equal(m('app=httpbin,tier in (web,db),!missing'), true, 'comma is AND');
  assert.equal(m('app=httpbin,tier=db'), false);
  assert.equal(m(''), true, 'empty selects everything');
  assert.equal(m('app=', { app: '' }), true, 'empty value');
});

void test('bad label selectors are 400 BadRequest', () => {
  for (const bad of ['app=has space', 'a b c', '=x', 'app in (a b)']) {
    assert.throws(
      () => parseLabelSelector(bad),
      (e: unknown) => e instanceof ApiError && e.httpCode === 400 && e.reason === 'BadRequest',
      bad,
    );
  }
});

void test('field selectors', () => {
  const pod = {
    metadata: { name: 'sleep', namespace: 'demo', labels: { app: 'sleep' } },
    spec: { nodeName: 'worker2' },
    status: { phase: 'Running' },
  };
  const f = (fs: string | null, ls: string | null = null): boolean => objectFilter(ls, fs)(pod);
  assert.equal(f('spec.nodeName=worker2'), true);
  assert.equal(f('spec.nodeName=worker'), false);
  assert.equal(f('spec.nodeName!=worker'), true);
  assert.equal(f('metadata.name=sleep,metadata.namespace=demo'), true);
  assert.equal(f('status.phase!=Running'), false);
  assert.equal(f('spec.missing='), true, 'absent fields read as empty');
  assert.equal(f('spec.nodeName=worker2', 'app=sleep'), true);
  assert.equal(f('spec.nodeName=worker2', 'app=httpbin'), false);
  assert.deepEqual(parseFieldSelector('spec.nodeName==w'), [
    { path: 'spec.nodeName', neg: false, value: 'w' },
  ]);
  assert.throws(() => parseFieldSelector('nonsense'), ApiError);
  assert.throws(() => parseFieldSelector('spec/x=1'), ApiError);
});
