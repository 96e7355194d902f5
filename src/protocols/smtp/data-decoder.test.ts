// Properties of the DATA decoder over arbitrary bytes made of the characters that matter (CR, LF, NUL, dot): it
// agrees with a line-by-line reference model of the rules in data-decoder.ts however TCP splits the input, and what
// the driver sends upstream after it can never be read as an early end by any line-ending convention.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DotStuffer } from '../../core/dot-stuffing.js';
import { ClientFramer } from './framer.js';
import type { ClientUnit } from './framer.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** The rules, one line at a time (slow and obvious; the decoder is the fast streaming form). */
function reference(content: string): { msg: string; dots: number } | null {
  let out = '';
  let dots = 0;
  let prevCrlf = true;
  let pos = 0;
  for (;;) {
    const rest = content.slice(pos);
    const e = rest.search(/[\r\n]/);
    if (e < 0) return null;
    const term = rest[e] === '\n' ? 'LF' : rest[e + 1] === '\n' ? 'CRLF' : rest[e + 1] === undefined ? null : 'CR';
    if (term === null) return null;
    const raw = rest.slice(0, e);
    if (raw === '.' && term === 'CRLF' && prevCrlf) return { msg: out, dots };
    let line = raw.replace(/\0/g, '');
    if (line.length > 1 && line.startsWith('.')) line = line.slice(1);
    if (line.startsWith('.')) dots++;
    out += `${line}\r\n`;
    prevCrlf = term === 'CRLF';
    pos += e + (term === 'CRLF' ? 2 : 1);
  }
}

/** The first message the framer finds after "DATA", fed as `chunks`. */
function decode(chunks: Buffer[]): { msg: string; dots: number } | null {
  const f = new ClientFramer(1 << 16);
  let data = '';
  for (const c of chunks) {
    f.push(c);
    let u: ClientUnit | null;
    while ((u = f.next())) {
      if (u.type === 'line' && u.line.toString('latin1') === 'DATA') f.startData(1 << 20, 'normalize');
      else if (u.type === 'data') data += u.data.toString('latin1');
      else if (u.type === 'data-end') return { msg: data, dots: u.dotLines };
    }
  }
  return null;
}

const content = fc
  .array(fc.constantFrom('a', '.', '.', '\r', '\n', '\0', ' '), { maxLength: 40 })
  .map((a) => a.join(''));

test('the decoder matches the reference model, whole, split anywhere, and byte by byte', () => {
  fc.assert(
    fc.property(content, fc.nat(), (body, cut) => {
      const wire = b(`DATA\r\n${body}\r\n.\r\nNOOP\r\n`);
      const want = reference(`${body}\r\n.\r\nNOOP\r\n`);
      assert.ok(want, 'the trailing CRLF.CRLF always ends the message');
      assert.deepEqual(decode([wire]), want);
      const k = 1 + (cut % (wire.length - 1));
      assert.deepEqual(decode([wire.subarray(0, k), wire.subarray(k)]), want, `split at ${k}`);
      assert.deepEqual(decode([...wire].map((x) => Buffer.from([x]))), want, 'byte by byte');
    }),
    { numRuns: 2000 },
  );
});

test('what goes upstream has only CRLF, no NUL, no lone dot before the end, and decodes back to the message', () => {
  fc.assert(
    fc.property(content, (body) => {
      const msg = decode([b(`DATA\r\n${body}\r\n.\r\n`)])!.msg;
      const st = new DotStuffer();
      const up = Buffer.concat([st.push(b(msg)), st.end()]).toString('latin1');
      assert.doesNotMatch(up, /\0/);
      assert.doesNotMatch(up, /\r(?!\n)|(?<!\r)\n/, 'every line end is CRLF');
      const lines = up.split('\r\n');
      assert.deepEqual(lines.slice(-2), ['.', '']);
      // So a parser that ends DATA at "<LF>.<LF>", "<CR>.<CR>", ".<NUL>" or skips NULs finds no early end either.
      for (const l of lines.slice(0, -2)) assert.ok(!l.startsWith('.') || l.startsWith('..'), JSON.stringify(l));
      assert.equal(decode([b(`DATA\r\n${up}`)])!.msg, msg);
    }),
    { numRuns: 2000 },
  );
});

test('a 25 MB LF-only message in 64 KiB reads: every line normalized, nothing lost', () => {
  // Python's smtplib with a big attachment: 64-byte lines with bare LF, in 64 KiB reads.
  const line = b(`${'x'.repeat(63)}\n`);
  const chunk = Buffer.concat(Array.from({ length: 1024 }, () => line));
  const f = new ClientFramer(1024);
  f.push(b('DATA\r\n'));
  const first = f.next();
  assert.equal(first?.type, 'line');
  f.startData(1 << 30, 'normalize');
  let size = 0;
  for (let i = 0; i < 400; i++) {
    f.push(chunk);
    let u: ClientUnit | null;
    while ((u = f.next())) if (u.type === 'data') size += u.data.length;
  }
  f.push(b('\r\n.\r\n'));
  let end: ClientUnit | null;
  while ((end = f.next()) && end.type === 'data') size += end.data.length;
  assert.equal(end?.type, 'data-end');
  assert.equal(end.type === 'data-end' ? end.normalized.lf : -1, 400 * 1024);
  assert.equal(size, 400 * 1024 * 65 + 2);
});
