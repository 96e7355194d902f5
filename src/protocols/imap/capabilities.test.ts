import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilitiesIn, rewriteCapabilities, rewriteCapabilityLine } from './capabilities.js';

test('STARTTLS and LOGINDISABLED follow the client leg; COMPRESS and CATENATE go; the rest passes', () => {
  const caps = [
    'IMAP4rev1',
    'STARTTLS',
    'LOGINDISABLED',
    'COMPRESS=DEFLATE',
    'CATENATE',
    'IDLE',
    'LITERAL+',
    'QRESYNC',
  ];
  assert.deepEqual(rewriteCapabilities(caps, { offerStartTls: false }), ['IMAP4rev1', 'IDLE', 'LITERAL+', 'QRESYNC']);
  assert.deepEqual(rewriteCapabilities(['IMAP4rev1'], { offerStartTls: true }), [
    'IMAP4rev1',
    'STARTTLS',
    'LOGINDISABLED',
  ]);
});

test('every place a list appears is rewritten, nothing else on the line changes', () => {
  const leg = { offerStartTls: false };
  assert.equal(
    rewriteCapabilityLine('* CAPABILITY IMAP4rev1 STARTTLS IDLE\r\n', leg),
    '* CAPABILITY IMAP4rev1 IDLE\r\n',
  );
  assert.equal(
    rewriteCapabilityLine('* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] Dovecot ready.\r\n', leg),
    '* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n',
  );
  assert.equal(
    rewriteCapabilityLine('a1 OK [CAPABILITY IMAP4rev1 LOGINDISABLED ID] Logged in\r\n', { offerStartTls: true }),
    'a1 OK [CAPABILITY IMAP4rev1 ID STARTTLS LOGINDISABLED] Logged in\r\n',
  );
  assert.equal(rewriteCapabilityLine('* OK [UIDVALIDITY 3] x\r\n', leg), '* OK [UIDVALIDITY 3] x\r\n');
  assert.equal(capabilitiesIn('* OK no list\r\n'), null);
  assert.deepEqual(capabilitiesIn('* CAPABILITY\r\n'), []);
});
