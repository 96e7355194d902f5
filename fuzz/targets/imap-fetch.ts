// The FETCH item parser: which item a literal belongs to and the message's UID, read from response text arriving
// fragment by fragment. A UID inside ENVELOPE or a quoted string must never be taken for the message's UID (the
// verdict cache is keyed by it), and the answer must not depend on how the text was cut.
import { FetchItemParser, contentItem, fetchStart, noticePart } from '../../src/protocols/imap/fetch.js';
import { check, sameForEverySplit, type Target } from '../target.js';

function parse(chunks: Buffer[]): unknown[] {
  const text = Buffer.concat(chunks).toString('latin1');
  const start = fetchStart(text);
  if (!start) return ['not-fetch'];
  const p = new FetchItemParser();
  // Feed the text after the prefix in the pieces the chunking cuts it into, as fragments arrive from the tokenizer.
  let off = 0;
  let fed = start.prefixLength;
  for (const c of chunks) {
    off += c.length;
    if (off <= fed) continue;
    p.feed(text.slice(fed, off));
    fed = off;
  }
  return [start.msn, p.names, p.uid, p.complete];
}

const target: Target = {
  name: 'imap-fetch',
  focus: ['src/protocols/imap/fetch.ts'],
  maxLen: 2048,
  tokens: [
    '* 1 FETCH (',
    'UID ',
    'UID 9 ',
    'BODY[] ',
    'BODY[1.2]<0> ',
    'BINARY[] ',
    'RFC822 ',
    'ENVELOPE (',
    'FLAGS (\\Seen) ',
    '"x UID 9"',
    '\\"',
    '(',
    ')',
    '[',
    ']',
    '{',
  ],
  run(input) {
    const text = input.toString('latin1');
    const start = fetchStart(text);
    if (!start) return;
    const p = new FetchItemParser();
    p.feed(text.slice(start.prefixLength));
    for (const n of p.names) {
      check(n.length > 0 && !/[\r\n]/.test(n), `bad item name ${JSON.stringify(n)}`);
      const item = contentItem(n);
      if (item) {
        const part = noticePart(Buffer.from('Subject: x\r\n\r\nbody\r\n'), item, 3);
        check(part.length <= 21, 'notice part longer than the notice');
      }
    }
    // A UID only ever comes from a top-level UID item. (Whether that item was really top level is fetch.test.ts's
    // job: two reference readings tried here disagreed with the parser only where the reference was wrong.)
    if (p.uid !== null) check(p.names.includes('UID'), 'a UID without a top-level UID item');
    sameForEverySplit(input, parse, 'FetchItemParser');
  },
};
export default target;
