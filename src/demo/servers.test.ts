// The demo servers on their own, talked to by real clients: curl (POP3S), openssl s_client (what the ISP-like
// server signs with), nodemailer (SMTP submission with STARTTLS and AUTH).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { silentLogger } from '../core/logger.js';
import { DemoMailbox, demoMessages } from './mailbox.js';
import { DEMO_ISP_HOST, DEMO_MAIL_HOST, loadOrCreateDemoPki } from './pki.js';
import { startDemoServers, type DemoServers } from './servers.js';
import { needs } from '../../test/fixtures/util.js';

const exec = promisify(execFile);
async function setup(): Promise<{ servers: DemoServers; mailbox: DemoMailbox; caPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mailshield-demo-'));
  const pki = await loadOrCreateDemoPki(join(dir, 'demo'), new Date());
  const mailbox = new DemoMailbox();
  const servers = await startDemoServers({
    mailbox,
    mail: pki.mail,
    isp: pki.isp,
    ports: { pop3: 0, ispPop3: 0, smtp: 0 },
    log: silentLogger,
  });
  return { servers, mailbox, caPath: pki.caPath };
}

async function curlPop3(
  host: string,
  port: number,
  caPath: string,
  path: string,
  extra: string[] = [],
): Promise<string> {
  const { stdout } = await exec(
    'curl',
    [
      ...extra,

      '-sS',
      '--cacert',
      caPath,
      '--resolve',
      `${host}:${port}:127.0.0.1`,
      '--user',
      'demo:demo',
      `pop3s://${host}:${port}/${path}`,
    ],
    { encoding: 'latin1' },
  );
  return stdout;
}

test('the demo PKI is made once and reused', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'mailshield-demo-')), 'demo');
  const a = await loadOrCreateDemoPki(dir, new Date());
  const b = await loadOrCreateDemoPki(dir, new Date());
  assert.equal(a.created, true);
  assert.equal(b.created, false);
  assert.equal(b.isp.certPem, a.isp.certPem);
  // Two years and a bit later it is renewed rather than served expired.
  const c = await loadOrCreateDemoPki(dir, new Date(Date.now() + 800 * 24 * 3600 * 1000));
  assert.equal(c.created, true);
  assert.notEqual(c.isp.certPem, a.isp.certPem);
});

test('curl reads the demo mailbox over POP3S from both servers, byte-identical', needs('curl'), async () => {
  const { servers, caPath } = await setup();
  try {
    const msgs = demoMessages();
    // The ISP-like server is the story's: a client at OpenSSL's default security level refuses its SHA-1 key
    // exchange signature (alert 40), and one that lowers the level reads the mail.
    await assert.rejects(curlPop3(DEMO_ISP_HOST, servers.ispPop3.port, caPath, ''), /handshake failure/);
    const lowered = ['--ciphers', 'DEFAULT:@SECLEVEL=0'];
    for (const [host, ep, extra] of [
      [DEMO_MAIL_HOST, servers.pop3, []],
      [DEMO_ISP_HOST, servers.ispPop3, lowered],
    ] as const) {
      const list = await curlPop3(host, ep.port, caPath, '', [...extra]);
      assert.equal(list, msgs.map((m, i) => `${i + 1} ${m.bytes.length}\r\n`).join(''));
      // curl undoes the dot-stuffing; the minutes message has dot-leading lines.
      assert.equal(await curlPop3(host, ep.port, caPath, '2', [...extra]), msgs[1]!.bytes.toString('latin1'));
      assert.equal(await curlPop3(host, ep.port, caPath, '3', [...extra]), msgs[2]!.bytes.toString('latin1'));
    }
  } finally {
    await servers.close();
  }
});

test(
  'the ISP-like server signs its key exchange with RSA+SHA1 on TLS 1.2 (openssl s_client)',
  needs('openssl'),
  async () => {
    const { servers, caPath } = await setup();
    try {
      // Full output (not -brief, which says "Hash used"): the same lines the story's investigation compared.
      const sClient = (port: number, host: string) =>
        new Promise<string>((resolve) => {
          const child = spawn(
            'openssl',
            [
              's_client',
              '-connect',
              `127.0.0.1:${port}`,
              '-servername',
              host,
              '-CAfile',
              caPath,
              '-cipher',
              'DEFAULT:@SECLEVEL=0',
            ],
            { env: { ...process.env, OPENSSL_CONF: '/dev/null' }, stdio: ['ignore', 'pipe', 'pipe'] },
          );
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (out += d.toString()));
          const timer = setTimeout(() => child.kill(), 10_000);
          child.on('close', () => {
            clearTimeout(timer);
            resolve(out);
          });
        });
      const ispText = await sClient(servers.ispPop3.port, DEMO_ISP_HOST);
      assert.match(ispText, /Protocol {2}: TLSv1\.2/);
      assert.match(ispText, /Peer signing digest: SHA1/);
      assert.match(ispText, /Peer signature type: RSA\b/);
      assert.match(ispText, /Server Temp Key: ECDH, prime256v1, 256 bits|Server Temp Key: ECDH, P-256, 256 bits/);
      assert.match(ispText, /Verify return code: 0 \(ok\)/);
      const modernText = await sClient(servers.pop3.port, DEMO_MAIL_HOST);
      assert.match(modernText, /TLSv1\.3/);
      assert.match(modernText, /Peer signing digest: SHA256/);
      assert.match(modernText, /Verify return code: 0 \(ok\)/);
    } finally {
      await servers.close();
    }
  },
);

test('SMTP submission: STARTTLS, AUTH, and the message lands in the POP3 mailbox', async () => {
  const { servers, mailbox, caPath } = await setup();
  try {
    const { readFileSync } = await import('node:fs');
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: servers.smtp.port,
      secure: false,
      requireTLS: true,
      tls: { ca: readFileSync(caPath, 'utf8'), servername: DEMO_MAIL_HOST },
      auth: { user: 'demo', pass: 'demo' },
    });
    const info = await transport.sendMail({
      from: 'demo@demo.test',
      to: 'demo@demo.test',
      subject: 'hello from the test',
      text: 'line one\n.dot line\n',
    });
    assert.match(info.response, /^250 .*queued as demo-received-1/);
    const got = mailbox.snapshot();
    assert.equal(got.length, 4);
    const raw = got[3]!.bytes.toString('latin1');
    assert.match(raw, /Subject: hello from the test/);
    assert.match(raw, /\r\n\.dot line\r\n/);

    const bad = nodemailer.createTransport({
      host: '127.0.0.1',
      port: servers.smtp.port,
      secure: false,
      requireTLS: true,
      tls: { ca: readFileSync(caPath, 'utf8'), servername: DEMO_MAIL_HOST },
      auth: { user: 'demo', pass: 'wrong' },
    });
    await assert.rejects(bad.sendMail({ from: 'a@demo.test', to: 'b@demo.test', text: 'x' }), /535|invalid user name/);
  } finally {
    await servers.close();
  }
});

test('a preferred port that is taken falls back to another one', async () => {
  const first = await setup();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'mailshield-demo-'));
    const pki = await loadOrCreateDemoPki(join(dir, 'demo'), new Date());
    const second = await startDemoServers({
      mailbox: new DemoMailbox(),
      mail: pki.mail,
      isp: pki.isp,
      ports: { pop3: first.servers.pop3.port, ispPop3: first.servers.ispPop3.port, smtp: first.servers.smtp.port },
      log: silentLogger,
    });
    assert.notEqual(second.pop3.port, first.servers.pop3.port);
    assert.notEqual(second.smtp.port, first.servers.smtp.port);
    await second.close();
  } finally {
    await first.servers.close();
  }
});
