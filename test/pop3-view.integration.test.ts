// POP3 through mailshield against a real Dovecot: once a message is replaced, TOP and LIST describe the notice, and
// TOP n 0 of a small unscanned message is scanned first, so a client's header preview and its RETR agree.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { validateConfig } from '../src/core/config.js';
import type { ShieldHandle } from '../src/io/server.js';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { testPki } from './fixtures/pki.js';
import { startTestShield } from './fixtures/shield.js';
import { eicar, freePort, needs, tmpDir } from './fixtures/util.js';

const requirements = needs('dovecot', 'openssl');
const USER = 'dave';
const PASS = 'pop-view-Secret';

// With a Date: without one the notice is dated when it is built, and RETR (which scans again) may differ by a second.
const INFECTED =
  'Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Eve <eve@mail.test>\r\nTo: dave@mail.test\r\nSubject: invoice\r\n' +
  'Message-ID: <pv@mail.test>\r\n' +
  'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b2"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\n' +
  `${eicar()}\r\n--b2--\r\n`;

/** A POP3 client over implicit TLS: single-line and multi-line commands, one at a time. */
async function pop3(port: number, ca: Buffer) {
  const s = tls.connect({ host: '127.0.0.1', port, ca: [ca] });
  let buf = '';
  let waiter: (() => void) | null = null;
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    waiter?.();
  });
  const until = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${re} in: ${buf.slice(-300)}`)), 20_000);
      const check = () => {
        const m = re.exec(buf);
        if (!m) return;
        const text = buf.slice(0, m.index + m[0].length);
        buf = buf.slice(m.index + m[0].length);
        clearTimeout(t);
        waiter = null;
        resolve(text);
      };
      waiter = check;
      check();
    });
  await until(/^\+OK.*\r\n/);
  const one = (line: string) => (s.write(`${line}\r\n`), until(/^[+-].*\r\n/));
  const multi = (line: string) => (s.write(`${line}\r\n`), until(/^(-ERR.*\r\n|\+OK[\s\S]*?\r\n\.\r\n)/));
  await one(`USER ${USER}`);
  await one(`PASS ${PASS}`);
  return { one, multi, close: () => s.destroy() };
}

/** The body of a multi-line answer, dot-unstuffed, without the status line. */
const body = (answer: string) =>
  answer
    .slice(answer.indexOf('\r\n') + 2, -3)
    .split('\r\n')
    .map((l) => (l.startsWith('..') ? l.slice(1) : l))
    .join('\r\n');

describe('POP3 TOP and LIST describe the notice, against Dovecot', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let shield: ShieldHandle;
  let port: number;
  let ca: Buffer;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    dovecot.deliver(USER, INFECTED);
    port = await freePort();
    const pki = testPki();
    const config = validateConfig(
      {
        dataDir: tmpDir('mailshield-pop3-view-'),
        policy: { upstream: 'balanced' },
        accounts: [
          {
            name: 'pop3-view',
            protocol: 'pop3',
            listen: `127.0.0.1:${port}`,
            clientTls: 'implicit',
            upstream: `127.0.0.1:${dovecot.pop3sPort}`,
            upstreamTls: 'implicit',
            upstreamServername: 'mail.test',
            upstreamCa: pki.caCert,
          },
        ],
      },
      'pop3-view.integration.test',
    );
    shield = await startTestShield(config);
    ca = readFileSync(shield.ca.certPath);
  });

  after(async () => {
    await shield?.stop();
    await dovecot?.stop();
  });

  it('TOP 1 0 before any RETR shows the notice header; RETR and LIST agree with it', async () => {
    const c = await pop3(port, ca);
    try {
      const top = body(await c.multi('TOP 1 0'));
      assert.match(top, /^Subject: \[virus removed\] invoice$/m);
      assert.match(top, /^X-MailShield-Verdict: infected/m);
      assert.doesNotMatch(top, /multipart/);
      const retr = body(await c.multi('RETR 1'));
      assert.ok(!retr.includes(eicar()));
      assert.ok(retr.startsWith(top.replace(/\r\n$/, '')), 'the TOP header is the RETR header');
      const size = Buffer.byteLength(retr, 'latin1');
      assert.notEqual(size, Buffer.byteLength(INFECTED), 'the notice size, not the original');
      assert.match(await c.multi('LIST'), new RegExp(`\\r\\n1 ${size}\\r\\n`));
      assert.match(await c.one('LIST 1'), new RegExp(`^\\+OK 1 ${size}\\r\\n`));
      await c.one('QUIT');
    } finally {
      c.close();
    }
  });
});
