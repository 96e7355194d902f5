// POP3 through mailshield against a real Dovecot, with curl as the mail client, in every combination of TLS modes.
// Compares what the client gets through the shield with what it gets from Dovecot directly.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../src/core/config.js';
import type { ShieldHandle } from '../src/io/server.js';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { startIspFront, type IspFront } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { readTlsUntilClose } from './fixtures/sockets.js';
import { eicar, freePort, needs, tmpDir } from './fixtures/util.js';
import { win7Client } from './fixtures/win7.js';
import { startTestShield } from './fixtures/shield.js';

const requirements = needs('dovecot', 'curl', 'openssl');
const USER = 'alice';
const PASS = 'pop3-Secret';

const CLEAN =
  'From: Bob <bob@mail.test>\r\nTo: alice@mail.test\r\nSubject: dots\r\nMessage-ID: <1@mail.test>\r\n\r\n' +
  '.leading dot\r\n..two dots\r\n.\r\nmiddle\r\n. \r\n.\r\nend\r\n';
const INFECTED = () =>
  'From: Eve <eve@mail.test>\r\nTo: alice@mail.test\r\nSubject: test virus\r\nMessage-ID: <2@mail.test>\r\n\r\n' +
  eicar() +
  '\r\n';
/** About 300 KB with dot lines throughout, so bodies cross many reads. */
const LARGE = (() => {
  const lines = ['Subject: large', 'Message-ID: <3@mail.test>', ''];
  for (let i = 0; i < 5000; i++)
    lines.push(i % 7 === 0 ? `.line ${i} ${'x'.repeat(40)}` : `line ${i} ${'y'.repeat(50)}`);
  return lines.join('\r\n') + '\r\n';
})();

/** Mail client as the user would run it. Async: the shield runs in this process. */
function curl(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-s', '-S', '--max-time', '20', '-u', `${USER}:${PASS}`, ...args],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: stderr.toString() });
      },
    );
  });
}

type Mode = 'implicit' | 'starttls' | 'none';

interface Endpoint {
  port: number;
  clientTls: Mode;
  ca: string;
}

/** curl arguments for a URL path on an endpoint: pop3s:// for implicit TLS, pop3:// + --ssl-reqd for STLS. */
function curlArgs(e: Endpoint, path: string, extra: string[] = []): string[] {
  const scheme = e.clientTls === 'implicit' ? 'pop3s' : 'pop3';
  const tlsArgs =
    e.clientTls === 'none' ? [] : ['--cacert', e.ca, ...(e.clientTls === 'starttls' ? ['--ssl-reqd'] : [])];
  return [...tlsArgs, ...extra, `${scheme}://127.0.0.1:${e.port}/${path}`];
}

async function ok(e: Endpoint, path: string, extra: string[] = []): Promise<Buffer> {
  const r = await curl(curlArgs(e, path, extra));
  assert.equal(r.code, 0, `curl ${path} ${extra.join(' ')} on port ${e.port} (clientTls ${e.clientTls}): ${r.stderr}`);
  return r.stdout;
}

async function shieldWith(raw: Record<string, unknown>): Promise<{ shield: ShieldHandle; dataDir: string }> {
  const dataDir = tmpDir('mailshield-pop3-');
  const config = validateConfig({ dataDir, ...raw }, 'pop3.integration.test');
  return { shield: await startTestShield(config), dataDir };
}

/** After the greeting, sends all lines at once (the shield and Dovecot both do PIPELINING); returns what was said. */
function plainDialog(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => {
      if (got === '') s.write(lines.map((l) => l + '\r\n').join(''));
      got += d.toString('latin1');
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.setTimeout(15_000, () => s.destroy(new Error(`no close; got ${got}`)));
  });
}

