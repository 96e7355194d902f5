// MIME structure limits (issue 12 item 3): a message over any of them gets a permanent verdict (blocked as
// unscannable, quarantined, notice or refusal naming MS_ERR_MESSAGE_UNSCANNABLE), never a temporary failure.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig, type Config } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { BuiltinEngine } from '../src/scan/builtin/engine.js';
import { scanFiles } from '../src/io/scan-files.js';
import { createScanPipeline } from '../src/io/scan-setup.js';
import type { CapturedMessage, Verdict } from '../src/scan/types.js';
import { openDb, storePath } from '../src/store/db.js';
import { compose, deeplyNested, hugeHeader, manySiblings } from './fixtures/mime.js';
import { eicar, tmpDir } from './fixtures/util.js';

function builtin(limits: Partial<Config['limits']> = {}): BuiltinEngine {
  const c = defaultConfig();
  return new BuiltinEngine(
    {
      rules: c.scan.builtin.rules,
      archive: c.scan.builtin.archive,
      structure: { ...c.limits, ...limits },
    },
    scanFiles(join(tmpDir(), 'tmp')),
  );
}

const scan = (e: BuiltinEngine, msg: Buffer): Promise<Verdict> => e.scan({ source: { bytes: msg }, size: msg.length });

function assertUnscannable(v: Verdict, detail: RegExp): void {
  assert.equal(v.kind, 'blocked', JSON.stringify(v));
  if (v.kind !== 'blocked') return;
  assert.equal(v.rule, 'unscannable');
  assert.equal(v.code, 'MS_ERR_MESSAGE_UNSCANNABLE');
  assert.equal(v.part, 'the message');
  assert.match(v.detail ?? '', detail);
  assert.match(v.detail ?? '', /\(MS_ERR_MESSAGE_UNSCANNABLE\)$/);
}

describe('builtin engine: structure limits give a permanent verdict', () => {
  test('nested 5000 deep: over maxMimeParts (the default 1000)', async () => {
    assertUnscannable(await scan(builtin(), deeplyNested(5000)), /more than 1000 MIME parts \(limits\.maxMimeParts\)/);
  });

  test('10,000 siblings: over maxMimeParts', async () => {
    assertUnscannable(await scan(builtin(), manySiblings(10_000)), /more than 1000 MIME parts/);
  });

  test('a header over 1 MiB: over maxHeaderBytes', async () => {
    assertUnscannable(
      await scan(builtin(), hugeHeader(1.5 * 1024 * 1024)),
      /a header block is larger than 1048576 bytes \(limits\.maxHeaderBytes\)/,
    );
  });

  test('depth is its own limit: 5000 deep with parts allowed is refused by maxMimeDepth, not a stack overflow', async () => {
    assertUnscannable(
      await scan(builtin({ maxMimeParts: 100_000 }), deeplyNested(5000)),
      /nested more than 100 deep \(limits\.maxMimeDepth\)/,
    );
    assertUnscannable(await scan(builtin({ maxMimeDepth: 3 }), deeplyNested(4)), /nested more than 3 deep/);
  });

  test('at each limit exactly, the message is scanned as usual', async () => {
    // deeplyNested(n): the message entity and n-1 nested multiparts hold the leaf at depth n.
    assert.deepEqual(await scan(builtin({ maxMimeDepth: 4 }), deeplyNested(4)), { kind: 'clean' });
    // manySiblings(n): the message, the multipart's n children.
    assert.deepEqual(await scan(builtin({ maxMimeParts: 11 }), manySiblings(10)), { kind: 'clean' });
    assertUnscannable(await scan(builtin({ maxMimeParts: 10 }), manySiblings(10)), /more than 10 MIME parts/);
    assert.deepEqual(await scan(builtin(), hugeHeader(512 * 1024)), { kind: 'clean' });
    // And under the limits a virus deep inside is still found.
    const v = await scan(builtin(), deeplyNested(50, eicar()));
    assert.equal(v.kind, 'infected', JSON.stringify(v));
  });

  test('parts of an encoded message/rfc822 attachment count against the same budget', async () => {
    const inner = manySiblings(8);
    const outer = await compose({
      attachments: [{ filename: 'fwd.eml', content: inner, contentType: 'message/rfc822', encoding: 'base64' }],
    });
    assert.deepEqual(await scan(builtin({ maxMimeParts: 20 }), outer), { kind: 'clean' });
    // 3 outer entities (message, text, attachment) and 9 inner ones (message, 8 attachments).
    assert.deepEqual(await scan(builtin({ maxMimeParts: 12 }), outer), { kind: 'clean' });
    assertUnscannable(await scan(builtin({ maxMimeParts: 11 }), outer), /more than 11 MIME parts/);
  });
});

describe('pipeline: an unscannable message is quarantined and replaced or refused', () => {
  function pipeline() {
    const dataDir = join(tmpDir(), 'data');
    const config = defaultConfig();
    config.dataDir = dataDir;
    return createScanPipeline({ config, dataDir, db: openDb(storePath(dataDir)), log: silentLogger });
  }
  const msg = (bytes: Buffer, direction: 'incoming' | 'outgoing'): CapturedMessage => ({
    account: 'a',
    protocol: direction === 'incoming' ? 'pop3' : 'smtp',
    direction,
    bytes,
    size: bytes.length,
  });

  for (const [name, make] of [
    ['nested 5000', () => deeplyNested(5000)],
    ['10,000 siblings', () => manySiblings(10_000)],
    ['header over 1 MiB', () => hugeHeader(1.5 * 1024 * 1024)],
  ] as const) {
    test(`${name}: incoming gets the notice, outgoing a refusal, both name the code`, async () => {
      const p = pipeline();
      const original = make();
      const a = await p.scan(msg(original, 'incoming'));
      assert.equal(a.action, 'replace', JSON.stringify(a.action === 'tempfail' ? a.reason : a.action));
      if (a.action !== 'replace') return;
      assert.deepEqual(p.quarantine.read(a.quarantineId), original);
      const notice = a.notice.toString('latin1');
      assert.match(
        notice,
        /^X-MailShield-Verdict: blocked; rule=unscannable; code=MS_ERR_MESSAGE_UNSCANNABLE; quarantine=/m,
      );
      assert.match(notice, /cannot be scanned: .*\(MS_ERR_MESSAGE_UNSCANNABLE\)/);

      const r = await p.scan(msg(original, 'outgoing'));
      assert.equal(r.action, 'refuse');
      if (r.action !== 'refuse') return;
      assert.match(r.reply, /cannot be scanned: .*\(MS_ERR_MESSAGE_UNSCANNABLE\)/);
      assert.match(r.reply, new RegExp(`quarantine as ${r.quarantineId}`));
      await p.close();
    });
  }
});
