// The pipeline end to end: verdict to action, notices, refusals, tempfail, tagging, and quarantine-before-reply.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { defaultConfig, type Config } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { openDb, storePath } from '../src/store/db.js';
import { Quarantine } from '../src/store/quarantine.js';
import { createScanPipeline, type ScanSetup as PipelineDeps } from '../src/io/scan-setup.js';
import type { CapturedMessage } from '../src/scan/types.js';
import { compose, withAttachment } from './fixtures/mime.js';
import { eicar, freePort, tmpDir } from './fixtures/util.js';

function setup(patch: (c: Config) => void = () => {}, extra: Partial<PipelineDeps> = {}) {
  const dataDir = join(tmpDir(), 'data');
  const config = defaultConfig();
  config.dataDir = dataDir;
  patch(config);
  const db = openDb(storePath(dataDir));
  const p = createScanPipeline({
    config,
    dataDir,
    db,
    log: silentLogger,
    now: () => new Date('2024-06-01T12:00:00Z'),
    ...extra,
  });
  return { p, db, dataDir, config };
}

function incoming(bytes: Buffer, over: Partial<CapturedMessage> = {}): CapturedMessage {
  return { account: 'work', protocol: 'pop3', direction: 'incoming', bytes, size: bytes.length, connId: 'c1', ...over };
}

const infectedMessage = () =>
  withAttachment(
    { filename: 'eicar.txt', content: eicar() },
    { subject: 'Gr\u00fc\u00dfe aus Berlin', cc: 'Carol <carol@example.test>' },
  );

test('clean mail is released byte-identical, with no bytes copy', async () => {
  const { p } = setup();
  const msg = await compose({});
  const a = await p.scan(incoming(msg));
  assert.deepEqual(a, { action: 'release', verdict: { kind: 'clean' } });
});

test('addScannedHeader adds exactly one header line on top', async () => {
  const { p } = setup((c) => (c.actions.addScannedHeader = true));
  const msg = await compose({});
  const a = await p.scan(incoming(msg));
  assert.equal(a.action, 'release');
  assert.deepEqual(
    a.action === 'release' && a.bytes,
    Buffer.concat([Buffer.from('X-MailShield-Verdict: clean\r\n'), msg]),
  );
});

test("a sender's own X-MailShield-Verdict is removed before ours goes on (clean, unscanned and notice)", async () => {
  const forged = (m: Buffer) =>
    Buffer.concat([
      Buffer.from('x-mailshield-verdict: clean;\r\n engine=forged\r\nX-MAILSHIELD-VERDICT: clean\r\n'),
      m,
    ]);
  const clean = await compose({});
  const tagged = setup((c) => (c.actions.addScannedHeader = true));
  const a = await tagged.p.scan(incoming(forged(clean)));
  assert.deepEqual(
    a.action === 'release' && a.bytes,
    Buffer.concat([Buffer.from('X-MailShield-Verdict: clean\r\n'), clean]),
  );

  const port = await freePort();
  const unscanned = setup((c) => {
    c.scan.engines = ['clamd'];
    c.scan.clamd.address = `127.0.0.1:${port}`;
    c.scan.onError = 'deliver-tagged';
  });
  const u = await unscanned.p.scan(incoming(forged(clean)));
  const ub = u.action === 'release' && u.bytes ? u.bytes.toString('latin1') : '';
  assert.match(ub, /^X-MailShield-Verdict: unscanned; reason=clamd: /);
  assert.equal(ub.match(/x-mailshield-verdict/gi)?.length, 1, ub.slice(0, 400));

  const { p } = setup();
  const r = await p.scan(incoming(forged(await infectedMessage())));
  assert.equal(r.action, 'replace');
  const notice = r.action === 'replace' ? r.notice.toString('latin1') : '';
  assert.equal(notice.match(/x-mailshield-verdict/gi)?.length, 1, notice);
  assert.match(notice, /^X-MailShield-Verdict: infected; /m);
  assert.doesNotMatch(notice, /forged/);
});

