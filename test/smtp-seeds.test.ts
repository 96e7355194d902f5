// The story's seed cases on SMTP: a Windows 7-style TLS 1.0 client submits through the shield, and an ISP-like
// SMTPS server (TLS 1.2, ServerKeyExchange signed with RSA+SHA1) works under `balanced` and is refused with an
// explanation under `strict`. All peers are real: Postfix, Dovecot, `openssl s_client`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sClient } from './fixtures/peers.js';
import {
  deliveredWith,
  rawConnect,
  sendOn,
  shieldFor,
  startPostfix,
  submitter,
  type PostfixServer,
  type ShieldSetup,
} from './fixtures/postfix.js';
import { needs, tmpDir } from './fixtures/util.js';
import { win7Client } from './fixtures/win7.js';

const opts = needs('postfix', 'dovecot', 'openssl');

describe('Windows 7-style TLS 1.0 client submits through the shield', opts, () => {
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

  test('TLS 1.0, CBC-SHA suites, no signature_algorithms: EHLO, AUTH, DATA, delivered', async () => {
    const caFile = join(tmpDir('mailshield-ca-'), 'ca.pem');
    writeFileSync(caFile, s.shield.ca.certPem);
    // -nocommands: lines starting with R (RCPT) or Q (QUIT) must not renegotiate or quit s_client.
    const c = win7Client(s.port('sub465'), { caFile, servername: 'localhost', extra: ['-nocommands'] });
    try {
      await c.waitForOutput(/^220 /m);
      assert.match(c.output(), /Protocol version: TLSv1\r?\n/);
      const plain = Buffer.from(`\0${pf.user}\0${pf.password}`).toString('base64');
      const marker = `win7-${Date.now()}`;
      c.send('EHLO win7-pc\r\n');
      await c.waitForOutput(/^250 /m);
      c.send(`AUTH PLAIN ${plain}\r\n`);
      await c.waitForOutput(/^235 /m);
      c.send(`MAIL FROM:<${pf.user}>\r\n`);
      await c.waitForOutput(/^250 2\.1\.0/m);
      c.send(`RCPT TO:<${pf.user}>\r\n`);
      await c.waitForOutput(/^250 2\.1\.5/m);
      c.send('DATA\r\n');
      await c.waitForOutput(/^354 /m);
      c.send(`Subject: ${marker}\r\n\r\nsent from Windows Live Mail\r\n.\r\n`);
      await c.waitForOutput(/^250 2\.0\.0 Ok: queued/m);
      c.send('QUIT\r\n');
      await c.waitForOutput(/^221 /m);
      const got = await deliveredWith(pf, marker);
      assert.match(got, /sent from Windows Live Mail\n$/);
    } finally {
      c.stop();
    }
  });
});

describe('ISP-like SMTPS upstream (TLS 1.2, RSA+SHA1 key-exchange signature)', opts, () => {
  let pf: PostfixServer;
  let balanced: ShieldSetup;
  let strict: ShieldSetup;
  before(async () => {
    pf = await startPostfix({ isp: true });
    balanced = await shieldFor(pf, { upstreamPolicy: 'balanced' });
    strict = await shieldFor(pf, { upstreamPolicy: 'strict' });
  });
  after(async () => {
    await balanced?.shield.stop();
    await strict?.shield.stop();
    await pf?.stop();
  });

  test('the Postfix really looks like the ISP to openssl s_client', () => {
    const f = sClient(pf.smtpsPort);
    assert.deepEqual([f.protocol, f.peerSigningDigest, f.peerSignatureType], ['TLSv1.2', 'SHA1', 'RSA'], f.raw);
  });

  test('balanced: a message is submitted through the shield (a SHA-1 warning, not a refusal)', async () => {
    const c = await submitter(balanced.port('sub465'), true, balanced.shield.ca.certPem, pf);
    const marker = `isp-${Date.now()}`;
    const r = await sendOn(c, pf.user, pf.user, `Subject: ${marker}\r\n\r\nvia the ISP\r\n`);
    assert.ok(r.ok, JSON.stringify(r));
    c.close();
    await deliveredWith(pf, marker);
    const hs = balanced.shield.db.prepare('SELECT * FROM handshakes ORDER BY rowid DESC LIMIT 1').get() as Record<
      string,
      unknown
    >;
    assert.match(JSON.stringify(hs), /SHA1/);
  });

  const explained = (greeting: string) => {
    assert.match(greeting, /^421 4\.7\.0 mailshield: /);
    assert.match(greeting, /RSA\+SHA1/);
    assert.match(greeting, /MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE/);
    // The explanation names the settings that would change the outcome.
    assert.match(greeting, /policy\.upstream: balanced/);
    assert.match(greeting, /policy\.exceptions/);
  };

  test('strict: the client is told why in its own error text (421 4.7.0), plaintext client leg', async () => {
    const sock = await rawConnect(strict.port('plain465'), false);
    try {
      explained(await sock.read(/^4\d\d .*\r\n/m));
    } finally {
      sock.close();
    }
  });

  test('strict: the same over an implicit-TLS client leg', async () => {
    const sock = await rawConnect(strict.port('sub465'), true, strict.shield.ca.certPem);
    try {
      explained(await sock.read(/^4\d\d .*\r\n/m));
    } finally {
      sock.close();
    }
  });
});
