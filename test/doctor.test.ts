// `mailshield doctor` as a user runs it: a config with several accounts whose upstreams are the story's openssl
// peers, judged under the current and a candidate policy; a recorded TLS 1.0 ClientHello judged under a candidate
// client policy; lapsing exceptions; and the local checks (CA modes, listener ports, clamd).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../src/cli/context.js';
import { silentLogger } from '../src/core/logger.js';
import { startShield } from '../src/io/server.js';
import { openDb, storePath } from '../src/store/db.js';
import { EventStore } from '../src/store/events.js';
import type { DoctorReport } from '../src/probe/doctor.js';
import { startClamd, type TestClamd } from './fixtures/clamd.js';
import { startPeer, type Peer } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { freePort, needs, tmpDir } from './fixtures/util.js';
import { cli } from './probe-cli.js';

const DAY = 86_400_000;
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

interface Setup {
  dir: string;
  file: string;
  dataDir: string;
}

async function writeConfig(peers: Record<string, Peer>, extra = ''): Promise<Setup> {
  const dir = tmpDir('mailshield-doctor-');
  const dataDir = join(dir, 'data');
  const accounts = [
    ['isp-pop', 'pop3', peers.isp!],
    ['gmail-imap', 'imap', peers.gmail!],
    ['yahoo-smtp', 'smtp', peers.yahoo!],
  ] as const;
  const lines = [`dataDir: ${dataDir}`, 'accounts:'];
  for (const [name, protocol, peer] of accounts) {
    lines.push(
      `  - name: ${name}`,
      `    protocol: ${protocol}`,
      `    listen: 127.0.0.1:${await freePort()}`,
      '    clientTls: implicit',
      `    upstream: 127.0.0.1:${peer.port}`,
      '    upstreamTls: implicit',
      '    upstreamServername: mail.test',
      `    upstreamCa: ${testPki().caCert}`,
    );
  }
  const file = join(dir, 'mailshield.yaml');
  writeFileSync(file, lines.join('\n') + '\n' + extra);
  return { dir, file, dataDir };
}

