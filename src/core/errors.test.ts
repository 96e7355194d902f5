import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, ShieldError, asShieldError, type ErrorCode } from './errors.js';

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

test('every code is MS_ERR_ upper snake case with a side, kind and summary', () => {
  for (const code of codes) {
    assert.match(code, /^MS_ERR_[A-Z0-9_]+$/);
    const spec = ERROR_CODES[code];
    assert.ok(['client', 'upstream', 'local'].includes(spec.side), code);
    assert.ok(spec.summary.length > 10, code);
  }
});

test('client and upstream codes carry their side in the name', () => {
  for (const code of codes) {
    if (code.startsWith('MS_ERR_CLIENT_')) assert.equal(ERROR_CODES[code].side, 'client', code);
    if (code.startsWith('MS_ERR_UPSTREAM_')) assert.equal(ERROR_CODES[code].side, 'upstream', code);
  }
});

test('the README error table lists exactly the registry', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const table = readme.slice(readme.indexOf('## Error codes'));
  const listed = [...table.matchAll(/^\| `(MS_ERR_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]);
  assert.deepEqual([...listed].sort(), [...codes].sort());
});

test('reply text is one line, bounded, and ends with the code', () => {
  const e = new ShieldError(
    'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
    'upstream x:995 signed with RSA+SHA1\r\nsecond',
    {
      offered: 'RSA+SHA1',
      required: 'SHA-256 or better',
      fix: 'add an exception',
    },
  );
  const t = e.toReplyText();
  assert.doesNotMatch(t, /[\r\n]/);
  assert.match(t, /\(MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE\)$/);
  assert.equal(e.side, 'upstream');
  assert.ok(e.toReplyText(50).length <= 50);
});

test('asShieldError keeps ShieldErrors and wraps anything else', () => {
  const e = new ShieldError('MS_ERR_CA', 'x');
  assert.equal(asShieldError(e), e);
  const w = asShieldError(new Error('boom'), 'MS_ERR_UPSTREAM_CONNECT');
  assert.equal(w.code, 'MS_ERR_UPSTREAM_CONNECT');
  assert.equal(w.message, 'boom');
});
