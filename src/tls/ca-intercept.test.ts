import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../core/config.js';
import { caNamesDrift, caPermittedNames, normalizePermittedNames } from './ca-names.js';

const LOOPBACK = ['localhost', '127.0.0.0/8', '::1'];

test('intercept mode: the CA permits exactly intercept.domains beside loopback and ca.extraNames', () => {
  const on = validateConfig(
    {
      accounts: [],
      intercept: { enabled: true, domains: ['ocn.ne.jp', 'gmail.com'] },
      ca: { extraNames: ['mail.lan'] },
    },
    'f.yaml',
  );
  assert.deepEqual(caPermittedNames(on), [...LOOPBACK, 'ocn.ne.jp', 'gmail.com', 'mail.lan']);
  // Listed but switched off: no real server names in the CA.
  const off = validateConfig({ intercept: { enabled: false, domains: ['gmail.com'] } }, 'f.yaml');
  assert.deepEqual(caPermittedNames(off), LOOPBACK);
});

test('caNamesDrift: a new domain is missing, a dropped one is extra; equal sets drift nowhere', () => {
  const made = normalizePermittedNames([...LOOPBACK, 'isp.test', 'old.test']);
  assert.deepEqual(caNamesDrift(made, [...LOOPBACK, 'isp.test', 'new.test']), {
    missing: ['new.test'],
    extra: ['old.test'],
  });
  assert.deepEqual(caNamesDrift(made, [...LOOPBACK, 'pop.isp.test', 'isp.test', 'old.test']), {
    missing: [],
    extra: [],
  });
});
