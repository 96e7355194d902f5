import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Verdict } from './types.js';
import { combineVerdicts, verdictHeaderValue } from './verdict.js';

const clean: Verdict = { kind: 'clean' };
const err: Verdict = { kind: 'error', engine: 'clamd', reason: 'down' };
const inf: Verdict = { kind: 'infected', engine: 'clamd', signature: 'X', part: 'the message' };
const blk: Verdict = { kind: 'blocked', engine: 'builtin', rule: 'script', part: 'a.js' };

test('combineVerdicts: finding > error > clean; first finding in engine order wins', () => {
  assert.deepEqual(combineVerdicts([]), clean);
  assert.deepEqual(combineVerdicts([clean, clean]), clean);
  assert.deepEqual(combineVerdicts([clean, err]), err);
  assert.deepEqual(combineVerdicts([err, clean]), err);
  assert.deepEqual(combineVerdicts([err, inf]), inf);
  assert.deepEqual(combineVerdicts([inf, err]), inf);
  assert.deepEqual(combineVerdicts([blk, inf]), blk);
  assert.deepEqual(combineVerdicts([inf, blk]), inf);
});

test('verdictHeaderValue sanitises values into one structured line', () => {
  assert.equal(verdictHeaderValue(inf, 'q1'), 'infected; engine=clamd; signature=X; quarantine=q1');
  assert.equal(verdictHeaderValue(blk, 'q2'), 'blocked; rule=script; quarantine=q2');
  assert.equal(
    verdictHeaderValue({ ...inf, signature: 'a;b\r\nc\u00e9' }),
    'infected; engine=clamd; signature=a_b??c?',
  );
  assert.equal(verdictHeaderValue(err), 'unscanned; reason=clamd: down');
});
