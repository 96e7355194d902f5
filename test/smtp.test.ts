// The SMTP shield end to end: nodemailer (a real client) → mailshield → a real Postfix with Dovecot SASL, delivering
// into a Maildir. Both submission variants: 587 (STARTTLS on both legs) and 465 (implicit TLS on both legs).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  deliveredWith,
  rawConnect,
  sendOn,
  shieldFor,
  startPostfix,
  submitter,
  type Conn,
  type PostfixServer,
  type ShieldSetup,
} from './fixtures/postfix.js';
import { eicar, needs } from './fixtures/util.js';

const opts = needs('postfix', 'dovecot', 'openssl');

function quit(c: Conn): Promise<void> {
  return new Promise((resolve) => {
    c.once('end', () => resolve());
    c.quit();
    setTimeout(resolve, 2000).unref();
  });
}

/** A message with a marker, a dot-leading line, 8-bit text and long lines: the body must arrive byte for byte. */
function cleanMessage(marker: string): { message: string; body: string } {
  const body =
    `Hello ${marker}\r\n` +
    '.a line that starts with a dot\r\n' +
    '..two dots\r\n' +
    '.\r\n' +
    `${'x'.repeat(900)}\r\n` +
    'tabs\tand  spaces  \r\n' +
    '\r\n' +
    'end\r\n';
  const message =
    `From: ${'user@example.test'}\r\nTo: user@example.test\r\nSubject: ${marker}\r\nMessage-ID: <${marker}@test>\r\n` +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n' +
    body;
  return { message, body };
}

function eicarMessage(marker: string): string {
  const b64 = Buffer.from(eicar()).toString('base64');
  return (
    `From: user@example.test\r\nTo: user@example.test\r\nSubject: ${marker}\r\nMIME-Version: 1.0\r\n` +
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n' +
    '--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n' +
    '--b1\r\nContent-Type: application/octet-stream; name="eicar.com"\r\n' +
    'Content-Disposition: attachment; filename="eicar.com"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
    `${b64}\r\n--b1--\r\n`
  );
}

function bodyOf(msg: string): string {
  return msg.slice(msg.indexOf('\r\n\r\n') >= 0 ? msg.indexOf('\r\n\r\n') + 4 : msg.indexOf('\n\n') + 2);
}