async function doctor(s: Setup, args: string[] = []): Promise<{ code: number; report: DoctorReport; out: string }> {
  const run = await cli(['doctor', '--config', s.file, '--json', '--timeout', '5000', ...args]);
  try {
    return { code: run.code, report: JSON.parse(run.stdout) as DoctorReport, out: run.stderr };
  } catch {
    throw new Error(`doctor printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
}

const statusOf = (r: DoctorReport) => Object.fromEntries(r.accounts.map((a) => [a.account, a.status]));

describe('doctor: accounts under the current and a candidate policy', needs('openssl'), () => {
  const peers: Record<string, Peer> = {};
  before(async () => {
    for (const k of ['isp', 'gmail', 'yahoo'] as const) peers[k] = await startPeer(k);
  });
  after(async () => {
    for (const p of Object.values(peers)) await p.stop();
  });

  test('balanced (configured): ISP WARN for its SHA-1 handshake signature, others OK, exit 0', async () => {
    const s = await writeConfig(peers);
    const { code, report } = await doctor(s);
    assert.equal(code, 0);
    assert.deepEqual(statusOf(report), { 'isp-pop': 'WARN', 'gmail-imap': 'OK', 'yahoo-smtp': 'OK' });
    const isp = report.accounts.find((a) => a.account === 'isp-pop')!;
    assert.match(isp.reason, /RSA\+SHA1/);
    assert.match(isp.fix ?? '', /SHA-256/);
    assert.equal(report.policy.upstreamCandidate, false);
  });

  test('--policy strict: only the ISP breaks, with the exception that would admit it; exit 1', async () => {
    const s = await writeConfig(peers);
    const { code, report } = await doctor(s, ['--policy', 'strict']);
    assert.equal(code, 1);
    assert.deepEqual(statusOf(report), { 'isp-pop': 'FAIL', 'gmail-imap': 'OK', 'yahoo-smtp': 'OK' });
    const isp = report.accounts.find((a) => a.account === 'isp-pop')!;
    assert.equal(isp.currentStatus, 'WARN');
    assert.match(isp.reason, /signed its key exchange with RSA\+SHA1; policy 'strict'/);
    assert.match(isp.fix ?? '', /policy\.exceptions: \{host: mail\.test, allow: \[sha1-handshake-signature\]/);
    assert.equal(report.policy.upstreamCandidate, true);

    // The human form says the same in rows.
    const human = await cli(['doctor', '--config', s.file, '--policy', 'strict']);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /FAIL isp-pop/);
    assert.match(human.stdout, /OK {3}gmail-imap/);
    assert.match(human.stdout, /1 account\(s\) would fail under policy 'strict'/);
  });

  test('an exception admits the ISP under strict (WARN, exit 0) and is listed as lapsing soon', async () => {
    const until = isoDay(new Date(Date.now() + 10 * DAY));
    const s = await writeConfig(
      peers,
      `policy:\n  exceptions:\n    - host: mail.test\n      allow: [sha1-handshake-signature]\n      until: ${until}\n      reason: ISP ticket 4711\n`,
    );
    const { code, report } = await doctor(s, ['--policy', 'strict']);
    assert.equal(code, 0);
    assert.equal(statusOf(report)['isp-pop'], 'WARN');
    assert.match(report.accounts.find((a) => a.account === 'isp-pop')!.reason, /policy\.exceptions/);
    assert.deepEqual(
      report.exceptions.map((e) => [e.host, e.until, e.daysLeft, e.reason]),
      [['mail.test', until, 10, 'ISP ticket 4711']],
    );
  });

  test('a recorded TLS 1.0 client: fine under auto on loopback, refused under --client-policy strict', async () => {
    const s = await writeConfig(peers);
    const db = openDb(storePath(s.dataDir));
    const hello = {
      legacyVersion: 'TLSv1',
      versions: ['TLSv1'],
      cipherSuites: [0xc014, 0xc013, 0x0035, 0x002f],
      cipherSuiteNames: [
        'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
        'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
        'TLS_RSA_WITH_AES_256_CBC_SHA',
        'TLS_RSA_WITH_AES_128_CBC_SHA',
      ],
      signatureAlgorithms: [],
      groups: ['secp256r1'],
      sni: 'mail.test',
      alpn: [],
    };
    const conn = { account: 'isp-pop', listener: '127.0.0.1:1995', clientAddress: '127.0.0.1', policy: 'legacy' };
    new EventStore(db, () => new Date(Date.now() - 2 * DAY)).clientHello(
      { ...conn, connectionId: 'c1' },
      hello,
      true,
      null,
    );
    // Older than the 30-day window: must not be listed.
    new EventStore(db, () => new Date(Date.now() - 40 * DAY)).clientHello(
      { ...conn, clientAddress: '127.0.0.9', connectionId: 'c0' },
      hello,
      true,
      null,
    );
    db.close();

    const current = await doctor(s);
    assert.equal(current.report.clientsRecorded, true);
    assert.deepEqual(current.report.clients, []);

    const strict = await doctor(s, ['--client-policy', 'strict']);
    assert.equal(strict.report.policy.clientCandidate, true);
    assert.equal(strict.report.clients.length, 1);
    const c = strict.report.clients[0]!;
    assert.equal(c.listener, '127.0.0.1:1995');
    assert.equal(c.clientAddress, '127.0.0.1');
    assert.match(c.reason, /client offered only TLS 1\.0; listener 127\.0\.0\.1:1995 requires TLS 1\.2/);
    assert.match(c.offered, /TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA/);
    assert.ok(Date.parse(c.lastSeen) > Date.now() - 3 * DAY);
    // Refused clients are reported, but only failing accounts change the exit code.
    assert.equal(strict.code, 0);
  });
});

describe('doctor: local checks', () => {
  test('CA key readable by others is a FAIL; 0600 is OK', async () => {
    const dir = tmpDir('mailshield-doctor-');
    const dataDir = join(dir, 'data');
    mkdirSync(join(dataDir, 'ca'), { recursive: true, mode: 0o700 });
    chmodSync(join(dataDir, 'ca'), 0o700);
    writeFileSync(join(dataDir, 'ca', 'ca.pem'), 'cert', { mode: 0o644 });
    writeFileSync(join(dataDir, 'ca', 'ca.key'), 'key', { mode: 0o644 });
    chmodSync(join(dataDir, 'ca', 'ca.key'), 0o644);
    const file = join(dir, 'mailshield.yaml');
    writeFileSync(file, `dataDir: ${dataDir}\n`);
    const bad = await cli(['doctor', '--config', file, '--json']);
    const report = JSON.parse(bad.stdout) as DoctorReport;
    assert.equal(bad.code, 1);
    assert.equal(report.local.find((l) => l.check === 'CA key mode')?.status, 'FAIL');
    chmodSync(join(dataDir, 'ca', 'ca.key'), 0o600);
    const good = await cli(['doctor', '--config', file, '--json']);
    assert.equal(good.code, 0, good.stdout);
    assert.equal((JSON.parse(good.stdout) as DoctorReport).local.find((l) => l.check === 'CA key mode')?.status, 'OK');
  });

  test('no CA yet is a WARN; a listener port held by another program is a FAIL', async () => {
    const dir = tmpDir('mailshield-doctor-');
    const other: Server = createServer(() => undefined);
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    const port = (other.address() as { port: number }).port;
    const file = join(dir, 'mailshield.yaml');
    writeFileSync(
      file,
      [
        `dataDir: ${join(dir, 'data')}`,
        'accounts:',
        '  - name: held',
        '    protocol: pop3',
        `    listen: 127.0.0.1:${port}`,
        '    clientTls: implicit',
        '    upstream: 127.0.0.1:1',
        '    upstreamTls: implicit',
        '',
      ].join('\n'),
    );
    try {
      const run = await cli(['doctor', '--config', file, '--json', '--timeout', '2000']);
      const report = JSON.parse(run.stdout) as DoctorReport;
      assert.equal(run.code, 1);
      assert.equal(report.local.find((l) => l.check === 'CA')?.status, 'WARN');
      const l = report.local.find((x) => x.check.startsWith('listener held'))!;
      assert.equal(l.status, 'FAIL');
      assert.match(l.detail, /in use by another program/);
      // The unreachable upstream fails the account too, with a one-line reason.
      assert.equal(report.accounts[0]?.status, 'FAIL');
      assert.match(report.accounts[0]!.reason, /ECONNREFUSED/);
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  test("a listener port held by this mailshield is OK (it serves a leaf of this install's CA)", async () => {
    const dir = tmpDir('mailshield-doctor-');
    const file = join(dir, 'mailshield.yaml');
    const listen = `127.0.0.1:${await freePort()}`;
    writeFileSync(
      file,
      [
        `dataDir: ${join(dir, 'data')}`,
        'accounts:',
        '  - name: ours',
        '    protocol: pop3',
        `    listen: ${listen}`,
        '    clientTls: implicit',
        '    upstream: 127.0.0.1:1',
        '    upstreamTls: implicit',
        '',
      ].join('\n'),
    );
    const shield = await startShield(loadConfig({ config: file }), { log: silentLogger });
    try {
      const run = await cli(['doctor', '--config', file, '--json', '--timeout', '2000']);
      const report = JSON.parse(run.stdout) as DoctorReport;
      const l = report.local.find((x) => x.check.startsWith('listener ours'))!;
      assert.equal(l.status, 'OK', l.detail);
      assert.match(l.detail, /this mailshield/);
      assert.equal(report.local.find((x) => x.check === 'CA key mode')?.status, 'OK');
    } finally {
      await shield.stop();
    }
  });

  describe('clamd', needs('clamd'), () => {
    let clamd: TestClamd;
    before(async () => {
      clamd = await startClamd();
    });
    after(async () => {
      await clamd?.stop();
    });
    test('a running clamd answers PING; a dead address is a FAIL', async () => {
      const dir = tmpDir('mailshield-doctor-');
      const file = join(dir, 'mailshield.yaml');
      const cfg = (address: string) =>
        `dataDir: ${join(dir, 'data')}\nscan:\n  engines: [builtin, clamd]\n  clamd:\n    address: ${address}\n`;
      writeFileSync(file, cfg(`unix:${clamd.socketPath}`));
      const up = JSON.parse((await cli(['doctor', '--config', file, '--json'])).stdout) as DoctorReport;
      assert.equal(up.local.find((l) => l.check.startsWith('clamd'))?.status, 'OK');
      writeFileSync(file, cfg(`127.0.0.1:${await freePort()}`));
      const down = await cli(['doctor', '--config', file, '--json']);
      assert.equal(down.code, 1);
      assert.equal(
        (JSON.parse(down.stdout) as DoctorReport).local.find((l) => l.check.startsWith('clamd'))?.status,
        'FAIL',
      );
    });
  });
});
