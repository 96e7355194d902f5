// The SMTP shield end to end: nodemailer (a real client) → mailshield → a real Postfix with Dovecot SASL, delivering
// into a Maildir. Both submission variants: 587 (STARTTLS on both legs) and 465 (implicit TLS on both legs).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import net from 'node:net';
import tls from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { LoadedConfig } from '../src/cli/context.js';
import { validateConfig } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { startShield, type ShieldHandle } from '../src/io/server.js';
import { testPki } from './fixtures/pki.js';
import { startPostfix, type PostfixServer } from './fixtures/postfix.js';
import { eicar, freePort, needs, tmpDir, waitFor } from './fixtures/util.js';

const opts = needs('postfix', 'dovecot', 'openssl');

export interface ShieldSetup {
  shield: ShieldHandle;
  port(account: string): number;
}

/** Starts mailshield with SMTP accounts in front of `pf`. */
export async function shieldFor(
  pf: { submissionPort: number; smtpsPort: number },
  extra: { upstreamPolicy?: 'strict' | 'balanced' | 'legacy'; signature?: 'off' | 'header' } = {},
): Promise<ShieldSetup> {
  const dataDir = tmpDir('mailshield-smtp-');
  const [p587, p465] = [await freePort(), await freePort()];
  const upstream = { upstreamServername: 'mail.test', upstreamCa: testPki().caCert };
  const config = validateConfig(
    {
      dataDir,
      policy: { upstream: extra.upstreamPolicy ?? 'balanced' },
      accounts: [
        {
          name: 'sub587',
          protocol: 'smtp',
          listen: `127.0.0.1:${p587}`,
          clientTls: 'starttls',
          upstream: `127.0.0.1:${pf.submissionPort}`,
          upstreamTls: 'starttls',
          ...upstream,
        },
        {
          name: 'sub465',
          protocol: 'smtp',
          listen: `127.0.0.1:${p465}`,
          clientTls: 'implicit',
          upstream: `127.0.0.1:${pf.smtpsPort}`,
          upstreamTls: 'implicit',
          ...upstream,
        },
      ],
      actions: { outgoingSignature: { mode: extra.signature ?? 'off' } },
    },
    'smtp.test',
  );
  const loaded: LoadedConfig = { config, file: null, dataDir, resolvePath: (p) => p };
  const shield = await startShield(loaded, { log: silentLogger });
  return {
    shield,
    port: (account) => shield.listeners.find((l) => l.account === account)!.port,
  };
}

type Conn = InstanceType<typeof SMTPConnection>;

/** A connected, authenticated nodemailer SMTPConnection to the shield. */
export async function submitter(port: number, secure: boolean, ca: string, pf: PostfixServer): Promise<Conn> {
  const c = new SMTPConnection({
    host: '127.0.0.1',
    port,
    secure,
    requireTLS: !secure,
    tls: { ca: [ca], servername: 'localhost' },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  await new Promise<void>((resolve, reject) => {
    c.once('error', reject);
    c.connect(() => resolve());
  });
  await new Promise<void>((resolve, reject) =>
    c.login({ user: pf.user, pass: pf.password }, (err) => (err ? reject(err) : resolve())),
  );
  return c;
}

interface SendResult {
  ok: boolean;
  response?: string;
  code?: number;
}

export function sendOn(c: Conn, from: string, to: string, message: string): Promise<SendResult> {
  return new Promise((resolve) =>
    c.send({ from, to: [to] }, message, (err, info) => {
      if (err) {
        const e = err as Error & { responseCode?: number; response?: string };
        resolve({ ok: false, code: e.responseCode, response: e.response ?? e.message });
      } else resolve({ ok: true, response: info.response });
    }),
  );
}

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

export async function deliveredWith(pf: PostfixServer, marker: string): Promise<string> {
  return waitFor(
    () =>
      pf
        .delivered()
        .map((b) => b.toString('latin1'))
        .find((m) => m.includes(`Subject: ${marker}`)),
    `delivery of ${marker} (maillog: ${pf.maillog().slice(-1500)})`,
    15_000,
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
});

/** A tiny line-reading SMTP socket for transcripts nodemailer would not produce. */
export async function rawConnect(port: number, secure: boolean, ca?: string) {
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s: net.Socket = secure
      ? tls.connect({ host: '127.0.0.1', port, ca: ca ? [ca] : undefined, servername: 'localhost' }, () => resolve(s))
      : net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  let buf = '';
  sock.on('data', (d: Buffer) => (buf += d.toString('latin1')));
  return {
    write: (x: string) => sock.write(x),
    /** Resolves with everything up to and including the first match of `until`, consuming it. */
    read: async (until: RegExp): Promise<string> => {
      const got = await waitFor(
        () => {
          const m = until.exec(buf);
          return m ? buf.slice(0, m.index + m[0].length) : null;
        },
        `reply ${until} (have ${JSON.stringify(buf)})`,
      );
      buf = buf.slice(got.length);
      return got;
    },
    close: () => sock.destroy(),
  };
}
