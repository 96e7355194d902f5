import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImapTokenizer, type Token } from './tokenizer.js';

const BIG = { maxLineBytes: 1 << 20, maxLiteralBytes: 1 << 20 };

function tokenize(chunks: Buffer[], limits = BIG): { tokens: Token[]; rest: Buffer } {
  const t = new ImapTokenizer(limits);
  const tokens: Token[] = [];
  for (const c of chunks) {
    t.push(c);
    for (let tok = t.next(); tok; tok = t.next()) tokens.push(tok);
  }
  return { tokens, rest: t.drain() };
}

const bytesOf = (tokens: Token[]): Buffer =>
  Buffer.concat(tokens.map((t) => (t.type === 'error' ? Buffer.alloc(0) : t.data)));

/** Tokens with literal pieces merged, for comparing structure independent of how input was split. */
function shape(tokens: Token[]): string[] {
  const out: string[] = [];
  let lit: Buffer[] | null = null;
  for (const t of tokens) {
    if (t.type === 'line') {
      out.push(
        `line:${t.data.toString('latin1')}:${t.literal ? `${t.literal.size}/${t.literal.sync}/${t.literal.binary}` : '-'}`,
      );
      if (t.literal) lit = [];
    } else if (t.type === 'literal') {
      lit!.push(t.data);
      if (t.last) {
        out.push(`lit:${Buffer.concat(lit!).toString('latin1')}`);
        lit = null;
      }
    } else out.push(`error:${t.reason}`);
  }
  return out;
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

test('lines, sync, non-sync and binary literals', () => {
  const input = Buffer.from(
    'a1 LOGIN {4}\r\nuser {6+}\r\nsecret\r\n* 1 FETCH (BINARY[] ~{3}\r\n\x00\r\n)\r\n* OK {0}\r\n\r\n',
    'latin1',
  );
  const { tokens, rest } = tokenize([input]);
  assert.equal(rest.length, 0);
  assert.deepEqual(shape(tokens), [
    'line:a1 LOGIN {4}\r\n:4/true/false',
    'lit:user',
    'line: {6+}\r\n:6/false/false',
    'lit:secret',
    'line:\r\n:-',
    'line:* 1 FETCH (BINARY[] ~{3}\r\n:3/true/true',
    'lit:\x00\r\n',
    'line:)\r\n:-',
    'line:* OK {0}\r\n:0/true/false',
    'lit:',
    'line:\r\n:-',
  ]);
  const marker = tokens[0]!;
  assert.ok(marker.type === 'line' && marker.literal);
  assert.equal(marker.data.subarray(marker.literal.markerOffset).toString(), '{4}\r\n');
});

test('every split offset gives the same tokens', () => {
  const input = Buffer.from('* 3 FETCH (UID 7 BODY[] {11}\r\nhello\r\n{2}\r\n UID 9)\r\na OK done\r\n', 'latin1');
  const whole = shape(tokenize([input]).tokens);
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const got = tokenize([input.subarray(0, i), input.subarray(i, j), input.subarray(j)]);
      assert.deepEqual(shape(got.tokens), whole, `split at ${i},${j}`);
      assert.equal(got.rest.length, 0);
    }
  }
});

test('a line above maxLineBytes is an error, even without LF yet', () => {
  const t = new ImapTokenizer({ maxLineBytes: 16, maxLiteralBytes: 10 });
  t.push(Buffer.from('a NOOP\r\n'));
  assert.equal(t.next()?.type, 'line');
  t.push(Buffer.from('b '.repeat(10)));
  assert.deepEqual(t.next(), { type: 'error', reason: 'line-too-long' });
  assert.equal(t.next(), null);
});

test('a literal above maxLiteralBytes is flagged; a refused sync literal can be cancelled', () => {
  const t = new ImapTokenizer({ maxLineBytes: 100, maxLiteralBytes: 10 });
  t.push(Buffer.from('a APPEND x {11}\r\nb NOOP\r\n'));
  const first = t.next();
  assert.ok(first?.type === 'line' && first.literal?.tooLarge);
  t.cancelLiteral();
  const second = t.next();
  assert.ok(second?.type === 'line');
  assert.equal(second.data.toString(), 'b NOOP\r\n');
  t.push(Buffer.from('c X {99999999999999999999}\r\n'));
  const third = t.next();
  assert.ok(third?.type === 'line' && third.literal?.tooLarge);
});