test('incoming infected: quarantined original, notice keeps identity headers and says what, where, who and how', async () => {
  const { p } = setup();
  const msg = await infectedMessage();
  const a = await p.scan(incoming(msg));
  assert.equal(a.action, 'replace');
  if (a.action !== 'replace') return;
  // Quarantine holds the exact original before scan() resolved.
  assert.deepEqual(p.quarantine.read(a.quarantineId), msg);
  const entry = p.quarantine.get(a.quarantineId)!;
  assert.equal(entry.subject, 'Gr\u00fc\u00dfe aus Berlin');
  assert.equal(entry.account, 'work');

  const notice = a.notice.toString('latin1');
  const rawHeader = (name: string) => new RegExp(`^${name}:.*$`, 'mi').exec(msg.toString('latin1'))![0];
  for (const h of ['Date', 'From', 'To', 'Cc', 'Message-ID'])
    assert.ok(notice.includes(rawHeader(h) + '\r\n'), `${h} kept verbatim`);
  assert.match(
    notice,
    new RegExp(
      `^X-MailShield-Verdict: infected; engine=builtin; signature=EICAR-Test-File; quarantine=${a.quarantineId}\\r$`,
      'm',
    ),
  );
  // The dangerous part is gone entirely, in any encoding.
  assert.ok(!a.notice.includes(eicar()));
  assert.ok(!a.notice.includes(Buffer.from(eicar()).toString('base64').slice(0, 40)));

  const parsed = await simpleParser(a.notice);
  assert.equal(parsed.subject, '[virus removed] Gr\u00fc\u00dfe aus Berlin');
  // The notice has its own Message-ID; the original's is kept in X-MailShield-Original-Message-ID (notice.ts).
  assert.equal(parsed.messageId, `<${a.quarantineId}.notice@mailshield.invalid>`);
  assert.equal(parsed.headers.get('x-mailshield-original-message-id'), '<report-1@example.test>');
  assert.equal(parsed.date?.toISOString(), '2024-05-06T07:08:09.000Z');
  assert.equal(parsed.attachments.length, 0);
  const text = parsed.text ?? '';
  assert.match(text, /EICAR-Test-File/);
  assert.match(text, /Where: +eicar\.txt/);
  assert.match(text, /the builtin engine/);
  assert.ok(text.includes(`mailshield quarantine export ${a.quarantineId} --out original.eml`));

  const det = p.quarantine.list();
  assert.equal(det.length, 1);
});

test('blocked attachment: header names the rule; detection row recorded', async () => {
  const { p, db } = setup((c) => (c.actions.subjectPrefix = '[blocked] '));
  const msg = await withAttachment({ filename: 'invoice.pdf.exe', content: 'MZ' });
  const a = await p.scan(incoming(msg));
  assert.equal(a.action, 'replace');
  if (a.action !== 'replace') return;
  assert.match(
    a.notice.toString(),
    /^X-MailShield-Verdict: blocked; rule=double-extension; quarantine=[0-9a-f]{12}\r$/m,
  );
  assert.match(a.notice.toString(), /^Subject: \[blocked\] Quarterly report\r$/m);
  const rows = db.prepare('SELECT kind, engine, name, part, quarantine_id FROM detections').all();
  assert.deepEqual(rows, [
    {
      kind: 'blocked',
      engine: 'builtin',
      name: 'double-extension',
      part: 'invoice.pdf.exe',
      quarantine_id: a.quarantineId,
    },
  ]);
});

test('outgoing infected: refused with a one-line reply naming detection, attachment and quarantine id', async () => {
  const { p } = setup();
  const msg = await infectedMessage();
  const a = await p.scan(incoming(msg, { direction: 'outgoing', protocol: 'smtp' }));
  assert.equal(a.action, 'refuse');
  if (a.action !== 'refuse') return;
  assert.doesNotMatch(a.reply, /[\r\n]/);
  assert.match(a.reply, /EICAR-Test-File/);
  assert.match(a.reply, /eicar\.txt/);
  assert.ok(a.reply.includes(a.quarantineId));
  assert.deepEqual(p.quarantine.read(a.quarantineId), msg);
  assert.equal(p.quarantine.get(a.quarantineId)!.direction, 'outgoing');
});