describe('SMTP shield against a real Postfix', opts, () => {
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

  for (const variant of [
    { name: '587 STARTTLS', account: 'sub587', secure: false },
    { name: '465 implicit TLS', account: 'sub465', secure: true },
  ]) {
    test(`${variant.name}: clean message delivered byte-identical in body; EICAR refused 554 and quarantined; next message on the same session delivered`, async () => {
      const c = await submitter(s.port(variant.account), variant.secure, s.shield.ca.certPem, pf);
      try {
        const m1 = `clean-${variant.account}-${Date.now()}`;
        const { message, body } = cleanMessage(m1);
        const r1 = await sendOn(c, pf.user, pf.user, message);
        assert.ok(r1.ok, JSON.stringify(r1));
        // The final reply is Postfix's own.
        assert.match(r1.response!, /^250 2\.0\.0 Ok: queued as /);
        const got = await deliveredWith(pf, m1);
        // Maildir files use LF line ends; Postfix stores what it received with CRLF converted.
        assert.equal(bodyOf(got), body.replace(/\r\n/g, '\n'));

        const m2 = `eicar-${variant.account}-${Date.now()}`;
        const r2 = await sendOn(c, pf.user, pf.user, eicarMessage(m2));
        assert.equal(r2.ok, false);
        assert.equal(r2.code, 554);
        assert.match(r2.response!, /^554 5\.7\.1 mailshield: Message refused: virus .*eicar\.com.*quarantine as (\S+)/);
        const qid = /quarantine as (\S+?)\.?$/.exec(r2.response!)![1]!;
        const row = s.shield.db.prepare('SELECT account, direction FROM quarantine WHERE id = ?').get(qid) as
          { account: string; direction: string } | undefined;
        assert.deepEqual(row && { ...row }, { account: variant.account, direction: 'outgoing' });

        const m3 = `after-${variant.account}-${Date.now()}`;
        const r3 = await sendOn(c, pf.user, pf.user, cleanMessage(m3).message);
        assert.ok(r3.ok, JSON.stringify(r3));
        await deliveredWith(pf, m3);
        // The infected message never reached Postfix.
        assert.ok(!pf.delivered().some((b) => b.toString('latin1').includes(`Subject: ${m2}`)));
        assert.doesNotMatch(pf.maillog(), new RegExp(`${m2}`));
      } finally {
        await quit(c);
      }
    });
  }

  test('587: AUTH is hidden and refused before the client STARTTLS', async () => {
    const sock = await rawConnect(s.port('sub587'), false);
    try {
      assert.match(await sock.read(/^220 .*\r\n/m), /^220 mail\.test ESMTP/);
      sock.write('EHLO c.test\r\n');
      const ehlo = await sock.read(/^250 .*\r\n/m);
      assert.match(ehlo, /STARTTLS/);
      assert.doesNotMatch(ehlo, /AUTH|CHUNKING/);
      sock.write('AUTH PLAIN AHVzZXIAcGFzcw==\r\n');
      assert.match(await sock.read(/^530 .*\r\n/m), /^530 5\.7\.0 mailshield: Must issue a STARTTLS command first/);
    } finally {
      sock.close();
    }
  });

  test('465: a pipelined MAIL/RCPT/RCPT/DATA batch gets its replies in order and is delivered', async () => {
    const sock = await rawConnect(s.port('sub465'), true, s.shield.ca.certPem);
    try {
      await sock.read(/^220 .*\r\n/m);
      sock.write('EHLO c.test\r\n');
      const ehlo = await sock.read(/^250 .*\r\n/m);
      assert.match(ehlo, /PIPELINING/);
      assert.doesNotMatch(ehlo, /STARTTLS|CHUNKING/);
      const plain = Buffer.from(`\0${pf.user}\0${pf.password}`).toString('base64');
      sock.write(`AUTH PLAIN ${plain}\r\n`);
      assert.match(await sock.read(/^235 .*\r\n/m), /^235 2\.7\.0/);
      const marker = `pipelined-${Date.now()}`;
      sock.write(
        `MAIL FROM:<${pf.user}>\r\nRCPT TO:<${pf.user}>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<${pf.user}>\r\nDATA\r\n`,
      );
      const batch = await sock.read(/^354 .*\r\n/m);
      const codes = batch
        .split('\r\n')
        .filter(Boolean)
        .map((l) => l.slice(0, 3));
      assert.deepEqual(codes, ['250', '250', '550', '250', '354'], batch);
      sock.write(`Subject: ${marker}\r\n\r\npipelined body\r\n.\r\nQUIT\r\n`);
      const tail = await sock.read(/^221 .*\r\n/m);
      assert.match(tail, /^250 2\.0\.0 Ok: queued as .*\r\n221 /m);
      const got = await deliveredWith(pf, marker);
      assert.equal(bodyOf(got), 'pipelined body\n');
    } finally {
      sock.close();
    }
  });

  test('outgoing signature in header mode: a header on top, the body untouched', async () => {
    const signed = await shieldFor(pf, { signature: 'header' });
    try {
      const c = await submitter(signed.port('sub465'), true, signed.shield.ca.certPem, pf);
      const marker = `signed-${Date.now()}`;
      const { message, body } = cleanMessage(marker);
      const r = await sendOn(c, pf.user, pf.user, message);
      assert.ok(r.ok, JSON.stringify(r));
      await quit(c);
      const got = await deliveredWith(pf, marker);
      assert.match(got, /^X-Mailshield-Scanned: Scanned by mailshield\.$/m);
      assert.equal(bodyOf(got), body.replace(/\r\n/g, '\n'));
    } finally {
      await signed.shield.stop();
    }
  });
});
