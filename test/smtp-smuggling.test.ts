// SMTP smuggling and bare LF against a real Postfix 3.7 with smtpd_forbid_bare_newline = no (issue 12 items 1, 2).
// - Direct to Postfix, a fake end of data followed by a forged transaction IS delivered as a second message: the
//   check can see smuggling when it happens.
// - Through the shield the same bytes give one message, with the smuggled text inside its body, and nothing else in
//   the Maildir once Postfix's queue is empty.
// - Python's smtplib.sendmail(..., msg.as_bytes()) (LF line ends) is delivered when clean, and an EICAR message is
//   scanned, quarantined (the normalized bytes) and answered 554.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { rawConnect, shieldFor, startPostfix, type PostfixServer, type ShieldSetup } from './fixtures/postfix.js';
import { testPki } from './fixtures/pki.js';
import { eicar, needs, waitFor } from './fixtures/util.js';

const opts = needs('postfix', 'dovecot', 'openssl', 'postqueue');
const pyOpts = needs('postfix', 'dovecot', 'openssl', 'python3');

const FORGED = 'ceo@bank.test';

function smuggled(marker: string): string {
  return (
    `MAIL FROM:<${FORGED}>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n` +
    `From: ${FORGED}\r\nTo: user@example.test\r\nSubject: smuggled-${marker}\r\n\r\npay now\r\n`
  );
}

/** One client message: a fake end, a forged transaction, then the real end and QUIT. */
function attack(marker: string, fakeEnd: string): string {
  return (
    `From: user@example.test\r\nTo: user@example.test\r\nSubject: first-${marker}\r\n\r\nhello` +
    `${fakeEnd}${smuggled(marker)}.\r\nQUIT\r\n`
  );
}

const headerOf = (m: string) => m.slice(0, m.indexOf('\n\n'));
const bodyOf = (m: string) => m.slice(m.indexOf('\n\n') + 2);

/** Delivered messages whose own header has this subject (a body that quotes it does not count). */
function withSubject(pf: PostfixServer, subject: string): string[] {
  return pf
    .delivered()
    .map((b) => b.toString('latin1'))
    .filter((m) => new RegExp(`^Subject: ${subject}$`, 'm').test(headerOf(m)));
}

/** Authenticates and opens DATA on `port`, sends `payload` in one write, returns everything up to the 221. */
async function submitRaw(
  port: number,
  secure: boolean,
  ca: string | undefined,
  pf: PostfixServer,
  payload: string,
): Promise<string> {
  const sock = await rawConnect(port, secure, ca);
  try {
    await sock.read(/^220 .*\r\n/m);
    sock.write('EHLO client.test\r\n');
    await sock.read(/^250 .*\r\n/m);
    sock.write(`AUTH PLAIN ${Buffer.from(`\0${pf.user}\0${pf.password}`).toString('base64')}\r\n`);
    assert.match(await sock.read(/^\d{3} .*\r\n/m), /^235 /);
    sock.write(`MAIL FROM:<${pf.user}>\r\n`);
    assert.match(await sock.read(/^\d{3} .*\r\n/m), /^250 /);
    sock.write(`RCPT TO:<${pf.user}>\r\n`);
    assert.match(await sock.read(/^\d{3} .*\r\n/m), /^250 /);
    sock.write('DATA\r\n');
    assert.match(await sock.read(/^\d{3} .*\r\n/m), /^354 /);
    sock.write(payload);
    return await sock.read(/^221 .*\r\n/m);
  } finally {
    sock.close();
  }
}

const FAKE_ENDS = [
  { name: '<LF>.<CR><LF>', fakeEnd: '\n.\r\n' },
  { name: '<LF>.<LF>', fakeEnd: '\n.\n' },
  { name: '<CR><LF>.<LF>', fakeEnd: '\r\n.\n' },
];

