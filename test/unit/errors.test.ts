import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AmbitError, errorMessage, isCode } from '../../src/errors.js';

test('errors carry a stable code, the offending value and the hint in the message', () => {
  const e = new AmbitError('LAB_BAD_CIDR', 'bad pod CIDR 10.0.0.0/33', {
    value: '10.0.0.0/33',
    hint: 'use a /24',
  });
  assert.equal(e.code, 'LAB_BAD_CIDR');
  assert.equal(e.value, '10.0.0.0/33');
  assert.match(e.message, /bad pod CIDR 10\.0\.0\.0\/33 \(use a \/24\)/);
  assert.ok(isCode(e, 'LAB_BAD_CIDR'));
  assert.equal(errorMessage(e), 'LAB_BAD_CIDR: bad pod CIDR 10.0.0.0/33 (use a /24)');
});
