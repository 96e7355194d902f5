// The scan worker pool: a worker that crashes or hangs costs its one scan an error verdict (tempfail: the mail stays
// on the server), the pool goes on with a new worker, and shutdown waits for the scans that are running. Every
// message goes to the worker here (scan.builtin.offloadMinBytes = 0); small ones are otherwise scanned in place.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultConfig, type Config } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { openDb, storePath } from '../src/store/db.js';
import { createScanPipeline } from '../src/io/scan-setup.js';
import type { CapturedMessage } from '../src/scan/types.js';
import { compose, withAttachment } from './fixtures/mime.js';
import { eicar, tmpDir } from './fixtures/util.js';

const MISBEHAVING = new URL('./fixtures/misbehaving-scan-worker.js', import.meta.url).href;

function setup(patch: (c: Config) => void = () => {}) {
  const dataDir = join(tmpDir(), 'data');
  const config = defaultConfig();
  config.dataDir = dataDir;
  config.scan.builtin.workers = 1;
  config.scan.builtin.offloadMinBytes = 0;
  patch(config);
  return createScanPipeline({
    config,
    dataDir,
    db: openDb(storePath(dataDir)),
    log: silentLogger,
    scanWorkerFile: MISBEHAVING,
  });
}

function incoming(bytes: Buffer): CapturedMessage {
  return { account: 'work', protocol: 'pop3', direction: 'incoming', bytes, size: bytes.length, connId: 'c1' };
}

test('a worker that crashes: error verdict and tempfail, and the next scan runs on a new worker', async () => {
  const p = setup();
  try {
    const a = await p.scan(incoming(await compose({ text: 'MS-TEST-CRASH' })));
    assert.equal(a.action, 'tempfail');
    assert.equal(a.verdict.kind, 'error');
    assert.match(a.action === 'tempfail' ? a.reason : '', /scan worker failed/);
    const next = await p.scan(incoming(await withAttachment({ filename: 'e.txt', content: eicar() })));
    assert.equal(next.action, 'replace');
    assert.equal(next.verdict.kind, 'infected');
  } finally {
    await p.close();
  }
});

test('a worker that hangs is stopped at scan.builtin.timeoutMs: error verdict and tempfail, then a new worker', async () => {
  // The timeout also covers the replacement worker's start-up (module loading) for the next scan, which takes a while
  // on a loaded machine: generous, since the hang costs this test the whole of it.
  const p = setup((c) => (c.scan.builtin.timeoutMs = 5000));
  try {
    const a = await p.scan(incoming(await compose({ text: 'MS-TEST-HANG' })));
    assert.equal(a.action, 'tempfail');
    assert.match(a.action === 'tempfail' ? a.reason : '', /did not finish within 5000 ms \(scan\.builtin\.timeoutMs\)/);
    const next = await p.scan(incoming(await compose({ text: 'hello' })));
    assert.deepEqual(next, { action: 'release', verdict: { kind: 'clean' } });
  } finally {
    await p.close();
  }
});

test('shutdown waits for the scans that are running and queued', async () => {
  const p = setup();
  const infected = await withAttachment({ filename: 'e.txt', content: eicar() });
  const clean = await compose({ text: 'hello' });
  const settled: string[] = [];
  const scans = [infected, clean, infected].map((m, i) =>
    p.scan(incoming(m)).then((a) => {
      settled.push(`${i}:${a.verdict.kind}`);
      return a;
    }),
  );
  await p.close();
  assert.deepEqual([...settled].sort(), ['0:infected', '1:clean', '2:infected']);
  assert.deepEqual(
    (await Promise.all(scans)).map((a) => a.action),
    ['replace', 'release', 'replace'],
  );
});

test('in place and in a worker, the same verdicts; with workers: 0 nothing is offloaded', async () => {
  const messages = [
    await withAttachment({ filename: 'e.txt', content: eicar() }),
    await withAttachment({ filename: 'notes.js', content: Buffer.from('hello') }),
    await compose({ text: 'hello' }),
  ];
  const verdicts = async (patch: (c: Config) => void) => {
    const p = setup(patch);
    try {
      return await Promise.all(messages.map(async (m) => (await p.scan(incoming(m))).verdict));
    } finally {
      await p.close();
    }
  };
  const inWorker = await verdicts(() => {});
  assert.deepEqual(
    inWorker.map((v) => v.kind),
    ['infected', 'blocked', 'clean'],
  );
  assert.deepEqual(await verdicts((c) => (c.scan.builtin.offloadMinBytes = 1 << 30)), inWorker);
  // No worker at all: a message that would crash one is scanned in place like any other.
  const p = setup((c) => (c.scan.builtin.workers = 0));
  try {
    assert.equal((await p.scan(incoming(await compose({ text: 'MS-TEST-CRASH' })))).action, 'release');
  } finally {
    await p.close();
  }
});
