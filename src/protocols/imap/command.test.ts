import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addUidToFetch, commandHead, mailboxKey, partialCounts } from './command.js';

test('commandHead: tag and verb, UID commands', () => {
  assert.deepEqual(commandHead('a1 login user pass\r\n'), { tag: 'a1', verb: 'LOGIN' });
  assert.deepEqual(commandHead('x.2 uid fetch 1:* (FLAGS)\r\n'), { tag: 'x.2', verb: 'UID FETCH' });
  assert.deepEqual(commandHead('A3 IDLE\r\n'), { tag: 'A3', verb: 'IDLE' });
  assert.equal(commandHead('DONE\r\n'), null);
  assert.equal(commandHead('\r\n'), null);
});

test('addUidToFetch: lists, single items, macros and UID FETCH', () => {
  assert.equal(addUidToFetch('a FETCH 1:3 (BODY.PEEK[]<0.100>)\r\n'), 'a FETCH 1:3 (UID BODY.PEEK[]<0.100>)\r\n');
  assert.equal(addUidToFetch('a FETCH 1 RFC822\r\n'), 'a FETCH 1 (UID RFC822)\r\n');
  assert.equal(
    addUidToFetch('a FETCH 2 BODY.PEEK[HEADER.FIELDS (FROM TO)] (CHANGEDSINCE 5)\r\n'),
    'a FETCH 2 (UID BODY.PEEK[HEADER.FIELDS (FROM TO)]) (CHANGEDSINCE 5)\r\n',
  );
  assert.equal(addUidToFetch('a FETCH 1 (UID BODY[])\r\n'), null, 'already there');
  assert.equal(addUidToFetch('a FETCH 1:* (FLAGS RFC822.SIZE)\r\n'), null, 'no content');
  assert.equal(addUidToFetch('a FETCH 1 ALL\r\n'), null, 'macros cannot be put in a list');
  assert.equal(addUidToFetch('a UID FETCH 1 (BODY[])\r\n'), null, 'UID FETCH answers with UID anyway');
});

test('partialCounts and mailboxKey', () => {
  const m = partialCounts('a UID FETCH 5 (BODY.PEEK[]<0.65536> binary.peek[1.2]<10.20> BODY[HEADER])');
  assert.deepEqual(
    [...m],
    [
      ['BODY[]', 65536],
      ['BINARY[1.2]', 20],
    ],
  );
  assert.equal(mailboxKey('a SELECT "Sent Items" (CONDSTORE)\r\n'), '"Sent Items"');
  assert.equal(mailboxKey('a SELECT INBOX\r\n'), 'INBOX');
});