describe('POP3 shield against Dovecot', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let shield: ShieldHandle;
  let dataDir: string;
  const pki = testPki();
  const direct = (): Endpoint => ({ port: dovecot.pop3sPort, clientTls: 'implicit', ca: pki.caCert });
  const endpoints = new Map<string, Endpoint>();
  const combos: [Mode, 'implicit' | 'starttls'][] = [
    ['implicit', 'implicit'],
    ['implicit', 'starttls'],
    ['starttls', 'implicit'],
    ['starttls', 'starttls'],
    ['none', 'implicit'],
  ];

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    dovecot.deliver(USER, CLEAN);
    dovecot.deliver(USER, INFECTED());
    dovecot.deliver(USER, LARGE);
    const accounts = [];
    for (const [clientTls, upstreamTls] of combos) {
      const port = await freePort();
      const name = `pop3-${clientTls}-${upstreamTls}`;
      accounts.push({
        name,
        protocol: 'pop3',
        listen: `127.0.0.1:${port}`,
        clientTls,
        upstream: `127.0.0.1:${upstreamTls === 'implicit' ? dovecot.pop3sPort : dovecot.pop3Port}`,
        upstreamTls,
        upstreamServername: 'mail.test',
        upstreamCa: pki.caCert,
      });
      endpoints.set(name, { port, clientTls, ca: '' });
    }
    ({ shield, dataDir } = await shieldWith({ accounts, policy: { upstream: 'balanced' } }));
    for (const e of endpoints.values()) e.ca = shield.ca.certPath;
  });

  after(async () => {
    await shield?.stop();
    await dovecot?.stop();
  });

  for (const [clientTls, upstreamTls] of combos) {
    const name = `pop3-${clientTls}-${upstreamTls}`;
    it(`client ${clientTls}, upstream ${upstreamTls}: LIST, UIDL, RETR and TOP as without the shield; EICAR replaced`, async () => {
      const e = endpoints.get(name)!;
      assert.deepEqual(await ok(e, ''), await ok(direct(), ''), 'LIST');
      assert.deepEqual(await ok(e, '', ['-X', 'UIDL']), await ok(direct(), '', ['-X', 'UIDL']), 'UIDL');
      const m1 = await ok(e, '1');
      assert.equal(m1.toString('latin1'), CLEAN, 'message with dot lines byte-identical');
      assert.deepEqual(m1, await ok(direct(), '1'));
      assert.equal((await ok(e, '3')).toString('latin1'), LARGE, 'large message byte-identical');
      assert.deepEqual(await ok(e, '', ['-X', 'TOP 1 2']), await ok(direct(), '', ['-X', 'TOP 1 2']), 'TOP');

      const replaced = (await ok(e, '2')).toString('latin1');
      assert.ok(!replaced.includes(eicar()), 'the virus never reaches the client');
      assert.match(replaced, /mailshield/i);
      const quarantined = readdirSync(join(dataDir, 'quarantine')).map((f) =>
        readFileSync(join(dataDir, 'quarantine', f)),
      );
      const original = await ok(direct(), '2');
      assert.equal(original.toString('latin1'), INFECTED());
      assert.ok(
        quarantined.some((q) => q.equals(original)),
        'the original is in quarantine byte-identical',
      );
      // TOP of the infected message in a fresh session (verdict unknown): the body must not pass.
      const top = (await ok(e, '', ['-X', 'TOP 2 5'])).toString('latin1');
      assert.match(top, /Subject: \[virus removed\]/);
      assert.ok(!top.includes(eicar()), top);
    });
  }

  it('a client that skips STLS on a STARTTLS listener is told why its login is refused', async () => {
    const e = endpoints.get('pop3-starttls-implicit')!;
    // curl with --ssl-reqd never tries; a careless client would, so speak POP3 by hand.
    const said = await plainDialog(e.port, ['CAPA', `USER ${USER}`, 'QUIT']);
    assert.match(said, /^\+OK Dovecot/);
    assert.match(said, /\r\nSTLS\r\n\.\r\n/);
    assert.doesNotMatch(said, /\r\n(USER|SASL)/);
    assert.match(said, /-ERR \[AUTH\] mailshield: USER refused: issue STLS first.*MS_ERR_CLIENT_TLS_REQUIRED\)\r\n/);
  });

  it('seed: a Windows 7-style TLS 1.0 client reads mail through the shield', async () => {
    const e = endpoints.get('pop3-implicit-implicit')!;
    const c = win7Client(e.port, { caFile: shield.ca.certPath, servername: 'localhost' });
    try {
      await c.waitForOutput(/\+OK/);
      assert.match(c.output(), /Protocol version: TLSv1\b/);
      // Lower case: s_client treats lines starting with Q or R as its own commands.
      c.send(`user ${USER}\r\npass ${PASS}\r\nretr 1\r\n`);
      await c.waitForOutput(/\r?\nend\r?\n\.\r?\n/);
      assert.ok(c.output().includes('..two dots'), 'stuffed on the wire as the RFC wants');
      c.send('quit\r\n');
      await c.exited;
    } finally {
      c.stop();
    }
  });
});

describe('POP3 seed: the ISP upstream that signs its key exchange with SHA-1', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let isp: IspFront;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    dovecot.deliver(USER, CLEAN);
    isp = await startIspFront(dovecot.pop3Port);
  });
  after(async () => {
    for (const s of stops) await s();
    await isp?.close();
    await dovecot?.stop();
  });

  async function through(policy: 'balanced' | 'strict'): Promise<Endpoint> {
    const port = await freePort();
    const { shield } = await shieldWith({
      policy: { upstream: policy },
      accounts: [
        {
          name: 'isp',
          protocol: 'pop3',
          listen: `127.0.0.1:${port}`,
          clientTls: 'implicit',
          upstream: `127.0.0.1:${isp.port}`,
          upstreamTls: 'implicit',
          upstreamServername: 'mail.test',
          upstreamCa: testPki().caCert,
        },
      ],
    });
    stops.push(() => shield.stop());
    return { port, clientTls: 'implicit', ca: shield.ca.certPath };
  }

  it('works under balanced', async () => {
    const e = await through('balanced');
    assert.equal((await ok(e, '1')).toString('latin1'), CLEAN);
  });

  it("under strict, the client's -ERR names SHA-1 and the exception setting", async () => {
    const e = await through('strict');
    const said = await readTlsUntilClose(e.port, e.ca, 'localhost');
    assert.match(said, /^-ERR \[SYS\/TEMP\] mailshield: /);
    assert.match(said, /SHA-?1/);
    assert.match(said, /policy\.exceptions/);
    assert.match(said, /sha1-handshake-signature/);
    assert.ok(said.endsWith('\r\n') && !said.slice(0, -2).includes('\n'), 'one line, then close');
  });
});

