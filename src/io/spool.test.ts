import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from './spool.js';

const dir = () => join(mkdtempSync(join(tmpdir(), 'spool-')), 'spool');

async function readAll(s: Spool): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s.read()) parts.push(c);
  return Buffer.concat(parts);
}

test('a message under the threshold stays in memory', async () => {
  const s = new Spool(dir(), 1024, 1 << 20);
  assert.equal(s.push(Buffer.from('hello ')), null);
  assert.equal(s.push(Buffer.from('world')), null);
  const done = await s.finish();
  assert.equal(done.path, undefined);
  assert.equal(done.bytes?.toString(), 'hello world');
  assert.equal((await readAll(s)).toString(), 'hello world');
});

test('past the threshold the message spools to a 0600 file, byte-identical, and discard removes it', async () => {
  const d = dir();
  const s = new Spool(d, 64 * 1024, 64 << 20);
  const whole = randomBytes(3 * 1024 * 1024 + 17);
  // Uneven chunks, and the caller reuses its buffer after push (as a socket may).
  const scratch = Buffer.alloc(70_001);
  for (let off = 0; off < whole.length; off += scratch.length) {
    const n = whole.copy(scratch, 0, off, Math.min(off + scratch.length, whole.length));
    assert.equal(s.push(scratch.subarray(0, n)), null);
    scratch.fill(0);
  }
  const done = await s.finish();
  assert.ok(done.path && done.path.startsWith(d));
  assert.equal(done.size, whole.length);
  assert.equal(statSync(done.path).mode & 0o777, 0o600);
  assert.equal(statSync(d).mode & 0o777, 0o700);
  assert.ok(readFileSync(done.path).equals(whole));
  assert.ok((await readAll(s)).equals(whole));
  await s.discard();
  assert.equal(existsSync(done.path), false);
});

test('the size limit is an error with the setting that changes it, and further pushes keep failing', async () => {
  const s = new Spool(dir(), 10, 100);
  assert.equal(s.push(Buffer.alloc(60)), null);
  const err = s.push(Buffer.alloc(60));
  assert.equal(err?.code, 'MS_ERR_CLIENT_MESSAGE_TOO_LARGE');
  assert.match(err?.message ?? '', /limits\.maxMessageBytes/);
  assert.equal(s.push(Buffer.alloc(1)), err);
  await s.discard();
});

test('a spool folder that cannot be created fails the capture instead of losing bytes silently', async () => {
  // A regular file where the folder should be: mkdir fails with ENOTDIR.
  const blocker = join(mkdtempSync(join(tmpdir(), 'spool-')), 'file');
  writeFileSync(blocker, '');
  const s = new Spool(join(blocker, 'spool'), 0, 1 << 20);
  s.push(Buffer.from('data'));
  await assert.rejects(() => s.finish(), /could not spool message/);
});

test('backlog counts unwritten bytes and whenBelow resolves as the writer catches up', async () => {
  const s = new Spool(dir(), 0, 256 << 20);
  for (let i = 0; i < 64; i++) s.push(Buffer.alloc(256 * 1024, i));
  assert.ok(s.backlog > 0, 'bytes wait for the writer');
  await s.whenBelow(1);
  assert.equal(s.backlog, 0);
  const done = await s.finish();
  assert.equal(done.size, 64 * 256 * 1024);
  await s.discard();
});

test('cleanSpoolDir removes what a killed shield left in the spool (crash safety)', async () => {
  const { cleanSpoolDir } = await import('./spool.js');
  const dir = mkdtempSync(join(tmpdir(), 'mailshield-spool-clean-'));
  const spool = join(dir, 'spool');
  const s = new Spool(spool, 0, 1 << 20);
  s.push(Buffer.from('half a message'));
  await s.finish();
  writeFileSync(join(spool, 'left-by-crash'), 'x');
  cleanSpoolDir(spool);
  assert.equal(existsSync(spool), false);
});
