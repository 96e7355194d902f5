import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDb, storePath } from './db.js';
import { Quarantine, type QuarantineMeta } from './quarantine.js';
import { tmpDir } from '../../test/fixtures/util.js';

const meta: QuarantineMeta = {
  account: 'work',
  protocol: 'pop3',
  direction: 'incoming',
  verdict: { kind: 'infected', engine: 'builtin', signature: 'EICAR-Test-File', part: 'eicar.txt' },
  subject: 'Grüße',
  from: 'Alice <alice@example.test>',
  connId: 'c42',
};

function setup(now?: () => Date) {
  const dataDir = join(tmpDir(), 'data');
  const db = openDb(storePath(dataDir));
  return { dataDir, db, q: new Quarantine(dataDir, db, now) };
}

// Bytes that any text conversion would damage: CRLF and bare LF, NUL, 8-bit, a trailing partial line.
const original = Buffer.concat([
  Buffer.from('Subject: x\r\n\r\nline\nbare\r\n'),
  Buffer.from([0, 0xff, 0xfe, 0x80]),
  Buffer.from('tail'),
]);

test('put stores the exact bytes with mode 0600 in a 0700 folder, indexed with every field', async () => {
  const { q, dataDir } = setup(() => new Date('2024-01-02T03:04:05Z'));
  const id = await q.put(original, meta);
  assert.match(id, /^[0-9a-f]{12}$/);
  const e = q.get(id)!;
  assert.equal(statSync(join(dataDir, 'quarantine')).mode & 0o777, 0o700);
  assert.equal(statSync(e.file).mode & 0o777, 0o600);
  assert.deepEqual(readFileSync(e.file), original);
  assert.deepEqual(q.read(id), original);
  assert.equal(e.receivedAt, '2024-01-02T03:04:05.000Z');
  assert.equal(e.size, original.length);
  assert.equal(e.subject, 'Grüße');
  assert.equal(e.from, 'Alice <alice@example.test>');
  assert.equal(e.verdict, 'infected');
  assert.deepEqual(e.detail, meta.verdict);
  assert.equal(e.connectionId, 'c42');
  assert.match(e.sha256, /^[0-9a-f]{64}$/);
  assert.ok(e.file.endsWith(`${e.sha256}.eml`));
  // No temp files left behind.
  assert.deepEqual(readdirSync(join(dataDir, 'quarantine')), [`${e.sha256}.eml`]);
});

test('export is byte-identical and 0600; a spooled original is copied, not loaded', async () => {
  const { q } = setup();
  const dir = tmpDir();
  const spool = join(dir, 'spool.eml');
  writeFileSync(spool, original);
  const id = await q.put({ path: spool }, meta);
  const out = join(dir, 'original.eml');
  q.exportTo(id, out);
  assert.deepEqual(readFileSync(out), original);
  assert.equal(statSync(out).mode & 0o777, 0o600);
});

test('content-addressed: the same bytes are stored once; the file goes with the last entry', async () => {
  const { q, dataDir } = setup();
  const a = await q.put(original, meta);
  const b = await q.put(original, { ...meta, account: 'other' });
  assert.notEqual(a, b);
  assert.equal(readdirSync(join(dataDir, 'quarantine')).length, 1);
  assert.equal(q.list().length, 2);
  q.delete(a);
  assert.ok(existsSync(q.get(b)!.file));
  const file = q.get(b)!.file;
  q.delete(b);
  assert.ok(!existsSync(file));
  assert.equal(q.list().length, 0);
});

test('unknown ids fail with MS_ERR_QUARANTINE_NOT_FOUND', () => {
  const { q } = setup();
  for (const f of [
    () => q.read('nope'),
    () => q.delete('nope'),
    () => q.exportTo('nope', '/tmp/x'),
    () => q.getOrThrow('nope'),
  ])
    assert.throws(
      f,
      (e: unknown) =>
        (e as { code?: string }).code === 'MS_ERR_QUARANTINE_NOT_FOUND' &&
        /no quarantine entry has the id "nope"/.test(String(e)),
    );
});

test('retention purge deletes old entries and their files; 0 keeps everything', async () => {
  let now = new Date('2024-01-01T00:00:00Z');
  const { q } = setup(() => now);
  const old = await q.put(Buffer.from('old message'), meta);
  now = new Date('2024-01-20T00:00:00Z');
  const fresh = await q.put(Buffer.from('fresh message'), meta);
  const oldFile = q.get(old)!.file;
  now = new Date('2024-02-05T00:00:00Z');
  assert.equal(q.purge(0), 0);
  assert.equal(q.list().length, 2);
  assert.equal(q.purge(30), 1);
  assert.deepEqual(
    q.list().map((e) => e.id),
    [fresh],
  );
  assert.ok(!existsSync(oldFile));
});

test('a write failure is MS_ERR_QUARANTINE_WRITE', async () => {
  const dataDir = join(tmpDir(), 'data');
  const db = openDb(storePath(dataDir));
  writeFileSync(join(dataDir, 'quarantine'), 'not a folder');
  const q = new Quarantine(dataDir, db);
  await assert.rejects(
    q.put(original, meta),
    (e: unknown) => (e as { code?: string }).code === 'MS_ERR_QUARANTINE_WRITE',
  );
  assert.equal(q.list().length, 0, 'no index row without a file');
});

test('recover at start removes temp files and files without a row, keeps complete entries, names rows without a file', async () => {
  const { q, dataDir } = setup();
  const id = await q.put(original, meta);
  const dir = join(dataDir, 'quarantine');
  // What a SIGKILL between the steps of put() leaves: a temp file, and a renamed file whose row was never written.
  writeFileSync(join(dir, '.tmp-0123456789abcdef'), 'partial');
  writeFileSync(join(dir, `${'a'.repeat(64)}.eml`), 'no row');
  const r = q.recover();
  assert.deepEqual(r, { removedFiles: 2, rowsWithoutFile: [] });
  assert.deepEqual(readdirSync(dir), [`${q.get(id)!.sha256}.eml`]);
  assert.deepEqual(q.read(id), original);
});