describe('POP3: DELE of infected messages and scanner failure', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  const stops: (() => Promise<void>)[] = [];
  const users = ['keep', 'pass', 'tempfail', 'big'].map((user) => ({ user, pass: PASS }));

  before(async () => {
    dovecot = await startDovecot({ users });
    for (const { user } of users) {
      dovecot.deliver(user, INFECTED());
      dovecot.deliver(user, CLEAN);
    }
  });
  after(async () => {
    for (const s of stops) await s();
    await dovecot?.stop();
  });

  async function plainShield(extra: Record<string, unknown>): Promise<number> {
    const port = await freePort();
    const { shield } = await shieldWith({
      ...extra,
      accounts: [
        {
          name: 'plain',
          protocol: 'pop3',
          listen: `127.0.0.1:${port}`,
          clientTls: 'none',
          upstream: `127.0.0.1:${dovecot.pop3sPort}`,
          upstreamTls: 'implicit',
          upstreamServername: 'mail.test',
          upstreamCa: testPki().caCert,
        },
      ],
    });
    stops.push(() => shield.stop());
    return port;
  }

  const directList = async (user: string) => {
    const r = await curl([
      '--cacert',
      testPki().caCert,
      '-u',
      `${user}:${PASS}`,
      `pop3s://127.0.0.1:${dovecot.pop3sPort}/`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.toString('latin1');
  };

  it('pop3.keepInfectedOnServer: DELE of the replaced message is answered locally, the clean one is deleted', async () => {
    const port = await plainShield({ pop3: { keepInfectedOnServer: true } });
    const said = await plainDialog(port, ['USER keep', `PASS ${PASS}`, 'RETR 1', 'DELE 1', 'DELE 2', 'QUIT']);
    assert.match(
      said,
      /\+OK mailshield kept infected message 1 on the server \(pop3\.keepInfectedOnServer: true\)\r\n/,
    );
    assert.ok(!said.includes(eicar()));
    assert.equal(await directList('keep'), `1 ${INFECTED().length}\r\n`);
  });

  it('by default DELE of a replaced message reaches the server (the original is in quarantine)', async () => {
    const port = await plainShield({});
    await plainDialog(port, ['USER pass', `PASS ${PASS}`, 'RETR 1', 'DELE 1', 'QUIT']);
    // Only the clean message is left, numbered 1 in the new session.
    assert.equal(await directList('pass'), `1 ${CLEAN.length}\r\n`);
  });

  it('scanner down: RETR answers -ERR [SYS/TEMP] with the reason and the message stays', async () => {
    const nobody = await freePort();
    const port = await plainShield({ scan: { engines: ['clamd'], clamd: { address: `127.0.0.1:${nobody}` } } });
    const said = await plainDialog(port, ['USER tempfail', `PASS ${PASS}`, 'RETR 2', 'QUIT']);
    assert.match(
      said,
      /\r\n-ERR \[SYS\/TEMP\] mailshield: could not scan message 2: .+; it stays on the server, try again later\r\n/,
    );
    assert.ok(!said.includes('.leading dot'), 'nothing of the unscanned message reaches the client');
    assert.equal(await directList('tempfail'), `1 ${INFECTED().length}\r\n2 ${CLEAN.length}\r\n`);
  });

  it('a 50 MB message goes through byte-identical, spooled to disk past limits.spoolThresholdBytes', async () => {
    const line = 'line with some text to fill the message, and a dot follows on the next line\r\n.dot line\r\n';
    const big = 'Subject: big\r\n\r\n' + line.repeat(Math.ceil((50 * 1024 * 1024) / line.length));
    // Not delivered in before(): the other tests' users must not pay for it.
    dovecot.deliver('big', big);
    const port = await plainShield({ limits: { spoolThresholdBytes: 1024 * 1024 } });
    const started = Date.now();
    const r = await curl(['-u', `big:${PASS}`, `pop3://127.0.0.1:${port}/3`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, Buffer.byteLength(big));
    assert.ok(r.stdout.equals(Buffer.from(big, 'latin1')), 'byte-identical');
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  });
});
