import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cachedVerdict, scanFailureText, VerdictCache } from './verdict-cache.js';

test('no key while a mailbox change is unanswered; the key names mailbox and UIDVALIDITY', () => {
  const c = new VerdictCache();
  assert.equal(c.epochKey(), null, 'nothing selected');
  c.mailboxChangeSent();
  assert.equal(c.epochKey(), null, 'SELECT sent, not answered');
  c.selectAnswered(true, 'inbox', 7);
  const inbox7 = c.epochKey();
  assert.ok(inbox7);
  c.mailboxChangeSent();
  c.selectAnswered(true, 'inbox', 8);
  assert.notEqual(c.epochKey(), inbox7, 'a new UIDVALIDITY is a new key');
  c.mailboxChangeSent();
  assert.equal(c.epochKey(), null, 'CLOSE sent');
  c.closeAnswered(true);
  assert.equal(c.epochKey(), null, 'nothing selected after CLOSE');
  c.mailboxChangeSent();
  c.selectAnswered(false, 'other', null);
  assert.equal(c.epochKey(), null, 'a refused SELECT selects nothing');
});

test('remember keeps the most recent 2000 verdicts', () => {
  const c = new VerdictCache();
  c.mailboxChangeSent();
  c.selectAnswered(true, 'inbox', 1);
  const e = c.epochKey()!;
  for (let uid = 1; uid <= 2001; uid++) c.remember(c.key(e, uid), { kind: 'clean' });
  assert.equal(c.get(c.key(e, 1)), undefined, 'the oldest went');
  assert.deepEqual(c.get(c.key(e, 2)), { kind: 'clean' });
  c.remember(c.key(e, 2), { kind: 'clean' }); // refreshed: now the newest
  c.remember(c.key(e, 2002), { kind: 'clean' });
  assert.ok(c.get(c.key(e, 2)), 'a refreshed verdict stays');
  assert.equal(c.get(c.key(e, 3)), undefined);
});

test('only release and replace decide later reads', () => {
  const verdict = { kind: 'error', engine: 'clamd', reason: 'down' } as const;
  assert.deepEqual(cachedVerdict({ action: 'release', verdict: { kind: 'clean' } }), { kind: 'clean' });
  assert.equal(cachedVerdict({ action: 'tempfail', verdict, reason: 'clamd down' }), null);
  assert.match(scanFailureText({ action: 'tempfail', verdict, reason: 'clamd down' }), /\(clamd down\); try again/);
});
