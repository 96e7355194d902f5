import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { deflateRawSync, crc32 } from 'node:zlib';
import { scanFiles } from '../../io/scan-files.js';
import { walkZip } from './archive.js';
import { factsOfBuffer, factsOfStream, HEAD_BYTES } from './content.js';
import { eicarNeedle } from './eicar.js';

// Temp files go where the shield's own would: a private folder, here a throwaway one.
const tempDir = join(mkdtempSync(join(tmpdir(), 'mailshield-content-')), 'tmp');
const files = scanFiles(tempDir);

function chunks(buf: Buffer, cuts: number[]): Readable {
  const parts: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, buf.length]) {
    parts.push(buf.subarray(at, c));
    at = c;
  }
  return Readable.from(parts);
}

test('EICAR is found when split at every offset, once or byte by byte, and not when one byte differs', async () => {
  const needle = eicarNeedle();
  const body = Buffer.concat([randomBytes(100), needle, randomBytes(50)]);
  for (let cut = 0; cut <= body.length; cut++) {
    const f = await factsOfStream(chunks(body, [cut]), false, files);
    assert.equal(f.eicar, true, `cut at ${cut}`);
  }
  const bytes = Array.from({ length: body.length - 1 }, (_, i) => i + 1);
  assert.equal((await factsOfStream(chunks(body, bytes), false, files)).eicar, true, 'byte by byte');
  const broken = Buffer.from(body);
  broken[100 + 30] ^= 1;
  for (let cut = 0; cut <= broken.length; cut += 7)
    assert.equal((await factsOfStream(chunks(broken, [cut]), false, files)).eicar, false);
});

test('streamed facts equal the facts of the whole buffer (hash, head, size); plain parts are not kept', async () => {
  const body = randomBytes(3 * HEAD_BYTES + 17);
  const whole = factsOfBuffer(body, true);
  const f = await factsOfStream(chunks(body, [1, 5, 9, 70_000, 150_000]), true, files);
  assert.equal(f.size, body.length);
  assert.equal(f.sha256, createHash('sha256').update(body).digest('hex'));
  assert.equal(f.sha256, whole.sha256);
  assert.deepEqual(f.head, body.subarray(0, HEAD_BYTES));
  assert.equal(f.whole, undefined);
  assert.equal((await factsOfStream(chunks(body, []), false, files)).sha256, undefined);
});

function storedZip(name: string, content: Buffer): Buffer {
  const n = Buffer.from(name);
  const data = deflateRawSync(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(crc32(content), 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc32(content), 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(n.length, 28);
  const cdOffset = 30 + n.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + n.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, n, data, central, n, end]);
}

test('a zip is kept: in memory under the limit, in a private temp file (0600, in the given folder) over it, which dispose removes', async () => {
  const z = storedZip('inner.txt', Buffer.from('hello from inside'));
  const small = await factsOfStream(chunks(z, [2, 3]), false, files);
  assert.equal(small.whole?.kind, 'buffer');
  assert.deepEqual(small.whole?.kind === 'buffer' && small.whole.buf, z);

  const big = await factsOfStream(chunks(z, [2, 3, 40]), false, files, 32);
  assert.equal(big.whole?.kind, 'file');
  if (big.whole?.kind !== 'file') return;
  assert.equal(big.whole.size, z.length);
  assert.ok(big.whole.path.startsWith(tempDir + '/'), big.whole.path);
  assert.equal(statSync(big.whole.path).mode & 0o777, 0o600);
  assert.equal(statSync(tempDir).mode & 0o777, 0o700);
  const seen: string[] = [];
  await walkZip(
    { path: big.whole.path, size: big.whole.size, files },
    1,
    { maxDepth: 3, maxEntries: 10, maxExpandedBytes: 1 << 20, maxRatio: 100 },
    { entries: 0, expanded: 0 },
    {
      onName: async () => undefined,
      onEncrypted: async () => undefined,
      onContent: async (name, content) => {
        seen.push(`${name}=${content.toString()}`);
        return undefined;
      },
    },
  );
  assert.deepEqual(seen, ['inner.txt=hello from inside']);
  const path = big.whole.path;
  assert.ok(existsSync(path));
  await big.dispose();
  assert.ok(!existsSync(path));
});
