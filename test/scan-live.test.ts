// Scan while receiving (issue 15): the engines read a capture as it arrives. These tests show it without a clock:
// the verdict (or the bytes taken by a worker, or the bytes clamd received) is there before the message has ended;
// the live path gives the actions the whole-message scan gives, releases included; and an abandoned capture frees
// its worker and its clamd socket, so the pool and the pipeline still close.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultConfig, type Config } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { ClamdEngine } from '../src/io/clamd-engine.js';
import { scanFiles } from '../src/io/scan-files.js';
import { PooledBuiltinEngine } from '../src/io/scan-pool.js';
import { createScanPipeline } from '../src/io/scan-setup.js';
import { BuiltinEngine } from '../src/scan/builtin/engine.js';
import { sha256Of } from '../src/scan/release-check.js';
import type { CapturedMessage, LiveCapture } from '../src/scan/types.js';
import { openDb, storePath } from '../src/store/db.js';
import { Releases } from '../src/store/releases.js';
import { startClamd, type TestClamd } from './fixtures/clamd.js';
import { compose, withAttachment } from './fixtures/mime.js';
import { eicar, needs, tmpDir } from './fixtures/util.js';

function builtinOptions() {
  const c = defaultConfig();
  return { rules: c.scan.builtin.rules, archive: c.scan.builtin.archive, structure: c.limits };
}

function pooled(offloadMinBytes: number): PooledBuiltinEngine {
  return new PooledBuiltinEngine({
    builtin: builtinOptions(),
    tempDir: join(tmpDir(), 'tmp'),
    workers: 1,
    timeoutMs: 60_000,
    offloadMinBytes,
  });
}

/** The message in pieces of `size` bytes, as a socket would deliver it. */
function cut(msg: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < msg.length; off += size) out.push(msg.subarray(off, off + size));
  return out;
}

/** A text part, an EICAR attachment, then a large clean one: the finding comes early in the bytes. */
async function eicarFirst(): Promise<Buffer> {
  return compose({
    text: 'hello',
    attachments: [
      { filename: 'e.txt', content: eicar() },
      { filename: 'big.bin', content: Buffer.alloc(600 * 1024, 7) },
    ],
  });
}

/** A large clean attachment first, EICAR last: a scan that stopped early would call it clean. */
async function eicarLast(): Promise<Buffer> {
  return compose({
    text: 'hello',
    attachments: [
      { filename: 'big.bin', content: Buffer.alloc(600 * 1024, 7) },
      { filename: 'e.txt', content: eicar() },
    ],
  });
}

describe('the builtin engine scans while the message arrives', () => {
  test('in place: a finding in an early part is the verdict before the message has ended', async () => {
    const msg = await eicarFirst();
    // The EICAR part ends where the next part's header block does; a little of that part's body follows.
    const at = msg.indexOf('\r\n\r\n', msg.indexOf('big.bin')) + 100;
    assert.ok(at > 100 && at < msg.length / 4);
    const scan = new BuiltinEngine(builtinOptions(), scanFiles(join(tmpDir(), 'tmp'))).begin();
    for (const piece of cut(msg.subarray(0, at), 1000)) scan.write(piece);
    // Not ended, and most of the message never written: the engine already knows.
    const early = await scan.verdict;
    assert.equal(early.kind, 'infected', JSON.stringify(early));
    assert.equal(scan.settled, true);
    assert.deepEqual(await scan.end({ source: { bytes: msg }, size: msg.length }), early);
  });

  test('in a worker: every byte written so far is taken before the end, and the verdict needs them all', async () => {
    const msg = await eicarLast();
    const half = msg.length >> 1;
    const e = pooled(0);
    try {
      const scan = e.begin();
      for (const piece of cut(msg.subarray(0, half), 16 * 1024)) scan.write(piece);
      assert.ok(scan.backlog >= 256 * 1024, 'chunks wait for the worker at first');
      // The worker acknowledges what it took: the backlog drains while the capture is still open, down to the tail
      // that is gathered into the next batch (chunks are posted 256 KiB at a time, not per socket read).
      await scan.whenBelow(256 * 1024);
      assert.ok(scan.backlog < 256 * 1024, `backlog ${scan.backlog}`);
      for (const piece of cut(msg.subarray(half), 16 * 1024)) scan.write(piece);
      const v = await scan.end({ source: { bytes: msg }, size: msg.length });
      assert.equal(v.kind, 'infected', JSON.stringify(v));
    } finally {
      await e.close();
    }
  });

  test('an abandoned live scan frees its worker: close() finishes, and the next scan runs', async () => {
    const msg = await eicarLast();
    const e = pooled(0);
    const scan = e.begin();
    for (const piece of cut(msg.subarray(0, 300 * 1024), 16 * 1024)) scan.write(piece);
    scan.abort();
    const next = await e.scan({ source: { bytes: msg }, size: msg.length });
    assert.equal(next.kind, 'infected');
    // One never ended nor aborted: close() drops it (its capture cannot complete) instead of waiting forever.
    const open = e.begin();
    open.write(msg.subarray(0, 400 * 1024));
    await e.close();
  });
});

