import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkQueue, LINE_TOO_LONG, LineScanner, LineSplitter, lineEnd } from './line-framer.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Every way to cut `data` in two, every way to cut it in three, and one byte at a time. */
function splits(data: Buffer): Buffer[][] {
  const res: Buffer[][] = [[data]];
  for (let i = 1; i < data.length; i++) {
    res.push([data.subarray(0, i), data.subarray(i)]);
    for (let j = i + 1; j < data.length; j++) res.push([data.subarray(0, i), data.subarray(i, j), data.subarray(j)]);
  }
  res.push([...data].map((x) => Buffer.from([x])));
  return res;
}

/** Pushes the parts, pulling lines after each; returns the lines (or TOO_LONG) and the unread rest. */
function run(parts: Buffer[], max: number): { out: string[]; rest: string } {
  const s = new LineSplitter(max);
  const out: string[] = [];
  for (const p of parts) {
    s.push(p);
    for (let l = s.next(); l !== null; l = s.next()) out.push(l === LINE_TOO_LONG ? 'TOO_LONG' : l.toString('latin1'));
  }
  return { out, rest: s.takeRest().toString('latin1') };
}

test('lines keep their exact bytes (CRLF, bare LF, bare CR inside) at every split', () => {
  const input = b('USER bob\r\nNOOP\na\rb\r\n\r\n\ntail\r');
  for (const parts of splits(input)) {
    assert.deepEqual(run(parts, 100), {
      out: ['USER bob\r\n', 'NOOP\n', 'a\rb\r\n', '\r\n', '\n'],
      rest: 'tail\r',
    });
  }
});

test('the limit counts the terminator; a longer line is reported once and skipped to its LF', () => {
  for (const parts of splits(b('ok\r\n' + 'x'.repeat(9) + '\r\nnext\r\n'))) {
    assert.deepEqual(run(parts, 10), { out: ['ok\r\n', 'TOO_LONG', 'next\r\n'], rest: '' });
  }
  for (const parts of splits(b('x'.repeat(8) + '\r\n' + 'y'.repeat(9) + '\n'))) {
    assert.deepEqual(run(parts, 10), { out: ['x'.repeat(8) + '\r\n', 'y'.repeat(9) + '\n'], rest: '' });
  }
  // A long line with no end yet: reported once the bytes held cannot fit with an LF, nothing kept.
  for (const parts of splits(b('a\n' + 'z'.repeat(25)))) {
    assert.deepEqual(run(parts, 10), { out: ['a\n', 'TOO_LONG'], rest: '' });
  }
});

test('an over-long line is reported before its end arrives and memory stays bounded', () => {
  const s = new LineSplitter(10);
  s.push(b('0123456789'));
  assert.equal(s.next(), LINE_TOO_LONG);
  assert.equal(s.buffered, 0);
  for (let i = 0; i < 100; i++) {
    s.push(b('abcdefgh'));
    assert.equal(s.next(), null);
    assert.ok(s.buffered <= 10);
  }
  s.push(b('end\r\nnext\r\n'));
  assert.deepEqual(s.next(), b('next\r\n'));
  assert.equal(s.next(), null);
});

test('takeRest returns the raw bytes behind the last line handed out, across chunks', () => {
  const s = new LineSplitter(100);
  s.push(b('STLS\r\n\x16\x03'));
  s.push(b('\x01rest'));
  assert.deepEqual(s.next(), b('STLS\r\n'));
  assert.equal(s.buffered, 7);
  assert.equal(s.takeRest().toString('latin1'), '\x16\x03\x01rest');
  assert.equal(s.buffered, 0);
  assert.equal(s.next(), null);
  s.push(b('after\n'));
  assert.deepEqual(s.next(), b('after\n'));
});

test('a scanner over a shared queue resumes after someone else consumed bytes', () => {
  const q = new ChunkQueue();
  const sc = new LineScanner(q, 100);
  q.push(b('CMD\r\nbinary'));
  q.push(b('XYZ\r\nNEXT\r\n'));
  assert.deepEqual(sc.next(), b('CMD\r\n'));
  assert.equal(q.take(6).toString('latin1'), 'binary');
  sc.reset();
  assert.deepEqual(sc.next(), b('XYZ\r\n'));
  assert.equal(q.head()?.toString('latin1'), 'NEXT\r\n');
  assert.deepEqual(sc.next(), b('NEXT\r\n'));
  assert.equal(q.length, 0);
});

test('one byte per chunk stays linear', () => {
  const s = new LineSplitter(1 << 20);
  const n = 200_000;
  const t0 = process.hrtime.bigint();
  const one = b('x');
  for (let i = 0; i < n; i++) {
    s.push(one);
    assert.equal(s.next(), null);
  }
  s.push(b('\n'));
  const line = s.next();
  assert.ok(Buffer.isBuffer(line) && line.length === n + 1);
  // Quadratic rescanning or copying would take tens of seconds here.
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 5000);
});

test('lineEnd drops the line terminator', () => {
  assert.equal(lineEnd(b('ab\r\n')), 2);
  assert.equal(lineEnd(b('ab\n')), 2);
  assert.equal(lineEnd(b('ab\r')), 2);
  assert.equal(lineEnd(b('ab')), 2);
  assert.equal(lineEnd(b('\n')), 0);
});
