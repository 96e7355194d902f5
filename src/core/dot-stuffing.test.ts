import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DotStuffer, dotStuff } from './dot-stuffing.js';

const cases: [string, string][] = [
  ['', '.\r\n'],
  ['a\r\n', 'a\r\n.\r\n'],
  ['.a\r\n', '..a\r\n.\r\n'],
  ['a\r\n.\r\nb\r\n', 'a\r\n..\r\nb\r\n.\r\n'],
  ['a\r\n..b', 'a\r\n...b\r\n.\r\n'],
  ['no newline', 'no newline\r\n.\r\n'],
];

test('dotStuff stuffs leading dots and terminates', () => {
  for (const [input, want] of cases) assert.equal(dotStuff(Buffer.from(input)).toString(), want, JSON.stringify(input));
});

test('DotStuffer gives the same bytes for every split point', () => {
  for (const [input, want] of cases) {
    const buf = Buffer.from(input);
    for (let cut = 0; cut <= buf.length; cut++) {
      const s = new DotStuffer();
      const out = Buffer.concat([s.push(buf.subarray(0, cut)), s.push(buf.subarray(cut)), s.end()]);
      assert.equal(out.toString(), want, `${JSON.stringify(input)} cut at ${cut}`);
    }
  }
});

test('DotStuffer works byte by byte', () => {
  const input = Buffer.from('.x\r\n.\r\n..\r\nend\r\n');
  const s = new DotStuffer();
  const parts = [...input].map((b) => s.push(Buffer.from([b])));
  assert.equal(Buffer.concat([...parts, s.end()]).toString(), '..x\r\n..\r\n...\r\nend\r\n.\r\n');
});

test('DotStuffer matches a byte-at-a-time reference on random input split at random points', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const alphabet = [0x2e, 0x0d, 0x0a, 0x61];
  for (let round = 0; round < 300; round++) {
    const input = Buffer.from(Array.from({ length: Math.floor(rnd() * 60) }, () => alphabet[Math.floor(rnd() * 4)]!));
    const want: number[] = [];
    let atStart = true;
    for (const b of input) {
      if (atStart && b === 0x2e) want.push(0x2e);
      want.push(b);
      atStart = b === 0x0a;
    }
    const s = new DotStuffer();
    const out: Buffer[] = [];
    for (let off = 0; off < input.length;) {
      const n = 1 + Math.floor(rnd() * 8);
      out.push(s.push(input.subarray(off, off + n)));
      off += n;
    }
    assert.deepEqual([...Buffer.concat(out)], want, JSON.stringify(input.toString('latin1')));
  }
});