function pipelineSetup(patch: (c: Config) => void = () => {}) {
  const dataDir = join(tmpDir(), 'data');
  const config = defaultConfig();
  config.dataDir = dataDir;
  config.scan.builtin.workers = 1;
  config.scan.builtin.offloadMinBytes = 64 * 1024;
  patch(config);
  const db = openDb(storePath(dataDir));
  return { pipeline: createScanPipeline({ config, dataDir, db, log: silentLogger }), releases: new Releases(db) };
}

function incoming(bytes: Buffer): CapturedMessage {
  return { account: 'work', protocol: 'pop3', direction: 'incoming', bytes, size: bytes.length, connId: 'c1' };
}

function liveFinish(capture: LiveCapture, msg: Buffer) {
  for (const piece of cut(msg, 16 * 1024)) capture.write(piece);
  return capture.finish(incoming(msg));
}

describe('the pipeline fed live', () => {
  test('the same actions as the whole-message scan: infected early or late, blocked, clean', async () => {
    const { pipeline } = pipelineSetup();
    try {
      const messages = [
        await eicarFirst(),
        await eicarLast(),
        await withAttachment({ filename: 'notes.js', content: Buffer.from('hello') }),
        await compose({ text: 'hello' }),
      ];
      for (const msg of messages) {
        const live = await liveFinish(pipeline.begin(incoming(msg)), msg);
        const whole = await pipeline.scan(incoming(msg));
        assert.equal(live.action, whole.action);
        assert.deepEqual(live.verdict, whole.verdict);
      }
    } finally {
      await pipeline.close();
    }
  });

  test('a released message passes, hashed on the way or at the end, though an engine found something', async () => {
    const { pipeline, releases } = pipelineSetup();
    try {
      const msg = await eicarFirst();
      // Released after its capture began: the allow-list was empty then, so the check hashes the whole message.
      const before = pipeline.begin(incoming(msg));
      releases.add({ sha256: await sha256Of({ bytes: msg }), by: 'test' });
      assert.deepEqual(await liveFinish(before, msg), { action: 'release', verdict: { kind: 'clean' } });
      // Begun with the entry in the list: hashed as the bytes arrive.
      assert.deepEqual(await liveFinish(pipeline.begin(incoming(msg)), msg), {
        action: 'release',
        verdict: { kind: 'clean' },
      });
      const other = await eicarLast();
      assert.equal((await liveFinish(pipeline.begin(incoming(other)), other)).action, 'replace');
    } finally {
      await pipeline.close();
    }
  });

  test('close() waits for a finishing scan and drops a capture still arriving', async () => {
    const { pipeline } = pipelineSetup();
    const msg = await eicarLast();
    const arriving = pipeline.begin(incoming(msg));
    arriving.write(msg.subarray(0, 200 * 1024));
    const finishing = liveFinish(pipeline.begin(incoming(msg)), msg);
    await pipeline.close();
    assert.equal((await finishing).action, 'replace');
  });
});

