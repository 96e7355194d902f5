// The POP3 framers: command/status lines and the dot-terminated multi-line body. Lines must come out the same for
// any split and add up to the input; the body decoder must find the same end for any split, and undo exactly the
// stuffing that encodeMultiline adds.
import { DotDecoder, LINE_TOO_LONG, LineFramer, encodeMultiline } from '../../src/protocols/pop3/framer.js';
import { check, sameForEverySplit, type Target } from '../target.js';

const MAX_LINE = 64;

function lines(chunks: Buffer[]): unknown[] {
  const f = new LineFramer(MAX_LINE);
  const out: unknown[] = [];
  for (const c of chunks) {
    f.push(c);
    for (let l = f.next(); l !== null; l = f.next()) out.push(l === LINE_TOO_LONG ? 'too-long' : l.bytes);
  }
  out.push({ rest: f.drain() });
  return out;
}

function body(chunks: Buffer[]): unknown[] {
  const d = new DotDecoder();
  const out: Buffer[] = [];
  let used = 0;
  for (const c of chunks) {
    const r = d.push(c);
    out.push(...r.out);
    used += r.used;
    if (r.done) return [Buffer.concat(out), used, true];
  }
  return [Buffer.concat(out), used, false];
}

const target: Target = {
  name: 'pop3-framer',
  focus: ['src/protocols/pop3/framer.ts', 'src/core/line-framer.ts'],
  maxLen: 4096,
  tokens: ['\r\n', '\n', '\r', '.\r\n', '\r\n.\r\n', '..', '+OK ', '-ERR ', 'RETR 1\r\n', 'TOP 1 0\r\n', 'STLS\r\n'],
  run(input) {
    sameForEverySplit(input, lines, 'LineFramer');
    const ls = lines([input]);
    if (!ls.includes('too-long')) {
      // Nothing lost or duplicated: the lines and the rest are the input.
      const parts = ls.map((u) => (Buffer.isBuffer(u) ? u : (u as { rest: Buffer }).rest));
      check(Buffer.concat(parts).equals(input), 'LineFramer lines do not add up to the input');
    }
    sameForEverySplit(input, body, 'DotDecoder');
    const [, used, done] = body([input]) as [Buffer, number, boolean];
    check(used <= input.length && (done || used === input.length), 'DotDecoder used more or less than it was given');
    // Round trip: a notice encoded by encodeMultiline decodes to its CRLF lines, with the terminator found exactly
    // at its end (a smuggled ".\r\n" inside the notice would end it early).
    const text = input.toString('latin1').replace(/\r/g, ' ');
    const wantLines = text.split('\n');
    if (wantLines[wantLines.length - 1] === '') wantLines.pop();
    const want = Buffer.from(wantLines.map((l) => l + '\r\n').join(''), 'latin1');
    const enc = encodeMultiline(Buffer.from(text, 'latin1'));
    const [dec, encUsed, encDone] = body([enc]) as [Buffer, number, boolean];
    check(encDone && encUsed === enc.length, 'encoded notice terminator not found exactly at its end');
    check(dec.equals(want), 'encodeMultiline then DotDecoder does not give the notice back');
  },
};
export default target;
