// Overlap across messages for SMTP PIPELINING (issue 15), against a real Postfix: the client ends message 1 and
// sends the next transaction's MAIL, RCPT and DATA in the same write (RFC 2920). The shield sends message 1 up after
// its verdict with MAIL 2 and RCPT 2 right behind its end (src/protocols/smtp/overlap.test.ts has the transcript);
// Postfix must take that group, the client must get every reply in command order, and both messages must arrive.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  deliveredWith,
  rawConnect,
  shieldFor,
  startPostfix,
  type PostfixServer,
  type ShieldSetup,
} from './fixtures/postfix.js';
import { needs } from './fixtures/util.js';

const opts = needs('postfix', 'dovecot', 'openssl');

describe('SMTP overlap through the shield against Postfix', opts, () => {
  let pf: PostfixServer;
  let s: ShieldSetup;

  before(async () => {
    pf = await startPostfix();
    s = await shieldFor(pf);
  });
  after(async () => {
    await s?.shield.stop();
    await pf?.stop();
  });

  test('"." and the next MAIL/RCPT/DATA in one write: replies in order, both messages delivered', async () => {
    const sock = await rawConnect(s.port('sub465'), true, s.shield.ca.certPem);
    try {
      await sock.read(/^220 .*\r\n/m);
      sock.write('EHLO c.test\r\n');
      assert.match(await sock.read(/^250 .*\r\n/m), /PIPELINING/);
      sock.write(`AUTH PLAIN ${Buffer.from(`\0${pf.user}\0${pf.password}`).toString('base64')}\r\n`);
      await sock.read(/^235 .*\r\n/m);
      const stamp = Date.now();
      const txn = `MAIL FROM:<${pf.user}>\r\nRCPT TO:<${pf.user}>\r\nDATA\r\n`;
      sock.write(txn);
      await sock.read(/^354 .*\r\n/m);
      sock.write(`Subject: overlap-1-${stamp}\r\n\r\n..first body\r\n.\r\n${txn}`);
      const batch = await sock.read(/^354 .*\r\n/m);
      const codes = batch
        .split('\r\n')
        .filter(Boolean)
        .map((l) => l.slice(0, 3));
      assert.deepEqual(codes, ['250', '250', '250', '354'], batch);
      assert.match(batch, /^250 2\.0\.0 Ok: queued as /, "message 1's final reply is Postfix's, and first");
      sock.write(`Subject: overlap-2-${stamp}\r\n\r\nsecond body\r\n.\r\nQUIT\r\n`);
      assert.match(await sock.read(/^221 .*\r\n/m), /^250 2\.0\.0 Ok: queued as .*\r\n221 /m);
      assert.match(await deliveredWith(pf, `overlap-1-${stamp}`), /\n\.first body\n/);
      assert.match(await deliveredWith(pf, `overlap-2-${stamp}`), /\nsecond body\n/);
    } finally {
      sock.close();
    }
  });
});
