import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentItem, fetchStart, FetchItemParser, noticePart } from './fetch.js';

test('contentItem: content sections, partials and what is not content', () => {
  assert.deepEqual(contentItem('BODY[]'), { kind: 'BODY', section: '', origin: null, full: true });
  assert.deepEqual(contentItem('RFC822'), { kind: 'RFC822', section: '', origin: null, full: true });
  assert.deepEqual(contentItem('BINARY[]'), { kind: 'BINARY', section: '', origin: null, full: true });
  assert.deepEqual(contentItem('BODY[]<0>'), { kind: 'BODY', section: '', origin: 0, full: false });
  assert.deepEqual(contentItem('BODY[1.2]'), { kind: 'BODY', section: '1.2', origin: null, full: false });
  assert.deepEqual(contentItem('BINARY[2]<100>'), { kind: 'BINARY', section: '2', origin: 100, full: false });
  assert.equal(contentItem('BODY[TEXT]')?.full, false);
  assert.equal(contentItem('RFC822.TEXT')?.section, 'TEXT');
  assert.equal(contentItem('BODY[3.TEXT]')?.section, '3.TEXT');
  for (const name of [
    'BODY[HEADER]',
    'BODY[HEADER.FIELDS (FROM)]',
    'BODY[1.MIME]',
    'RFC822.HEADER',
    'BODYSTRUCTURE',
    'ENVELOPE',
    'UID',
  ])
    assert.equal(contentItem(name), null, name);
});

test('FetchItemParser: names, UID, and literals only at the top level, across fragments', () => {
  const line =
    '* 12 FETCH (FLAGS (\\Seen $X) ENVELOPE ("d" "sub UID 99 )" (("a" NIL "b" "c")) NIL) BODY[HEADER.FIELDS (FROM TO)] ';
  const start = fetchStart(line);
  assert.deepEqual(start, { msn: 12, prefixLength: 12 });
  const p = new FetchItemParser();
  p.feed(line.slice(start!.prefixLength));
  assert.equal(p.literal(), 'BODY[HEADER.FIELDS (FROM TO)]');
  p.feed(' UID 7 BODY[]<0> ');
  assert.equal(p.literal(), 'BODY[]<0>');
  p.feed(')\r\n');
  assert.equal(p.uid, 7, 'the UID inside the quoted subject is not taken');
  assert.ok(p.complete);
  assert.deepEqual(p.names, ['FLAGS', 'ENVELOPE', 'BODY[HEADER.FIELDS (FROM TO)]', 'UID', 'BODY[]<0>']);

  const nested = new FetchItemParser();
  nested.feed('ENVELOPE (NIL ');
  assert.equal(nested.literal(), null, 'a literal inside ENVELOPE belongs to no item');
  nested.feed(' NIL) UID 3)');
  assert.equal(nested.uid, 3);
});

test('FetchItemParser: fed one character at a time gives the same result', () => {
  const text = 'UID 42 FLAGS (\\Flagged) X-GM-LABELS ("a \\"b\\" (c") BODY[1] ';
  const p = new FetchItemParser();
  for (const ch of text) p.feed(ch);
  assert.equal(p.literal(), 'BODY[1]');
  assert.equal(p.uid, 42);
});

test('noticePart: the whole notice, its body for any part, ranges of either', () => {
  const notice = Buffer.from('Subject: x\r\n\r\nbody text\r\n');
  const whole = contentItem('BODY[]')!;
  assert.equal(noticePart(notice, whole, null).toString(), notice.toString());
  assert.equal(noticePart(notice, contentItem('BODY[2]')!, null).toString(), 'body text\r\n');
  assert.equal(noticePart(notice, contentItem('BODY[TEXT]')!, null).toString(), 'body text\r\n');
  assert.equal(noticePart(notice, contentItem('BODY[]<3>')!, 4).toString(), 'ject');
  assert.equal(noticePart(notice, contentItem('BODY[1]<5>')!, 100).toString(), 'text\r\n');
  assert.equal(noticePart(notice, contentItem('BODY[]<500>')!, 10).length, 0, 'past the end is empty');
});
