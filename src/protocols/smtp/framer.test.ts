import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientFramer, ReplyFramer } from './framer.js';
import type { ClientUnit } from './framer.js';
import type { BareLineEndings } from './data-decoder.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Feeds `chunks` and drains the framer; a DATA line switches to data mode like the session does. */
function frame(chunks: Buffer[], maxLine = 64, maxMsg = 1000, mode: BareLineEndings = 'normalize'): string[] {
  const f = new ClientFramer(maxLine);
  const out: string[] = [];
  let data = '';
  const drain = () => {
    let u: ClientUnit | null;
    while ((u = f.next())) {
      if (u.type === 'line') {
        const s = u.line.toString('latin1');
        out.push(`L:${s}`);
        if (s === 'DATA') f.startData(maxMsg, mode);
        const m = /^BDAT (\d+)$/.exec(s);
        if (m) f.skip(Number(m[1]));
      } else if (u.type === 'line-too-long') out.push('TOO-LONG');
      else if (u.type === 'data') data += u.data.toString('latin1');
      else if (u.type === 'data-invalid') {
        // The session discards what was streamed before.
        out.push(`INVALID:${u.kind}`);
        data = '';
      } else {
        // Bytes passed before a message was found too big are discarded by the session, so only kept content counts.
        const shown = u.tooBig ? '(dropped)' : JSON.stringify(data);
        const { lf, cr, nul } = u.normalized;
        out.push(
          `D:${shown} size=${u.size} big=${u.tooBig}` +
            (lf + cr + nul ? ` norm=${lf},${cr},${nul}` : '') +
            (u.dotLines ? ` dots=${u.dotLines}` : ''),
        );
        data = '';
      }
    }
  };
  for (const c of chunks) {
    f.push(c);
    drain();
  }
  if (data) out.push(`partial:${JSON.stringify(data)}`);
  return out;
}

/** Asserts the framing of `input` is the same whole, split at every offset, and byte by byte. */
function everySplit(
  input: string,
  expected: string[],
  maxLine?: number,
  maxMsg?: number,
  mode: BareLineEndings = 'normalize',
): void {
  const whole = b(input);
  assert.deepEqual(frame([whole], maxLine, maxMsg, mode), expected, 'whole');
  for (let i = 1; i < whole.length; i++) {
    const got = frame([whole.subarray(0, i), whole.subarray(i)], maxLine, maxMsg, mode);
    assert.deepEqual(got, expected, `split at ${i}`);
  }
  const bytes = [...whole].map((x) => Buffer.from([x]));
  assert.deepEqual(frame(bytes, maxLine, maxMsg, mode), expected, 'byte by byte');
}

test('command lines: CRLF and a lenient bare LF', () => {
  everySplit('EHLO a\r\nMAIL FROM:<x@y>\nNOOP\r\n', ['L:EHLO a', 'L:MAIL FROM:<x@y>', 'L:NOOP']);
});

test('an over-long command line is reported once and skipped to its LF', () => {
  const long = 'X'.repeat(100);
  everySplit(`NOOP\r\n${long}\r\nQUIT\r\n`, ['L:NOOP', 'TOO-LONG', 'L:QUIT'], 32);
  // Exactly at the limit (terminator included) is fine; one byte more is not.
  everySplit(`${'A'.repeat(30)}\r\n${'B'.repeat(31)}\r\nQUIT\r\n`, [`L:${'A'.repeat(30)}`, 'TOO-LONG', 'L:QUIT'], 32);
});

test('data mode un-stuffs dots and ends at CRLF.CRLF; pipelined commands follow', () => {
  everySplit('DATA\r\nSubject: x\r\n\r\n..leading dot\r\n.\r\n...\r\nend\r\n.\r\nQUIT\r\n', [
    'L:DATA',
    'D:"Subject: x\\r\\n\\r\\n.leading dot\\r\\n" size=28 big=false dots=1',
    'L:...',
    'L:end',
    'L:.',
    'L:QUIT',
  ]);
});

