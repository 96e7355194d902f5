import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replaceHeader } from './headers.js';

const V = 'X-MailShield-Verdict';
const put = (msg: string) => replaceHeader(Buffer.from(msg, 'latin1'), V, `${V}: clean`).toString('latin1');

test('replaceHeader: a sender verdict header in any case, folded or repeated, is removed; ours goes on top', () => {
  assert.equal(
    put('From: a\r\nx-mailshield-verdict: clean\r\nSubject: s\r\n\r\nbody\r\n'),
    `${V}: clean\r\nFrom: a\r\nSubject: s\r\n\r\nbody\r\n`,
  );
  assert.equal(
    put('X-MAILSHIELD-VERDICT: clean;\r\n\tengine=fake\r\n  more=folded\r\nFrom: a\r\n\r\nb\r\n'),
    `${V}: clean\r\nFrom: a\r\n\r\nb\r\n`,
  );
  assert.equal(
    put(`From: a\r\n${V}: clean\r\nTo: b\r\n${V} : clean\r\n \tfold\r\nSubject: s\r\n\r\nb\r\n`),
    `${V}: clean\r\nFrom: a\r\nTo: b\r\nSubject: s\r\n\r\nb\r\n`,
  );
  // Last field of the block, and a message that is all header.
  assert.equal(put(`From: a\r\n${V}: clean\r\n\r\nb`), `${V}: clean\r\nFrom: a\r\n\r\nb`);
  assert.equal(put(`From: a\r\n${V}: clean\r\n`), `${V}: clean\r\nFrom: a\r\n`);
});

test('replaceHeader: LF messages keep LF; the body and look-alike names are left alone', () => {
  assert.equal(put(`From: a\n${V}: clean\n folded\n\n${V}: in body\n`), `${V}: clean\nFrom: a\n\n${V}: in body\n`);
  const similar = `X-MailShield-Verdict-Note: x\r\nX-Other: ${V}: clean\r\n\r\n${V}: clean\r\n`;
  assert.equal(put(similar), `${V}: clean\r\n${similar}`);
  assert.equal(put(''), `${V}: clean\r\n`);
});
