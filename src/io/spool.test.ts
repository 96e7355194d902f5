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
  // Uneven chunks, each a buffer of its own as a socket delivers them.
  for (let off = 0; off < whole.length; off += 70_001)
    assert.equal(s.push(Buffer.from(whole.subarray(off, off + 70_001))), null);
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

test('switching to disk counts the bytes kept in memory as unwritten, and the backlog returns to exactly 0', async () => {
  const s = new Spool(dir(), 1024 * 1024, 64 << 20);
  for (let i = 0; i < 16; i++) assert.equal(s.push(Buffer.alloc(64 * 1024, i)), null);
  assert.equal(s.backlog, 0, 'still in memory: nothing to write');
  s.push(Buffer.alloc(10, 0xff));
  // The whole megabyte in memory now waits for the file too; reading only the 10 new bytes under-reported the backlog
  // by the threshold, and it went negative once the writer took the memory part as well.
  assert.equal(s.backlog, 1024 * 1024 + 10);
  await s.whenBelow(1);
  assert.equal(s.backlog, 0);
  const done = await s.finish();
  const file = readFileSync(done.path!);
  assert.equal(file.length, 1024 * 1024 + 10);
  assert.equal(file[0], 0);
  assert.equal(file[1024 * 1024 - 1], 15);
  assert.equal(file[1024 * 1024], 0xff);
  await s.discard();
});

test('a small view of a large buffer is copied on push, so a queued slice cannot pin memory backlog does not count', async () => {
  const s = new Spool(dir(), 0, 1 << 20);
  const big = Buffer.alloc(64 * 1024, 0x61);
  s.push(big.subarray(0, 100));
  big.fill(0x62); // only a copy survives this
  const done = await s.finish();
  assert.equal(readFileSync(done.path!).toString(), 'a'.repeat(100));
  await s.discard();
});

test('readReusing streams the spool file through one buffer, byte-identical', async () => {
  const s = new Spool(dir(), 0, 64 << 20);
  const whole = randomBytes(1024 * 1024 + 333);
  for (let off = 0; off < whole.length; off += 50_000) s.push(Buffer.from(whole.subarray(off, off + 50_000)));
  await s.finish();
  const backing = new Set<ArrayBufferLike>();
  const copies: Buffer[] = [];
  for await (const c of s.readReusing(64 * 1024)) {
    backing.add(c.buffer);
    copies.push(Buffer.from(c)); // the view is only valid until the next chunk is asked for
  }
  assert.ok(Buffer.concat(copies).equals(whole));
  assert.ok(copies.length >= 16, 'read in chunks of at most the given size');
  assert.equal(backing.size, 1, 'one read buffer for the whole file, not one per chunk');
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