test('data mode: an empty message, a lone dot line inside, ".\\rX" is a lone dot line then "X"', () => {
  everySplit('DATA\r\n.\r\n', ['L:DATA', 'D:"" size=0 big=false']);
  everySplit('DATA\r\na\r\n..\r\n.x\r\n.\r\n', ['L:DATA', 'D:"a\\r\\n.\\r\\nx\\r\\n" size=9 big=false dots=1']);
  everySplit('DATA\r\n.\rX\r\n.\r\n', ['L:DATA', 'D:".\\r\\nX\\r\\n" size=6 big=false norm=0,1,0 dots=1']);
});

test('data mode: "\\r\\n.\\r\\r\\n" is a lone dot (bare CR) and an empty line, not the end', () => {
  everySplit('DATA\r\na\r\n.\r\r\n.\r\n', ['L:DATA', 'D:"a\\r\\n.\\r\\n\\r\\n" size=8 big=false norm=0,1,0 dots=1']);
});

test('data mode: a bare LF is a line end, normalized to CRLF', () => {
  everySplit('DATA\r\nline one\nline two\r\n.\r\nNOOP\r\n', [
    'L:DATA',
    'D:"line one\\r\\nline two\\r\\n" size=20 big=false norm=1,0,0',
    'L:NOOP',
  ]);
  // Python's smtplib: LF line ends, dots stuffed after LF too, and its own CRLF.CRLF at the end.
  everySplit('DATA\r\nSubject: s\n\n..dot\nend\n\r\n.\r\n', [
    'L:DATA',
    'D:"Subject: s\\r\\n\\r\\n.dot\\r\\nend\\r\\n\\r\\n" size=27 big=false norm=4,0,0 dots=1',
  ]);
});

test('data mode: "<LF>.<LF>" never ends a message; the "commands" after it are content', () => {
  everySplit('DATA\nx\n.\nNOOP\n', ['L:DATA', 'partial:"x\\r\\n.\\r\\nNOOP\\r\\n"']);
});

test('data mode: a bare CR mid-line is a line end; NULs are removed', () => {
  everySplit('DATA\r\na\rb\r\n.\r\n', ['L:DATA', 'D:"a\\r\\nb\\r\\n" size=6 big=false norm=0,1,0']);
  everySplit('DATA\r\na\0b\r\n\0.\r\n.\0\r\n.\r\n', [
    'L:DATA',
    'D:"ab\\r\\n.\\r\\n.\\r\\n" size=10 big=false norm=0,0,3 dots=2',
  ]);
});

test('reject mode: the first bare LF, bare CR or NUL stops the framer; nothing after it is read as commands', () => {
  const after = 'MAIL FROM:<x@y>\r\nRCPT TO:<z@y>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n';
  for (const [bad, kind] of [
    ['a\n.\r\n', 'LF'],
    ['a\r\n.\n', 'LF'],
    ['a\r.\r', 'CR'],
    ['a\r\n.\r', 'CR'],
    ['a\r\n.\0\r\n', 'NUL'],
  ] as const)
    everySplit(`DATA\r\n${bad}${after}`, ['L:DATA', `INVALID:${kind}`], 64, 1000, 'reject');
  // Clean data is untouched.
  everySplit(
    'DATA\r\n..a\r\n.\r\nNOOP\r\n',
    ['L:DATA', 'D:".a\\r\\n" size=4 big=false dots=1', 'L:NOOP'],
    64,
    1000,
    'reject',
  );
});

test('data mode: the size cap stops the content but the end is still found', () => {
  everySplit(
    'DATA\r\n0123456789\r\n0123456789\r\n.\r\nQUIT\r\n',
    ['L:DATA', 'D:(dropped) size=24 big=true', 'L:QUIT'],
    64,
    10,
  );
});

