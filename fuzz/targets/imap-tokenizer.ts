// The IMAP tokenizer: line fragments and literal content, either direction. Tokens must not depend on the split, and
// every byte must come out exactly once, in order (the session relays them).
import { ImapTokenizer, type Token } from '../../src/protocols/imap/tokenizer.js';
import { check, sameForEverySplit, type Target } from '../target.js';

const LIMITS = { maxLineBytes: 120, maxLiteralBytes: 600 };

function tokens(chunks: Buffer[]): unknown[] {
  const t = new ImapTokenizer(LIMITS);
  const out: Token[] = [];
  for (const c of chunks) {
    t.push(c);
    for (let k = t.next(); k !== null; k = t.next()) out.push(k);
  }
  // Literal content arrives in as-found pieces: join each literal's pieces.
  const merged: unknown[] = [];
  let lit: Buffer[] = [];
  for (const k of out) {
    if (k.type === 'literal') {
      lit.push(k.data);
      if (k.last) {
        merged.push({ literal: Buffer.concat(lit) });
        lit = [];
      }
    } else merged.push(k);
  }
  if (lit.length) merged.push({ partialLiteral: Buffer.concat(lit) });
  merged.push({ inLiteral: t.inLiteral, rest: t.drain() });
  return merged;
}

const target: Target = {
  name: 'imap-tokenizer',
  focus: ['src/protocols/imap/tokenizer.ts'],
  maxLen: 4096,
  tokens: [
    '\r\n',
    '{5}\r\n',
    '{0}\r\n',
    '{5+}\r\n',
    '~{3}\r\n',
    '{99999999999999999999}\r\n',
    '{601}\r\n',
    '* 1 FETCH (',
    'BODY[] ',
    'a1 APPEND INBOX ',
    ')\r\n',
    '"',
    '\\',
  ],
  run(input) {
    sameForEverySplit(input, tokens, 'ImapTokenizer');
    const units = tokens([input]);
    if (units.some((u) => (u as Token).type === 'error')) return;
    const bytes = units.map((u) => {
      const x = u as { data?: Buffer; literal?: Buffer; partialLiteral?: Buffer; rest?: Buffer };
      return x.data ?? x.literal ?? x.partialLiteral ?? x.rest ?? Buffer.alloc(0);
    });
    check(Buffer.concat(bytes).equals(input), 'tokens do not add up to the input (a byte lost or duplicated)');
    for (const u of units) {
      const k = u as Token;
      if (k.type !== 'line' || !k.literal) continue;
      check(
        k.literal.markerOffset < k.data.length && k.data[k.literal.markerOffset] !== undefined,
        'marker offset outside the line',
      );
      check(k.literal.tooLarge === !(k.literal.size <= LIMITS.maxLiteralBytes), 'tooLarge disagrees with the size');
    }
  },
};
export default target;