describe('SMTP smuggling against a real Postfix 3.7 (smtpd_forbid_bare_newline = no)', opts, () => {
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

  test('smtp.bareLineEndings: reject answers 554 with the code at the fake end and closes; nothing is delivered', async () => {
    const strict = await shieldFor(pf, { bareLineEndings: 'reject' });
    try {
      const marker = `reject-${Date.now()}`;
      const sock = await rawConnect(strict.port('plain465'), false);
      try {
        await sock.read(/^220 .*\r\n/m);
        sock.write('EHLO client.test\r\n');
        await sock.read(/^250 .*\r\n/m);
        sock.write(`AUTH PLAIN ${Buffer.from(`\0${pf.user}\0${pf.password}`).toString('base64')}\r\n`);
        await sock.read(/^235 .*\r\n/m);
        sock.write(`MAIL FROM:<${pf.user}>\r\nRCPT TO:<${pf.user}>\r\n`);
        await sock.read(/^250 .*\r\n250 .*\r\n/m);
        sock.write('DATA\r\n');
        await sock.read(/^354 .*\r\n/m);
        sock.write(attack(marker, '\n.\r\n'));
        assert.match(
          await sock.read(/^5\d\d .*\r\n/m),
          /^554 5\.6\.0 mailshield: message refused: it contains a bare LF .*\(MS_ERR_CLIENT_BARE_LINE_ENDING\)\r\n$/,
        );
        // The connection ends; no reply to the smuggled commands (or to QUIT) ever comes.
        await sock.closed();
        assert.equal(sock.unread(), '');
      } finally {
        sock.close();
      }
      await waitFor(() => pf.queued() === 0, 'an empty Postfix queue');
      assert.deepEqual(withSubject(pf, `first-${marker}`), []);
      assert.deepEqual(withSubject(pf, `smuggled-${marker}`), []);
    } finally {
      await strict.shield.stop();
    }
  });

  FAKE_ENDS.forEach((v, i) => {
    test(`${v.name} direct to Postfix: the smuggled second message is delivered (the test can see it)`, async () => {
      const marker = `direct-${i}-${Date.now()}`;
      const tail = await submitRaw(
        pf.smtpsPort,
        true,
        readFileSync(testPki().caCert, 'utf8'),
        pf,
        attack(marker, v.fakeEnd),
      );
      assert.equal(tail.match(/^250 2\.0\.0 Ok: queued as /gm)?.length, 2, tail);
      const [forged] = await waitFor(
        () => {
          const got = withSubject(pf, `smuggled-${marker}`);
          return got.length > 0 ? got : null;
        },
        `delivery of the smuggled message (maillog: ${pf.maillog().slice(-800)})`,
      );
      assert.match(headerOf(forged!), new RegExp(`^From: ${FORGED}$`, 'm'));
    });

    test(`${v.name} through the shield: one message, the smuggled text inside its body, nothing else`, async () => {
      const marker = `shield-${i}-${Date.now()}`;
      const tail = await submitRaw(s.port('plain465'), false, undefined, pf, attack(marker, v.fakeEnd));
      // One final reply, Postfix's own, then the QUIT's.
      assert.match(tail, /^250 2\.0\.0 Ok: queued as \S+\r\n221 /);
      const [first] = await waitFor(
        () => {
          const got = withSubject(pf, `first-${marker}`);
          return got.length > 0 ? got : null;
        },
        `delivery of the first message (maillog: ${pf.maillog().slice(-800)})`,
      );
      // Normalized: the fake end is a "." line of content (Maildir files have LF line ends).
      assert.equal(bodyOf(first!), `hello\n.\n${smuggled(marker).replace(/\r\n/g, '\n')}`);
      // Postfix answered the message before our QUIT, so a smuggled one would be queued by now: wait for the queue
      // to drain, then nothing may carry the smuggled subject in its own header.
      await waitFor(() => pf.queued() === 0, 'an empty Postfix queue');
      assert.deepEqual(withSubject(pf, `smuggled-${marker}`), []);
      assert.equal(withSubject(pf, `first-${marker}`).length, 1);
    });
  });
});

const SENDMAIL_PY = `
import base64, json, smtplib, sys
from email.message import EmailMessage
port, user, password, subject, attachment = sys.argv[1:6]
m = EmailMessage()
m['From'] = user
m['To'] = user
m['Subject'] = subject
m.set_content('hello from smtplib\\n.a line with a leading dot\\nend\\n')
if attachment:
    m.add_attachment(base64.b64decode(attachment), maintype='application', subtype='octet-stream', filename='eicar.com')
raw = m.as_bytes()
s = smtplib.SMTP('127.0.0.1', int(port), timeout=30)
s.login(user, password)
try:
    s.sendmail(user, [user], raw)
    res = {'ok': True}
except smtplib.SMTPDataError as e:
    res = {'ok': False, 'code': e.smtp_code, 'reply': e.smtp_error.decode('latin1')}
s.quit()
print(json.dumps({**res, 'raw': base64.b64encode(raw).decode()}))
`;

interface PyResult {
  ok: boolean;
  code?: number;
  reply?: string;
  /** What smtplib was given: msg.as_bytes(), LF line ends. */
  raw: Buffer;
}

async function pySendmail(port: number, pf: PostfixServer, subject: string, attachment = ''): Promise<PyResult> {
  const child = spawn('python3', ['-c', SENDMAIL_PY, String(port), pf.user, pf.password, subject, attachment]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 0, `python3 failed: ${err}`);
  const r = JSON.parse(out) as Omit<PyResult, 'raw'> & { raw: string };
  return { ...r, raw: Buffer.from(r.raw, 'base64') };
}

describe("Python smtplib's sendmail(msg.as_bytes()) (LF line ends) through the shield", pyOpts, () => {
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

  test('a clean message is delivered as Postfix would take it directly', async () => {
    const subject = `py-clean-${Date.now()}`;
    const r = await pySendmail(s.port('plain465'), pf, subject);
    assert.ok(r.ok, JSON.stringify(r));
    const [got] = await waitFor(() => {
      const m = withSubject(pf, subject);
      return m.length > 0 ? m : null;
    }, `delivery of ${subject}`);
    // smtplib ends a message that does not end in CRLF with CRLF.CRLF, which adds one empty line.
    assert.equal(bodyOf(got!), `${bodyOf(r.raw.toString('latin1'))}\n`);
  });

  test('an EICAR message is scanned, quarantined as the normalized bytes, and answered 554', async () => {
    const subject = `py-eicar-${Date.now()}`;
    const r = await pySendmail(s.port('plain465'), pf, subject, Buffer.from(eicar()).toString('base64'));
    assert.equal(r.ok, false);
    assert.equal(r.code, 554);
    assert.match(r.reply!, /^5\.7\.1 mailshield: Message refused: virus .*eicar\.com.*quarantine as (\S+)/);
    const qid = /quarantine as (\S+?)\.?$/.exec(r.reply!)![1]!;
    const row = s.shield.db.prepare('SELECT direction, size, sha256 FROM quarantine WHERE id = ?').get(qid) as
      { direction: string; size: number; sha256: string } | undefined;
    // What was scanned and kept is what would have gone upstream: CRLF line ends, smtplib's final CRLF included.
    const normalized = Buffer.from(`${r.raw.toString('latin1').replace(/\n/g, '\r\n')}\r\n`, 'latin1');
    assert.deepEqual(row && { ...row }, {
      direction: 'outgoing',
      size: normalized.length,
      sha256: createHash('sha256').update(normalized).digest('hex'),
    });
    await waitFor(() => pf.queued() === 0, 'an empty Postfix queue');
    assert.deepEqual(withSubject(pf, subject), []);
  });
});
