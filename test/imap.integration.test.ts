// IMAP through mailshield against a real Dovecot, with imapflow as the mail client, in every combination of TLS
// modes. Every fetch style is compared with what the same client gets from Dovecot directly; a raw client covers the
// items imapflow never asks for (RFC822, RFC822.TEXT, BINARY[]).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { validateConfig } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import type { ShieldHandle } from '../src/io/server.js';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { startIspFront, type IspFront } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { readTlsUntilClose } from './fixtures/sockets.js';
import { eicar, freePort, needs, tmpDir, waitFor } from './fixtures/util.js';
import { win7Client } from './fixtures/win7.js';
import { startTestShield } from './fixtures/shield.js';

const requirements = needs('dovecot', 'openssl');
const USER = 'alice';
const PASS = 'imap-Secret';

/** Multipart, about 200 KB, so 64 KiB chunked reads take several rounds and parts cross many reads. */
const CLEAN = (() => {
  const attachment = Buffer.alloc(150_000);
  for (let i = 0; i < attachment.length; i++) attachment[i] = (i * 7919) % 251;
  const b64 = (attachment.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  return [
    'From: Bob <bob@mail.test>',
    'To: alice@mail.test',
    'Subject: clean with attachment',
    'Message-ID: <clean@mail.test>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Hello Alice, {5}',
    '* 1 FETCH (BODY[] {3}',
    'a line that looks like IMAP.',
    '--b1',
    'Content-Type: application/octet-stream; name="data.bin"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="data.bin"',
    '',
    b64,
    '--b1--',
    '',
  ].join('\r\n');
})();

const INFECTED = () =>
  [
    'From: Eve <eve@mail.test>',
    'To: alice@mail.test',
    'Subject: invoice',
    'Message-ID: <infected@mail.test>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b2"',
    '',
    '--b2',
    'Content-Type: text/plain',
    '',
    'Please see the attachment.',
    '--b2',
    'Content-Type: text/plain; name="eicar.com"',
    'Content-Disposition: attachment; filename="eicar.com"',
    '',
    eicar(),
    '--b2--',
    '',
  ].join('\r\n');

type Mode = 'implicit' | 'starttls';

interface Endpoint {
  port: number;
  clientTls: Mode;
  ca: Buffer;
}

function client(e: Endpoint): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: e.port,
    secure: e.clientTls === 'implicit',
    doSTARTTLS: e.clientTls === 'starttls' ? true : undefined,
    auth: { user: USER, pass: PASS },
    tls: { ca: [e.ca] },
    logger: false,
    disableAutoIdle: true,
  });
}

async function withClient<T>(e: Endpoint, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = client(e);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.logout().catch(() => undefined);
  }
}

/**
 * Every fetch style imapflow can produce, as raw bytes (download() is decoded, the same way on both sides). Chunked
 * partial reads come first, in a fresh connection, so the shield has no verdict yet and must fetch the whole message.
 */
async function fetchStyles(c: ImapFlow, uid: number): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  await c.mailboxOpen('INBOX', { readOnly: true });
  const chunks: Buffer[] = [];
  for (let start = 0; ; start += 65536) {
    const m = await c.fetchOne(String(uid), { source: { start, maxLength: 65536 } }, { uid: true });
    const part = m ? (m.source ?? Buffer.alloc(0)) : Buffer.alloc(0);
    chunks.push(part);
    if (part.length < 65536 || start > 1_000_000) break;
  }
  out.set('BODY.PEEK[]<chunks>', Buffer.concat(chunks));
  const parts = await c.fetchOne(
    String(uid),
    { bodyParts: ['1', '2', 'TEXT', { key: '2', start: 10, maxLength: 100 }] },
    { uid: true },
  );
  for (const [k, v] of parts ? (parts.bodyParts ?? new Map<string, Buffer>()) : []) out.set(`BODY.PEEK[${k}]`, v);
  // The whole message last: the partial reads above made the shield fetch and scan it on its own first.
  const whole = await c.fetchOne(String(uid), { source: true }, { uid: true });
  out.set('BODY.PEEK[]', whole ? (whole.source ?? Buffer.alloc(0)) : Buffer.from('missing'));
  // By sequence number: the shield adds UID to the command.
  const seq = await c.search({ uid: String(uid) });
  const bySeq = seq && seq.length ? await c.fetchOne(String(seq[0]), { source: true }) : false;
  out.set('seq BODY.PEEK[]', bySeq ? (bySeq.source ?? Buffer.alloc(0)) : Buffer.from('missing'));
  for (const [name, opts] of [
    ['download 2 chunked', { uid: true, chunkSize: 8192 }],
    ['download 2 binary', { uid: true, chunkSize: 8192, binary: true }],
  ] as const) {
    const d = await c.download(String(uid), '2', opts);
    const bufs: Buffer[] = [];
    if (d.content) for await (const b of d.content) bufs.push(b as Buffer);
    out.set(name, Buffer.concat(bufs));
  }
  return out;
}

