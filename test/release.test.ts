// Release (issue 13): a sha256 allow entry lets the next scan of exactly those bytes pass; a changed byte is a
// different message and is scanned as usual. The entry keeps who and when.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { createScanPipeline } from '../src/io/scan-setup.js';
import { openDb, storePath } from '../src/store/db.js';
import { Releases } from '../src/store/releases.js';
import { eicar, tmpDir } from './fixtures/util.js';

test('a released message passes the next scan, in memory or spooled; other bytes are still scanned', async () => {
  const dataDir = tmpDir();
  const db = openDb(storePath(dataDir));
  const at = new Date('2026-12-01T10:00:00.000Z');
  const p = createScanPipeline({ config: defaultConfig(), dataDir, db, log: silentLogger, now: () => at });
  try {
    const bytes = Buffer.from(`Subject: test\r\n\r\n${eicar()}\r\n`);
    const msg = { account: 'a', protocol: 'pop3' as const, direction: 'incoming' as const, bytes, size: bytes.length };
    const first = await p.scan(msg);
    assert.equal(first.action, 'replace');
    const releases = new Releases(db, () => at);
    assert.equal(releases.any(), false);
    const sha = createHash('sha256').update(bytes).digest('hex');
    releases.add({
      sha256: sha,
      by: 'token@127.0.0.1',
      quarantineId: first.action === 'replace' ? first.quarantineId : '',
    });
    assert.deepEqual(
      { by: releases.get(sha)?.releasedBy, at: releases.get(sha)?.releasedAt },
      { by: 'token@127.0.0.1', at: at.toISOString() },
    );
    assert.equal((await p.scan(msg)).action, 'release');
    const spooled = join(dataDir, 'spooled.eml');
    writeFileSync(spooled, bytes);
    assert.equal((await p.scan({ ...msg, bytes: undefined, path: spooled })).action, 'release');
    const changed = Buffer.concat([bytes, Buffer.from('x')]);
    assert.equal((await p.scan({ ...msg, bytes: changed, size: changed.length })).action, 'replace');
  } finally {
    await p.close();
    db.close();
  }
});