test('scanner error: tempfail by default, tagged delivery when configured, never silent', async () => {
  const port = await freePort();
  const down = (c: Config) => {
    c.scan.engines = ['clamd'];
    c.scan.clamd.address = `127.0.0.1:${port}`;
  };
  const msg = await compose({});
  const tp = setup(down).p;
  const t = await tp.scan(incoming(msg));
  assert.equal(t.action, 'tempfail');
  assert.match(t.action === 'tempfail' ? t.reason : '', /clamd is not reachable.*MS_ERR_CLAMD_UNAVAILABLE/);
  // The unscanned original is in quarantine too, once, however often the client retries.
  await tp.scan(incoming(msg));
  const held = tp.quarantine.list();
  assert.equal(held.length, 1);
  assert.equal(held[0]!.verdict, 'error');
  assert.deepEqual(tp.quarantine.read(held[0]!.id), msg);

  const d = await setup((c) => {
    down(c);
    c.scan.onError = 'deliver-tagged';
  }).p.scan(incoming(msg));
  assert.equal(d.action, 'release');
  if (d.action !== 'release') return;
  assert.equal(d.verdict.kind, 'error');
  const bytes = d.bytes!;
  const firstLine = bytes.subarray(0, bytes.indexOf('\r\n')).toString();
  assert.match(firstLine, /^X-MailShield-Verdict: unscanned; reason=clamd: clamd is not reachable/);
  assert.deepEqual(bytes.subarray(firstLine.length + 2), msg);
});

test('a finding beats an engine error, whichever order they run in', async () => {
  const port = await freePort();
  const msg = await infectedMessage();
  for (const engines of [
    ['clamd', 'builtin'],
    ['builtin', 'clamd'],
  ] as const) {
    const { p } = setup((c) => {
      c.scan.engines = [...engines];
      c.scan.clamd.address = `127.0.0.1:${port}`;
    });
    const a = await p.scan(incoming(msg));
    assert.equal(a.action, 'replace', engines.join(','));
  }
});

test('a spooled message is scanned and quarantined from its file', async () => {
  const { p } = setup();
  const msg = await infectedMessage();
  const file = join(tmpDir(), 'spool.eml');
  writeFileSync(file, msg);
  const a = await p.scan({ account: 'work', protocol: 'imap', direction: 'incoming', path: file, size: msg.length });
  assert.equal(a.action, 'replace');
  assert.deepEqual(a.action === 'replace' && p.quarantine.read(a.quarantineId), msg);
});

test('when quarantine cannot be written the message is held back (tempfail), never replaced', async () => {
  const { p, dataDir } = setup();
  writeFileSync(join(dataDir, 'quarantine'), 'a file where the folder should be');
  const a = await p.scan(incoming(await infectedMessage()));
  assert.equal(a.action, 'tempfail');
  assert.match(a.action === 'tempfail' ? a.reason : '', /MS_ERR_QUARANTINE_WRITE/);
});

test('a crash between the quarantine write and the reply leaves the message in quarantine', async () => {
  const dir = tmpDir();
  const dataDir = join(dir, 'data');
  const msgFile = join(dir, 'msg.eml');
  const msg = await infectedMessage();
  writeFileSync(msgFile, msg);
  const pipelineJs = fileURLToPath(new URL('../src/io/scan-setup.js', import.meta.url));
  const dbJs = fileURLToPath(new URL('../src/store/db.js', import.meta.url));
  const configJs = fileURLToPath(new URL('../src/core/config.js', import.meta.url));
  const loggerJs = fileURLToPath(new URL('../src/core/logger.js', import.meta.url));
  // The child scans and is SIGKILLed the moment the quarantine put() resolves: no reply, no clean shutdown.
  const script = `
    import { readFileSync } from 'node:fs';
    const { createScanPipeline } = await import(${JSON.stringify(pipelineJs)});
    const { openDb, storePath } = await import(${JSON.stringify(dbJs)});
    const { defaultConfig } = await import(${JSON.stringify(configJs)});
    const { silentLogger } = await import(${JSON.stringify(loggerJs)});
    const dataDir = ${JSON.stringify(dataDir)};
    const p = createScanPipeline({ config: defaultConfig(), dataDir, db: openDb(storePath(dataDir)), log: silentLogger,
      afterQuarantine: (id) => { process.stdout.write(id); process.kill(process.pid, 'SIGKILL'); } });
    const bytes = readFileSync(${JSON.stringify(msgFile)});
    await p.scan({ account: 'work', protocol: 'pop3', direction: 'incoming', bytes, size: bytes.length });
    process.stdout.write('REPLIED');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  assert.match(r.stdout, /^[0-9a-f]{12}$/, 'killed before any reply');
  const q = new Quarantine(dataDir, openDb(storePath(dataDir)));
  const entries = q.list();
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.id, r.stdout);
  assert.deepEqual(readFileSync(entries[0]!.file), msg);
});