/** A minimal raw IMAP client over implicit TLS: sends one command at a time and returns the response text. */
async function rawImap(port: number, ca: Buffer): Promise<{ cmd(line: string): Promise<string>; close(): void }> {
  const s = tls.connect({ host: '127.0.0.1', port, ca: [ca] });
  let buf = '';
  let waiter: (() => void) | null = null;
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    waiter?.();
  });
  const until = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf.slice(-300)}`)), 20_000);
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
  await until(/^\* OK.*\r\n/m);
  let n = 0;
  const cmd = async (line: string) => {
    const tag = `t${++n}`;
    s.write(`${tag} ${line}\r\n`);
    return until(new RegExp(`(^|\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`));
  };
  await cmd(`LOGIN ${USER} ${PASS}`);
  return { cmd, close: () => s.destroy() };
}

/** The contents of the literals of a response, in order. */
function literals(text: string): string[] {
  const out: string[] = [];
  const re = /~?\{(\d+)\}\r\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[0].length;
    out.push(text.slice(start, start + Number(m[1])));
    re.lastIndex = start + Number(m[1]);
  }
  return out;
}

function quarantined(dataDir: string): Buffer[] {
  const dir = join(dataDir, 'quarantine');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.json'))
    .map((f) => readFileSync(join(dir, f)));
}

describe('IMAP shield against Dovecot', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let shield: ShieldHandle;
  let dataDir: string;
  const pki = testPki();
  const endpoints = new Map<string, Endpoint>();
  const combos: [Mode, Mode][] = [
    ['implicit', 'implicit'],
    ['implicit', 'starttls'],
    ['starttls', 'implicit'],
    ['starttls', 'starttls'],
  ];
  let direct: Endpoint;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    dovecot.deliver(USER, CLEAN);
    dovecot.deliver(USER, INFECTED());
    direct = { port: dovecot.imapsPort, clientTls: 'implicit', ca: readFileSync(pki.caCert) };
    const accounts = [];
    for (const [clientTls, upstreamTls] of combos) {
      const port = await freePort();
      const name = `imap-${clientTls}-${upstreamTls}`;
      accounts.push({
        name,
        protocol: 'imap',
        listen: `127.0.0.1:${port}`,
        clientTls,
        upstream: `127.0.0.1:${upstreamTls === 'implicit' ? dovecot.imapsPort : dovecot.imapPort}`,
        upstreamTls,
        upstreamServername: 'mail.test',
        upstreamCa: pki.caCert,
      });
      endpoints.set(name, { port, clientTls, ca: Buffer.alloc(0) });
    }
    dataDir = tmpDir('mailshield-imap-');
    const config = validateConfig({ dataDir, accounts, policy: { upstream: 'balanced' } }, 'imap.integration.test');
    shield = await startTestShield(config, silentLogger);
    for (const e of endpoints.values()) e.ca = readFileSync(shield.ca.certPath);
  });

  after(async () => {
    await shield?.stop();
    await dovecot?.stop();
  });

  for (const [clientTls, upstreamTls] of combos) {
    const name = `imap-${clientTls}-${upstreamTls}`;
    it(`client ${clientTls}, upstream ${upstreamTls}: every fetch style as without the shield; EICAR replaced, quarantined once`, async () => {
      const e = endpoints.get(name)!;
      const want = await withClient(direct, (c) => fetchStyles(c, 1));
      assert.equal(want.get('BODY.PEEK[]')!.toString('latin1'), CLEAN, 'direct sanity');
      const got = await withClient(e, (c) => fetchStyles(c, 1));
      for (const [style, bytes] of want)
        assert.ok(got.get(style)?.equals(bytes), `clean message, ${style}: byte-identical`);

      const rows = () =>
        (shield.db.prepare('SELECT COUNT(*) AS n FROM quarantine WHERE account = ?').get(name) as { n: number }).n;
      const before = rows();
      const bad = await withClient(e, (c) => fetchStyles(c, 2));
      for (const [style, bytes] of bad) {
        assert.ok(!bytes.toString('latin1').includes(eicar()), `infected message, ${style}: the virus never passes`);
      }
      assert.match(bad.get('BODY.PEEK[]')!.toString('latin1'), /X-MailShield-Verdict/);
      assert.equal(bad.get('BODY.PEEK[]<chunks>')!.toString('latin1'), bad.get('BODY.PEEK[]')!.toString('latin1'));
      assert.equal(rows(), before + 1, 'one quarantine entry for all fetch styles of one message');
      assert.ok(
        quarantined(dataDir).some((b) => b.toString('latin1') === INFECTED()),
        'the original is in quarantine byte-identical',
      );
    });

    it(`client ${clientTls}, upstream ${upstreamTls}: APPEND clean is stored as sent, infected is refused; IDLE works`, async () => {
      const e = endpoints.get(name)!;
      const box = `Sent-${clientTls}-${upstreamTls}`;
      await withClient(e, async (c) => {
        await c.mailboxCreate(box);
        const ok = await c.append(box, Buffer.from(CLEAN, 'latin1'), ['\\Seen']);
        assert.ok(ok && ok.uid, 'clean APPEND accepted');
        const refused = await c.append(box, Buffer.from(INFECTED(), 'latin1')).then(
          (r) => r,
          (err: unknown) => err,
        );
        assert.ok(refused === false || refused instanceof Error, 'infected APPEND refused');
        if (refused instanceof Error) {
          const text = `${refused.message} ${String((refused as Error & { responseText?: string }).responseText ?? '')}`;
          assert.match(text, /mailshield|ALERT|not saved/i);
        }
        const status = await c.status(box, { messages: true });
        assert.equal(status && status.messages, 1, 'only the clean message was stored');
      });
      const stored = await withClient(direct, async (c) => {
        await c.mailboxOpen(box, { readOnly: true });
        const m = await c.fetchOne('1', { source: true });
        return m ? m.source : undefined;
      });
      assert.equal(stored?.toString('latin1'), CLEAN, 'APPEND content reaches the server byte-identical');

      // IDLE: a message delivered while the client idles through the shield is announced.
      await withClient(e, async (c) => {
        const lock = await c.getMailboxLock('INBOX');
        try {
          let exists = 0;
          c.on('exists', (d: { count: number }) => (exists = d.count));
          const before = c.mailbox ? c.mailbox.exists : 0;
          const idling = c.idle();
          await new Promise((r) => setTimeout(r, 300));
          dovecot.deliver(USER, `Subject: pushed ${name}\r\nMessage-ID: <${name}@mail.test>\r\n\r\nhi\r\n`);
          await waitFor(() => exists > before, 'EXISTS while idling', 20_000);
          await c.noop();
          await idling;
        } finally {
          lock.release();
        }
      });
    });
  }

  it('RFC822, RFC822.TEXT, BINARY[], BODY[TEXT] and a part by sequence number: clean identical, infected replaced', async () => {
    const e = endpoints.get('imap-implicit-implicit')!;
    const ask = async (port: number, ca: Buffer, fetch: string) => {
      const c = await rawImap(port, ca);
      try {
        await c.cmd('EXAMINE INBOX');
        return literals(await c.cmd(fetch));
      } finally {
        c.close();
      }
    };
    for (const fetch of [
      'FETCH 1 (RFC822)',
      'FETCH 1 (RFC822.TEXT)',
      'UID FETCH 1 (BINARY.PEEK[])',
      'FETCH 1 (BODY.PEEK[TEXT])',
      'FETCH 1 (BINARY.PEEK[2]<0.4096>)',
    ]) {
      const want = await ask(direct.port, direct.ca, fetch);
      const got = await ask(e.port, e.ca, fetch);
      assert.equal(want.length, 1, `${fetch} direct`);
      assert.deepEqual(got, want, `${fetch}: clean content identical`);
      const bad = await ask(e.port, e.ca, fetch.replace(' 1 ', ' 2 '));
      assert.equal(bad.length, 1, `${fetch} on the infected message answers`);
      assert.ok(!bad[0]!.includes(eicar()), `${fetch}: no virus`);
    }
  });
});

describe('IMAP seeds: the Windows 7 client and the ISP that signs with SHA-1', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let isp: IspFront;
  let shield: ShieldHandle;
  let plainPort: number;
  let ispPort: number;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    dovecot.deliver(USER, CLEAN);
    isp = await startIspFront(dovecot.imapPort);
    plainPort = await freePort();
    ispPort = await freePort();
    const pki = testPki();
    const dataDir = tmpDir('mailshield-imap-seed-');
    const base = { protocol: 'imap', clientTls: 'implicit', upstreamServername: 'mail.test', upstreamCa: pki.caCert };
    const config = validateConfig(
      {
        dataDir,
        policy: { upstream: 'balanced' },
        accounts: [
          {
            ...base,
            name: 'direct',
            listen: `127.0.0.1:${plainPort}`,
            upstream: `127.0.0.1:${dovecot.imapsPort}`,
            upstreamTls: 'implicit',
          },
          {
            ...base,
            name: 'isp',
            listen: `127.0.0.1:${ispPort}`,
            upstream: `127.0.0.1:${isp.port}`,
            upstreamTls: 'implicit',
          },
        ],
      },
      'imap.integration.test',
    );
    shield = await startTestShield(config, silentLogger);
  });

  after(async () => {
    await shield?.stop();
    await isp?.close();
    await dovecot?.stop();
  });

  it('a Windows 7-style TLS 1.0 client reads a message through the shield', async () => {
    const c = win7Client(plainPort, { caFile: shield.ca.certPath, servername: 'localhost' });
    try {
      await c.waitForOutput(/\* OK/);
      assert.match(c.output(), /Protocol version: TLSv1\b/);
      c.send(`a login ${USER} ${PASS}\r\nb examine INBOX\r\nc fetch 1 body.peek[]\r\n`);
      await c.waitForOutput(/\r?\nc OK/, 15_000);
      assert.ok(c.output().includes('Hello Alice, {5}'), 'the message arrives');
      c.send('d logout\r\n');
      await c.exited;
    } finally {
      c.stop();
    }
  });

  it('the ISP-like upstream (RSA+SHA1 key exchange) works under the balanced policy', async () => {
    const e: Endpoint = { port: ispPort, clientTls: 'implicit', ca: readFileSync(shield.ca.certPath) };
    const got = await withClient(e, async (c) => {
      await c.mailboxOpen('INBOX', { readOnly: true });
      const m = await c.fetchOne('1', { source: true });
      return m ? m.source : undefined;
    });
    assert.equal(got?.toString('latin1'), CLEAN);
  });

  it("under the strict policy, the client's BYE [ALERT] names SHA-1 and the exception setting", async () => {
    const port = await freePort();
    const dataDir = tmpDir('mailshield-imap-strict-');
    const config = validateConfig(
      {
        dataDir,
        policy: { upstream: 'strict' },
        accounts: [
          {
            name: 'isp-strict',
            protocol: 'imap',
            listen: `127.0.0.1:${port}`,
            clientTls: 'implicit',
            upstream: `127.0.0.1:${isp.port}`,
            upstreamTls: 'implicit',
            upstreamServername: 'mail.test',
            upstreamCa: testPki().caCert,
          },
        ],
      },
      'imap.integration.test',
    );
    const strict = await startTestShield(config, silentLogger);
    try {
      const said = await readTlsUntilClose(port, strict.ca.certPath);
      assert.match(said, /^\* BYE \[ALERT\] mailshield: /);
      assert.match(said, /SHA-?1/);
      assert.match(said, /sha1-handshake-signature/);
    } finally {
      await strict.stop();
    }
  });
});
