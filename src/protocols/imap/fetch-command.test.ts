import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planFetch } from './fetch-command.js';

const line = (l: string) => planFetch(l)?.line;

test('planFetch: UID added to sequence-number fetches of content or description, lists, single items, macros', () => {
  assert.equal(line('a FETCH 1:3 (BODY.PEEK[]<0.100>)\r\n'), 'a FETCH 1:3 (UID BODY.PEEK[]<0.100>)\r\n');
  assert.equal(
    line('a FETCH 2 BODY.PEEK[HEADER.FIELDS (FROM TO)] (CHANGEDSINCE 5)\r\n'),
    'a FETCH 2 (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO)]) (CHANGEDSINCE 5)\r\n',
  );
  assert.equal(line('a FETCH 1 (UID BODY.PEEK[])\r\n'), 'a FETCH 1 (UID BODY.PEEK[])\r\n', 'already there');
  assert.equal(line('a FETCH 1:* (FLAGS)\r\n'), 'a FETCH 1:* (FLAGS)\r\n', 'nothing to do');
  assert.equal(line('a FETCH 1 ALL\r\n'), 'a FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)\r\n');
  assert.equal(line('a UID FETCH 1 (BODY.PEEK[])\r\n'), 'a UID FETCH 1 (BODY.PEEK[])\r\n', 'UID FETCH has UID');
  assert.equal(planFetch('a NOOP\r\n'), null);
});

test('planFetch: content is fetched with PEEK; RFC822 and RFC822.TEXT renamed back; FLAGS added to see \\Seen', () => {
  const p = planFetch('a UID FETCH 5 (BODY[] BINARY[2] FLAGS)\r\n')!;
  assert.equal(p.line, 'a UID FETCH 5 (BODY.PEEK[] BINARY.PEEK[2] FLAGS)\r\n');
  assert.ok(p.setsSeen && !p.describes);
  const r = planFetch('a FETCH 1 RFC822\r\n')!;
  assert.equal(r.line, 'a FETCH 1 (UID FLAGS BODY.PEEK[])\r\n');
  assert.deepEqual([...r.renames], [['BODY[]', 'RFC822']]);
  const t = planFetch('a UID FETCH 1 (RFC822.HEADER RFC822.TEXT)\r\n')!;
  assert.equal(t.line, 'a UID FETCH 1 (FLAGS RFC822.SIZE RFC822.HEADER BODY.PEEK[TEXT])\r\n');
  assert.deepEqual([...t.renames], [['BODY[TEXT]', 'RFC822.TEXT']]);
  assert.ok(t.setsSeen && t.describes);
  // A non-peek header section sets \Seen too (RFC 3501 6.4.5).
  assert.ok(planFetch('a UID FETCH 1 (BODY[HEADER])\r\n')!.setsSeen);
  const peek = planFetch('a UID FETCH 1 (BODY.PEEK[] RFC822.HEADER)\r\n')!;
  assert.ok(!peek.setsSeen, 'PEEK and RFC822.HEADER never set \\Seen');
  // RFC822 next to BODY[] would be indistinguishable in the response: left alone.
  const both = planFetch('a UID FETCH 1 (RFC822 BODY.PEEK[])\r\n')!;
  assert.equal(both.line, 'a UID FETCH 1 (RFC822 BODY.PEEK[])\r\n', 'the server sets \\Seen itself then');
  assert.equal(both.renames.size, 0);
  assert.ok(!both.setsSeen);
});
