// The SMTP client framer: command lines, then the DATA dot stream. The driver plays the session (a DATA line
// switches to data mode, as the 354 reply does). Units must not depend on the split, and a message must come out
// exactly as a plain reference reading of the same bytes says (the rules of data-decoder.ts, one line at a time): it
// ends only at a "." line with a real CRLF before and after it, bare LF/CR become CRLF, NULs go, a stuffing dot goes.
import { ClientFramer, type ClientUnit } from '../../src/protocols/smtp/framer.js';
import { check, describe, sameForEverySplit, type Target } from '../target.js';

const MAX_LINE = 80;
const MAX_DATA = 2000;

function frame(chunks: Buffer[]): ClientUnit[] {
  const f = new ClientFramer(MAX_LINE);
  const units: ClientUnit[] = [];
  for (const c of chunks) {
    f.push(c);
    for (let u = f.next(); u !== null; u = f.next()) {
      units.push(u);
      if (u.type === 'line' && /^DATA/i.test(u.line.toString('latin1'))) f.startData(MAX_DATA, 'normalize');
    }
  }
  // Data units are as-found slices: join each message's into one. Data streams before the size cap is known, and
  // the session then discards it, so only accepted, complete messages keep their data.
  const merged: ClientUnit[] = [];
  let data: Buffer[] = [];
  for (const u of units) {
    if (u.type === 'data') {
      data.push(u.data);
      continue;
    }
    if (u.type === 'data-end' && !u.tooBig) merged.push({ type: 'data', data: Buffer.concat(data) });
    data = [];
    merged.push(u);
  }
  return merged;
}

/** One message's rules, one line at a time, over the bytes after DATA; null while its end has not arrived. */
function referenceMessage(rest: string): { msg: string; consumed: number } | null {
  let out = '';
  let prevCrlf = true;
  let pos = 0;
  for (;;) {
    const tail = rest.slice(pos);
    const e = tail.search(/[\r\n]/);
    if (e < 0) return null;
    const term = tail[e] === '\n' ? 'LF' : tail[e + 1] === '\n' ? 'CRLF' : tail[e + 1] === undefined ? null : 'CR';
    if (term === null) return null;
    const raw = tail.slice(0, e);
    const len = e + (term === 'CRLF' ? 2 : 1);
    if (raw === '.' && term === 'CRLF' && prevCrlf) return { msg: out, consumed: pos + len };
    let line = raw.replace(/\0/g, '');
    if (line.length > 1 && line.startsWith('.')) line = line.slice(1);
    out += `${line}\r\n`;
    prevCrlf = term === 'CRLF';
    pos += len;
  }
}

/** The reference reading: LF-terminated command lines; after DATA, the message rules above. */
function reference(input: Buffer): { messages: Buffer[]; lines: string[] } {
  const messages: Buffer[] = [];
  const lines: string[] = [];
  let pos = 0;
  while (pos < input.length) {
    const lf = input.indexOf(0x0a, pos);
    if (lf < 0) break;
    const seg = input.subarray(pos, lf + 1);
    pos = lf + 1;
    if (seg.length > MAX_LINE) {
      lines.push('too-long');
      continue;
    }
    const text = seg.toString('latin1').replace(/\r?\n$/, '');
    lines.push(text);
    if (!/^DATA/i.test(text)) continue;
    const m = referenceMessage(input.subarray(pos).toString('latin1'));
    if (!m) break;
    messages.push(Buffer.from(m.msg, 'latin1'));
    pos += m.consumed;
  }
  return { messages, lines };
}

const target: Target = {
  name: 'smtp-framer',
  focus: ['src/protocols/smtp/framer.ts', 'src/protocols/smtp/data-decoder.ts', 'src/core/line-framer.ts'],
  maxLen: 4096,
  tokens: [
    '\r\n',
    '\n',
    '\r',
    '.\r\n',
    '\r\n.\r\n',
    '..',
    'DATA\r\n',
    'MAIL FROM:<a@b>\r\n',
    'RCPT TO:<c@d>\r\n',
    'BDAT 10 LAST\r\n',
    'QUIT\r\n',
  ],
  run(input) {
    sameForEverySplit(input, frame, 'ClientFramer');
    const units = frame([input]);
    const ref = reference(input);
    // Command lines (complete ones) in order, as the reference reads them.
    const got = units
      .filter((u) => u.type === 'line' || u.type === 'line-too-long')
      .map((u) => (u.type === 'line' ? u.line.toString('latin1') : 'too-long'));
    check(
      describe(got.slice(0, ref.lines.length)) === describe(ref.lines),
      `command lines differ: ${describe(got).slice(0, 200)} vs ${describe(ref.lines).slice(0, 200)}`,
    );
    // Every complete, accepted message is exactly the reference's bytes; nothing lost, nothing duplicated.
    let m = 0;
    let acc: Buffer[] = [];
    for (const u of units) {
      if (u.type === 'data') acc = [u.data];
      if (u.type !== 'data-end') continue;
      const want = ref.messages[m++];
      check(want !== undefined, 'a data-end the reference does not see');
      check(u.size === want.length, `data-end size ${u.size}, reference ${want.length}`);
      if (!u.tooBig) check(Buffer.concat(acc).equals(want), 'message bytes differ from the reference');
      check(u.tooBig === u.size > MAX_DATA, 'tooBig disagrees with the size');
      acc = [];
    }
    check(m === ref.messages.length, `${m} messages framed, the reference reads ${ref.messages.length}`);
  },
};
export default target;
