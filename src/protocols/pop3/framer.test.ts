import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  DotDecoder,
  LINE_TOO_LONG,
  LineFramer,
  encodeMultiline,
  messageNumber,
  parseCommand,
  statusOf,
  topOf,
} from './framer.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Every way to cut `data` in two, plus one byte at a time. */
function splits(data: Buffer): Buffer[][] {
  const res: Buffer[][] = [[data]];
  for (let k = 1; k < data.length; k++) res.push([data.subarray(0, k), data.subarray(k)]);
  res.push([...data].map((x) => Buffer.from([x])));
  return res;
}

function lines(parts: Buffer[], max = 100): (string | 'TOO_LONG')[] {
  const f = new LineFramer(max);
  const out: (string | 'TOO_LONG')[] = [];
  for (const p of parts) {
    f.push(p);
    for (let l = f.next(); l !== null; l = f.next()) {
      if (l === LINE_TOO_LONG) {
        out.push('TOO_LONG');
        return out;
      }
      out.push(`${l.text}|${l.bytes.toString('latin1')}`);
    }
  }
  return out;
}

test('LineFramer: CRLF and bare LF lines, exact bytes kept, at every split', () => {
  const input = b('USER bob\r\nNOOP\nPASS a b\r\n\r\npart');
  for (const parts of splits(input)) {
    assert.deepEqual(lines(parts), ['USER bob|USER bob\r\n', 'NOOP|NOOP\n', 'PASS a b|PASS a b\r\n', '|\r\n']);
  }
});

test('LineFramer: a line over the limit is reported, also before its end arrives', () => {
  for (const parts of splits(b('x'.repeat(20) + '\r\n'))) assert.deepEqual(lines(parts, 21), ['TOO_LONG']);
  for (const parts of splits(b('x'.repeat(19) + '\r\n')))
    assert.deepEqual(lines(parts, 21), ['x'.repeat(19) + '|' + 'x'.repeat(19) + '\r\n']);
  const f = new LineFramer(10);
  f.push(b('0123456789abc'));
  assert.equal(f.next(), LINE_TOO_LONG);
});

test('LineFramer: drain returns what follows the last line handed out', () => {
  const f = new LineFramer(100);
  f.push(b('STLS\r\n\x16\x03'));
  f.push(b('\x01rest'));
  const l = f.next();
  assert.ok(l && l !== LINE_TOO_LONG && l.text === 'STLS');
  assert.equal(f.drain().toString('latin1'), '\x16\x03\x01rest');
  assert.equal(f.buffered, 0);
  assert.equal(f.next(), null);
});

function decode(parts: Buffer[]): { message: string; rest: string; done: boolean } {
  const d = new DotDecoder();
  let message = '';
  let rest = '';
  let done = false;
  for (const p of parts) {
    if (done) {
      rest += p.toString('latin1');
      continue;
    }
    const r = d.push(p);
    message += Buffer.concat(r.out).toString('latin1');
    if (r.done) {
      done = true;
      rest += p.subarray(r.used).toString('latin1');
    } else assert.equal(r.used, p.length);
  }
  return { message, rest, done };
}

test('DotDecoder: unstuffs dots and stops at the terminator, at every split', () => {
  const cases: [string, string][] = [
    ['.\r\n', ''],
    ['a\r\n.\r\n', 'a\r\n'],
    ['..\r\n.\r\n', '.\r\n'],
    ['...x\r\n..\r\n.\r\n', '..x\r\n.\r\n'],
    ['.\rb\r\n.\r\n', '\rb\r\n'],
    ['a\r\r\n.\r\n', 'a\r\r\n'],
    ['x\n.\ny\r\n.\r\n', 'x\n.\ny\r\n'],
    ['a.\r\n.\r\n', 'a.\r\n'],
    ['.\r\r\n.\r\n', '\r\r\n'],
  ];
  for (const [wire, message] of cases) {
    for (const parts of splits(b(wire + '+OK next\r\n'))) {
      assert.deepEqual(decode(parts), { message, rest: '+OK next\r\n', done: true }, JSON.stringify(wire));
    }
  }
  assert.deepEqual(decode([b('a\r\n.\r')]), { message: 'a\r\n', rest: '', done: false });
});

test('encodeMultiline then DotDecoder gives back any CRLF message (property)', () => {
  const lineArb = fc
    .string({ unit: fc.constantFrom('a', '.', ' ', 'Z', '\r'), maxLength: 6 })
    .filter((s) => !s.endsWith('\r'));
  fc.assert(
    fc.property(fc.array(lineArb, { maxLength: 8 }), fc.integer({ min: 1, max: 40 }), (ls, cut) => {
      const message = ls.map((l) => l + '\r\n').join('');
      const wire = encodeMultiline(b(message));
      const at = Math.min(cut, wire.length);
      const got = decode([wire.subarray(0, at), wire.subarray(at)]);
      assert.deepEqual(got, { message, rest: '', done: true });
    }),
  );
});

test('encodeMultiline turns bare LF into CRLF and adds a missing final line end', () => {
  assert.equal(encodeMultiline(b('a\n.b\nc')).toString('latin1'), 'a\r\n..b\r\nc\r\n.\r\n');
  assert.equal(encodeMultiline(b('')).toString('latin1'), '.\r\n');
});

test('topOf: header, blank line, then n body lines', () => {
  const m = b('A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n');
  assert.equal(topOf(m, 0).toString(), 'A: 1\r\nB: 2\r\n\r\n');
  assert.equal(topOf(m, 2).toString(), 'A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n');
  assert.equal(topOf(m, 9).toString(), m.toString());
});

test('statusOf, parseCommand, messageNumber', () => {
  assert.equal(statusOf('+OK done'), 'ok');
  assert.equal(statusOf('+ok'), 'ok');
  assert.equal(statusOf('-ERR [AUTH] no'), 'err');
  assert.equal(statusOf('+ dGVzdA=='), 'continue');
  assert.equal(statusOf('+'), 'continue');
  assert.equal(statusOf('* OK imap'), null);
  assert.deepEqual(parseCommand('top  1 5'), { verb: 'TOP', args: ['1', '5'] });
  assert.equal(messageNumber('12'), 12);
  assert.equal(messageNumber('0'), null);
  assert.equal(messageNumber('1x'), null);
  assert.equal(messageNumber(undefined), null);
});
