import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandHead, mailboxKey, partialCounts } from './command.js';

test('commandHead: tag and verb, UID commands', () => {
  assert.deepEqual(commandHead('a1 login user pass\r\n'), { tag: 'a1', verb: 'LOGIN' });
  assert.deepEqual(commandHead('x.2 uid fetch 1:* (FLAGS)\r\n'), { tag: 'x.2', verb: 'UID FETCH' });
  assert.deepEqual(commandHead('A3 IDLE\r\n'), { tag: 'A3', verb: 'IDLE' });
  assert.equal(commandHead('DONE\r\n'), null);
  assert.equal(commandHead('\r\n'), null);
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
