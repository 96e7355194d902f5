// actions.addTlsTraceHeader through real Dovecot behind the story's ISP-like TLS front (RSA+SHA1 key exchange), for
// POP3 (curl) and IMAP (imapflow): with it on, one header on top that matches what `openssl s_client` reports for the
// same server, the sender's forged copy gone, and every other byte as Dovecot sent it; with it off, byte-identical.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { validateConfig } from '../src/core/config.js';
import type { ShieldHandle } from '../src/io/server.js';
import { shortTempKey } from '../src/scan/tls-trace-header.js';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { sClient, startIspFront, startPeer, type IspFront } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { startTestShield } from './fixtures/shield.js';
import { freePort, needs, tmpDir } from './fixtures/util.js';

const requirements = needs('dovecot', 'curl', 'openssl');
const USER = 'dave';
const PASS = 'trace-Secret';
const FORGED = 'X-MailShield-Upstream-TLS: TLSv1.3 TLS_AES_256_GCM_SHA384;\r\n cert=verified CN=bank.example\r\n';
const REST =
  'From: Mallory <m@mail.test>\r\nTo: dave@mail.test\r\nSubject: trust me\r\nMessage-ID: <t@mail.test>\r\n\r\n' +
  'X-MailShield-Upstream-TLS: in the body, not a header\r\n.dot line\r\nend\r\n';
const MSG = FORGED + REST;

function curl(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', '20', '-u', `${USER}:${PASS}`, ...args],
      { encoding: 'buffer' },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr: stderr.toString() }),
    );
  });
}

/** Splits our header (first field, with its folded lines) from the rest of the message. */
function splitFirstField(b: Buffer): { field: string; rest: string } {
  const s = b.toString('latin1');
  const m = /^[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(s)!;
  return { field: m[0].replace(/\r\n(?=[ \t])/g, '').replace(/\r\n$/, ''), rest: s.slice(m[0].length) };
}

describe('X-MailShield-Upstream-TLS through real servers', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let popIsp: IspFront;
  let imapIsp: IspFront;
  const shields: ShieldHandle[] = [];
  let expected: string;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    dovecot.deliver(USER, MSG);
    popIsp = await startIspFront(dovecot.pop3Port);
    imapIsp = await startIspFront(dovecot.imapPort);
    // What openssl itself sees of an ISP with the same TLS parameters (an s_server, since s_client blocks this
    // process and with it the Node front): the header must say the same.
    const peer = await startPeer('isp');
    const s = sClient(peer.port);
    await peer.stop();
    assert.equal(s.peerSigningDigest, 'SHA1');
    expected =
      `X-MailShield-Upstream-TLS: TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384; sig=${s.peerSignatureType}+${s.peerSigningDigest} ` +
      `(warning: SHA-1 handshake signature, accepted by balanced); tempkey=${shortTempKey(s.serverTempKey!)}; ` +
      'cert=verified CN=mail.test sha256WithRSAEncryption';
  });
  after(async () => {
    for (const s of shields) await s.stop();
    await popIsp?.close();
    await imapIsp?.close();
    await dovecot?.stop();
  });

  async function shield(trace: boolean): Promise<{ pop: number; imap: number; ca: string }> {
    const ports = { pop: await freePort(), imap: await freePort() };
    const base = {
      clientTls: 'implicit',
      upstreamTls: 'implicit',
      upstreamServername: 'mail.test',
      upstreamCa: testPki().caCert,
    };
    const config = validateConfig(
      {
        dataDir: tmpDir('mailshield-trace-'),
        policy: { upstream: 'balanced' },
        actions: { addTlsTraceHeader: trace },
        accounts: [
          {
            ...base,
            name: 'pop',
            protocol: 'pop3',
            listen: `127.0.0.1:${ports.pop}`,
            upstream: `127.0.0.1:${popIsp.port}`,
          },
          {
            ...base,
            name: 'imap',
            protocol: 'imap',
            listen: `127.0.0.1:${ports.imap}`,
            upstream: `127.0.0.1:${imapIsp.port}`,
          },
        ],
      },
      'tls-trace-header.test',
    );
    const s = await startTestShield(config);
    shields.push(s);
    return { ...ports, ca: s.ca.certPath };
  }

  async function pop(port: number, ca: string): Promise<Buffer> {
    const r = await curl(['--cacert', ca, `pop3s://127.0.0.1:${port}/1`]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }

  async function imap(port: number, ca: string): Promise<Buffer> {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port,
      secure: true,
      auth: { user: USER, pass: PASS },
      tls: { ca: [readFileSync(ca)] },
      logger: false,
      disableAutoIdle: true,
    });
    await c.connect();
    try {
      await c.mailboxOpen('INBOX', { readOnly: true });
      const m = await c.fetchOne('1', { source: true });
      assert.ok(m && m.source);
      return m.source;
    } finally {
      await c.logout().catch(() => undefined);
    }
  }

  for (const [name, read] of [
    ['POP3', pop],
    ['IMAP', imap],
  ] as const) {
    it(`${name}: on, one accurate header on top, the sender's copy removed, every other byte as sent`, async () => {
      const s = await shield(true);
      const got = await read(name === 'POP3' ? s.pop : s.imap, s.ca);
      const { field, rest } = splitFirstField(got);
      assert.equal(field, expected);
      assert.equal(rest, REST);
      const header = got.toString('latin1').split('\r\n\r\n')[0]!;
      assert.equal(header.match(/^X-MailShield-Upstream-TLS:/gim)?.length, 1, 'exactly one in the header block');
    });

    it(`${name}: off (the default), the message is byte-identical, sender's header and all`, async () => {
      const s = await shield(false);
      const got = await read(name === 'POP3' ? s.pop : s.imap, s.ca);
      assert.equal(got.toString('latin1'), MSG);
    });
  }
});