test('drain returns unread bytes, including a partial line', () => {
  const t = new ImapTokenizer(BIG);
  t.push(Buffer.from('a STARTTLS\r\n\x16\x03\x01rest'));
  const tok = t.next();
  assert.ok(tok?.type === 'line');
  assert.equal(t.drain().toString('latin1'), '\x16\x03\x01rest');
});

// A generated stream: lines (without a trailing marker) and literals with arbitrary bytes, announced in all forms.
const lineText = fc
  .array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 })
  .map((a) => Buffer.from(a.filter((b) => b !== 0x0a && b !== 0x7d)).toString('latin1'));
const literalBytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const unit = fc.oneof(
  lineText.map((text) => ({ text, lit: null as null | { data: Buffer; form: string } })),
  fc
    .record({ text: lineText, data: literalBytes, form: fc.constantFrom('{n}', '{n+}', '~{n}', '~{n+}') })
    .map(({ text, data, form }) => ({ text, lit: { data, form } })),
);

function serialize(units: { text: string; lit: null | { data: Buffer; form: string } }[]): Buffer {
  const parts: Buffer[] = [];
  for (const u of units) {
    const marker = u.lit ? u.lit.form.replace('n', String(u.lit.data.length)) : '';
    parts.push(Buffer.from(`${u.text}${marker}\r\n`, 'latin1'));
    if (u.lit) parts.push(u.lit.data);
  }
  return Buffer.concat(parts);
}

test('property: random streams split randomly round-trip and keep their structure', () => {
  fc.assert(
    fc.property(fc.array(unit, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), (units, cuts) => {
      const input = serialize(units);
      const whole = tokenize([input]);
      const split = tokenize(splitAt(input, cuts));
      assert.deepEqual(Buffer.concat([bytesOf(split.tokens), split.rest]), input);
      assert.deepEqual(shape(split.tokens), shape(whole.tokens));
      // Literal structure matches what was generated.
      const lits = split.tokens.filter((t) => t.type === 'line' && t.literal).length;
      assert.equal(lits, units.filter((u) => u.lit).length);
    }),
    { numRuns: 500 },
  );
});

test('property: arbitrary bytes never crash and round-trip', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.integer({ min: 1, max: 64 }),
      (raw, cuts, maxLine) => {
        const input = Buffer.from(raw);
        const { tokens, rest } = tokenize(splitAt(input, cuts), { maxLineBytes: maxLine, maxLiteralBytes: 50 });
        const out = bytesOf(tokens);
        const errored = tokens.some((t) => t.type === 'error');
        // After an error the tokenizer stops; everything before it is still an exact prefix of the input.
        if (errored) assert.deepEqual(input.subarray(0, out.length), out);
        else assert.deepEqual(Buffer.concat([out, rest]), input);
      },
    ),
    { numRuns: 1000 },
  );
});

test('O(bytes): a long literal delivered one byte at a time is linear', () => {
  const t = new ImapTokenizer(BIG);
  const n = 200_000;
  t.push(Buffer.from(`* 1 FETCH (BODY[] {${n}}\r\n`));
  assert.equal(t.next()?.type, 'line');
  let got = 0;
  const start = process.hrtime.bigint();
  const one = Buffer.alloc(1, 0x41);
  for (let i = 0; i < n; i++) {
    t.push(one);
    const tok = t.next();
    if (tok?.type === 'literal') got += tok.data.length;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(got, n);
  assert.ok(ms < 2000, `took ${ms} ms`);
  // And a long line arriving byte by byte is not rescanned from the start each time.
  const t2 = new ImapTokenizer(BIG);
  const start2 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    t2.push(one);
    assert.equal(t2.next(), null);
  }
  t2.push(Buffer.from('\r\n'));
  assert.equal(t2.next()?.type, 'line');
  assert.ok(Number(process.hrtime.bigint() - start2) / 1e6 < 2000);
});
