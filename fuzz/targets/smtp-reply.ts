// Server replies: the shield's SMTP ReplyFramer (multi-line "250-..." replies) and the probe's ReplyReader (every
// protocol's reply shapes). Replies must not depend on the split, and the framed replies must be the input.
import { ReplyReader, ReplyTooLong, type ReplyShape } from '../../src/protocols/mail-dialog.js';
import { ReplyFramer } from '../../src/protocols/smtp/framer.js';
import { check, sameForEverySplit, type Target } from '../target.js';

const SHAPES: ReplyShape[] = [
  { kind: 'smtp' },
  { kind: 'pop3-multi' },
  { kind: 'imap-tagged', tag: 'a1' },
  { kind: 'line' },
];

function framed(chunks: Buffer[]): unknown[] {
  const f = new ReplyFramer(100);
  const out: unknown[] = [];
  for (const c of chunks) {
    f.push(c);
    for (let u = f.next(); u !== null; u = f.next()) {
      out.push(u);
      // The session stops at a framing error (it answers 421 and closes).
      if (u.type === 'error') return out;
    }
  }
  return out;
}

function probe(shape: ReplyShape) {
  return (chunks: Buffer[]): unknown[] => {
    const r = new ReplyReader();
    const out: unknown[] = [];
    try {
      for (const c of chunks) {
        r.push(c);
        for (let rep = r.next(shape); rep !== null; rep = r.next(shape)) out.push(rep.lines);
      }
      out.push({ rest: r.takeRest() });
    } catch (e) {
      if (!(e instanceof ReplyTooLong)) throw e;
      out.push('too-long');
    }
    return out;
  };
}

const target: Target = {
  name: 'smtp-reply',
  focus: ['src/protocols/smtp/framer.ts', 'src/protocols/mail-dialog.ts', 'src/core/line-framer.ts'],
  maxLen: 4096,
  tokens: [
    '\r\n',
    '250-',
    '250 ',
    '220 ',
    '354 ',
    '421 4.7.0 ',
    '+OK ',
    '-ERR ',
    '.\r\n',
    'a1 OK ',
    '* CAPABILITY ',
    'STARTTLS',
    'PIPELINING',
  ],
  run(input) {
    sameForEverySplit(input, framed, 'ReplyFramer');
    const units = framed([input]) as { type: string; reply?: { code: number; raw: Buffer; lines: string[] } }[];
    const replies = units.filter((u) => u.type === 'reply').map((u) => u.reply!);
    // Nothing lost or duplicated: the replies relayed are the input's first bytes, in order.
    const raw = Buffer.concat(replies.map((r) => r.raw));
    check(raw.equals(input.subarray(0, raw.length)), 'relayed replies are not the bytes received');
    for (const r of replies) check(r.code >= 0 && r.code <= 999 && r.lines.length > 0, `bad reply ${r.code}`);
    for (const shape of SHAPES) sameForEverySplit(input, probe(shape), `ReplyReader(${shape.kind})`);
  },
};
export default target;