test('data lines may be longer than the command line limit', () => {
  const long = 'y'.repeat(200);
  everySplit(`DATA\r\n${long}\r\n.\r\n`, ['L:DATA', `D:${JSON.stringify(long + '\r\n')} size=202 big=false`], 16);
});

test('skip drops a refused BDAT payload', () => {
  everySplit('BDAT 5\r\nab\r\ncNOOP\r\n', ['L:BDAT 5', 'L:NOOP']);
});

test('takeRest returns the bytes after a STARTTLS line', () => {
  const f = new ClientFramer(64);
  f.push(b('STARTTLS\r\n\x16\x03\x01junk'));
  assert.deepEqual(f.next(), { type: 'line', line: b('STARTTLS') });
  assert.equal(f.takeRest().toString('latin1'), '\x16\x03\x01junk');
  assert.equal(f.buffered, 0);
});

test('a slow-loris line is linear: 64 KiB one byte at a time', () => {
  const f = new ClientFramer(128 * 1024);
  const t0 = process.hrtime.bigint();
  const one = b('a');
  for (let i = 0; i < 64 * 1024; i++) {
    f.push(one);
    assert.equal(f.next(), null);
  }
  f.push(b('\r\n'));
  const u = f.next();
  assert.equal(u?.type === 'line' ? u.line.length : -1, 64 * 1024);
  // Quadratic rescanning would take tens of seconds here.
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e9 < 5);
});

function replies(chunks: Buffer[], maxLine = 128): string[] {
  const f = new ReplyFramer(maxLine);
  const out: string[] = [];
  for (const c of chunks) {
    f.push(c);
    let u;
    while ((u = f.next())) {
      if (u.type === 'error') out.push(`ERR ${u.reason}`);
      else
        out.push(`${u.reply.code} ${JSON.stringify(u.reply.lines)} ${JSON.stringify(u.reply.raw.toString('latin1'))}`);
    }
  }
  return out;
}

test('reply framer: single and multi-line replies, split at every offset', () => {
  const input = b('220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 100\r\n354\r\n');
  const expected = [
    '220 ["mx ESMTP"] "220 mx ESMTP\\r\\n"',
    '250 ["mx","PIPELINING","SIZE 100"] "250-mx\\r\\n250-PIPELINING\\r\\n250 SIZE 100\\r\\n"',
    '354 [""] "354\\r\\n"',
  ];
  assert.deepEqual(replies([input]), expected);
  for (let i = 1; i < input.length; i++)
    assert.deepEqual(replies([input.subarray(0, i), input.subarray(i)]), expected, `split at ${i}`);
});

test('reply framer: malformed and changing codes are errors', () => {
  assert.deepEqual(replies([b('hello\r\n')]), ['ERR malformed reply line "hello"']);
  assert.match(replies([b('250-a\r\n251 b\r\n')])[0]!, /code changed/);
  assert.deepEqual(replies([b('250 ' + 'x'.repeat(200) + '\r\n')]), ['ERR reply line too long']);
});

test('round trip with the driver stuffer: un-stuff(stuff(message)) is the message, any split', async () => {
  const fc = await import('fast-check');
  const { DotStuffer } = await import('../../core/dot-stuffing.js');
  const line = fc.stringMatching(/^[.a-z \t]{0,12}$/);
  fc.assert(
    fc.property(fc.array(line, { maxLength: 8 }), fc.nat(200), (lines, cut) => {
      const msg = lines.map((l) => l + '\r\n').join('');
      const st = new DotStuffer();
      const wire = Buffer.concat([b('DATA\r\n'), st.push(b(msg)), st.end(), b('NOOP\r\n')]);
      const k = 1 + (cut % Math.max(1, wire.length - 1));
      const got = frame([wire.subarray(0, k), wire.subarray(k)], 64, 1 << 20);
      assert.equal(got[1]!.replace(/ size=.*$/, ''), `D:${JSON.stringify(msg)}`);
      assert.equal(got[2], 'L:NOOP');
    }),
  );
});
