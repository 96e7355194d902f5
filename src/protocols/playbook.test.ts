import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutsOf, readsOf } from './playbook.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const text = (parts: Buffer[]) => parts.map((p) => p.toString('latin1'));

test('each-step cuts every offset of each data event in turn, and leaves other steps alone', () => {
  assert.deepEqual(cutsOf([3, null, 2, 1], 'each-step'), [
    { kind: 'step', step: 0, at: 1 },
    { kind: 'step', step: 0, at: 2 },
    { kind: 'step', step: 2, at: 1 },
  ]);
  assert.deepEqual(text(readsOf(b('abc'), 0, { kind: 'step', step: 0, at: 1 })), ['a', 'bc']);
  assert.deepEqual(text(readsOf(b('abc'), 1, { kind: 'step', step: 0, at: 1 })), ['abc']);
});

test('together cuts every event at each offset up to the longest, then feeds byte by byte', () => {
  assert.deepEqual(cutsOf([3, null, 1], 'together'), [
    { kind: 'every-event', at: 1 },
    { kind: 'every-event', at: 2 },
    { kind: 'bytes' },
  ]);
  assert.deepEqual(text(readsOf(b('ab'), 0, { kind: 'every-event', at: 2 })), ['ab']);
  assert.deepEqual(text(readsOf(b('abc'), 5, { kind: 'bytes' })), ['a', 'b', 'c']);
  // A pipelined hello stays in the read with the byte before it.
  assert.deepEqual(text(readsOf(b('ab'), 0, { kind: 'bytes' }, b('\x16'))), ['a', 'b\x16']);
});