/** A clamd stand-in that only records: how many bytes each connection sent, and when it closed. */
class RecordingClamd {
  readonly server: Server;
  readonly conns: { bytes: number; closed: boolean }[] = [];
  private waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((s: Socket) => {
      const c = { bytes: 0, closed: false };
      this.conns.push(c);
      this.changed();
      s.on('data', (d: Buffer) => {
        c.bytes += d.length;
        this.changed();
      });
      s.on('close', () => {
        c.closed = true;
        this.changed();
      });
      s.on('error', () => undefined);
    });
  }

  private changed(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `ok()` holds; re-checked at every connection, byte and close. */
  async until(ok: () => boolean): Promise<void> {
    while (!ok()) await new Promise<void>((r) => this.waiters.push(r));
  }
}

function clamdEngine(address: string, poolSize = 2) {
  return new ClamdEngine({ address, timeoutMs: 10_000, streamMaxLength: 4 << 20, poolSize, log: silentLogger });
}

describe('clamd fed live (INSTREAM as the bytes arrive)', () => {
  let fake: RecordingClamd;
  let address: string;
  before(async () => {
    fake = new RecordingClamd();
    fake.server.listen(0, '127.0.0.1');
    await once(fake.server, 'listening');
    const a = fake.server.address();
    address = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(() => fake.server.close());

  test('clamd receives the bytes before the end; an abort closes the socket and frees the slot', async () => {
    const e = clamdEngine(address, 1);
    const msg = await eicarLast();
    const first = fake.conns.length;
    const scan = e.begin({ connId: 'c1' });
    for (const piece of cut(msg.subarray(0, 100 * 1024), 16 * 1024)) scan.write(piece);
    // The command, then INSTREAM chunks (4-byte length each) carrying all 100 KiB, while the capture is open.
    await fake.until(() => (fake.conns[first]?.bytes ?? 0) >= 10 + 100 * 1024);
    scan.abort();
    await fake.until(() => fake.conns[first]!.closed);
    // The one slot is free again: the next capture is fed live too, on a new connection.
    const again = e.begin({ connId: 'c2' });
    again.write(msg.subarray(0, 1000));
    await fake.until(() => (fake.conns[first + 1]?.bytes ?? 0) >= 10 + 1000);
    again.abort();
    await fake.until(() => fake.conns[first + 1]!.closed);
    await e.close();
  });

  describe('against a real clamd', { skip: needs('clamd').skip }, () => {
    let clamd: TestClamd;
    before(async () => {
      clamd = await startClamd();
    });
    after(async () => {
      await clamd?.stop();
    });

    test('live, and whole when no connection is free: the verdicts a whole-message scan gives', async () => {
      const e = clamdEngine(`unix:${clamd.socketPath}`, 1);
      try {
        const infected = await eicarLast();
        const clean = await compose({ text: 'nothing to see', attachments: [{ filename: 'a.bin', content: 'x' }] });
        const whole = await e.scan({ source: { bytes: infected }, size: infected.length });
        assert.equal(whole.kind, 'infected');
        const a = e.begin({});
        // The only slot is taken by `a`: `b` is scanned whole at its end, as before live scanning.
        const b = e.begin({});
        for (const piece of cut(infected, 16 * 1024)) a.write(piece);
        for (const piece of cut(clean, 16 * 1024)) b.write(piece);
        assert.deepEqual(await a.end({ source: { bytes: infected }, size: infected.length }), whole);
        assert.deepEqual(await b.end({ source: { bytes: clean }, size: clean.length }), { kind: 'clean' });
      } finally {
        await e.close();
      }
    });
  });
});
