// The streaming scanner must not care where the network cut the bytes: a message fed in pieces, split anywhere, gets
// the same verdict as the whole buffer. Messages are generated (fast-check) from the shapes the detections look at.
// The live path (scan while receiving) is held to the same: chunks written as they would arrive, in place and across
// the hand-over to a real pool worker (a small scan.builtin.offloadMinBytes puts the threshold inside the message).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { defaultConfig } from '../src/core/config.js';
import { BuiltinEngine } from '../src/scan/builtin/engine.js';
import type { Verdict } from '../src/scan/types.js';
import { deeplyNested, manySiblings, peExecutable, zip } from './fixtures/mime.js';
import { eicar, tmpDir } from './fixtures/util.js';
import { join } from 'node:path';
import { scanFiles } from '../src/io/scan-files.js';
import { PooledBuiltinEngine } from '../src/io/scan-pool.js';

function options() {
  const c = defaultConfig();
  const b = c.scan.builtin;
  return { rules: b.rules, archive: b.archive, structure: { ...c.limits, maxMimeParts: 40, maxMimeDepth: 6 } };
}

function engine(): BuiltinEngine {
  return new BuiltinEngine(options(), scanFiles(join(tmpDir(), 'tmp')));
}

/** The engine mailshield runs, with one worker, and `offloadMinBytes` where the scan moves to it. */
function pooled(offloadMinBytes: number, workers = 1): PooledBuiltinEngine {
  return new PooledBuiltinEngine({
    builtin: options(),
    tempDir: join(tmpDir(), 'tmp'),
    workers,
    timeoutMs: 60_000,
    offloadMinBytes,
  });
}

/** The message written to a live scan in the given pieces, then ended: the verdict the pipeline would combine. */
function live(e: PooledBuiltinEngine, list: Buffer[], msg: Buffer): Promise<Verdict> {
  const scan = e.begin();
  for (const piece of list) scan.write(piece);
  return scan.end({ source: { bytes: msg }, size: msg.length });
}

function whole(e: BuiltinEngine, msg: Buffer): Promise<Verdict> {
  return e.scan({ source: { bytes: msg }, size: msg.length });
}

/** The message cut at the given offsets (sorted, deduplicated, inside the buffer). */
function pieces(msg: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (msg.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, msg.length]) {
    out.push(msg.subarray(prev, c));
    prev = c;
  }
  return out;
}

async function* chunks(list: Buffer[]): AsyncGenerator<Buffer> {
  for (const b of list) yield b;
}

function base64Lines(b: Buffer): string {
  return (b.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

/** Quoted-printable with soft line breaks every 20 characters, so a string is split across lines. */
function qp(b: Buffer): string {
  const enc = [...b].map((c) =>
    c >= 33 && c <= 126 && c !== 61 ? String.fromCharCode(c) : `=${c.toString(16).toUpperCase().padStart(2, '0')}`,
  );
  const lines: string[] = [];
  for (let i = 0; i < enc.length; i += 20) lines.push(enc.slice(i, i + 20).join(''));
  return lines.join('=\r\n');
}

type Content = 'text' | 'eicar' | 'exe' | 'zip-eicar' | 'random';
type Encoding = '7bit' | 'base64' | 'quoted-printable';
interface PartSpec {
  name?: string;
  content: Content;
  encoding: Encoding;
  nestedAsMessage: boolean;
}

function contentOf(c: Content, seed: number): Buffer {
  switch (c) {
    case 'text':
      return Buffer.from(`hello ${seed}\r\nsecond line\r\n`);
    case 'eicar':
      return Buffer.from(eicar());
    case 'exe':
      return peExecutable();
    case 'zip-eicar':
      return zip([{ name: 'inner.txt', content: Buffer.from(eicar()) }]);
    case 'random':
      return Buffer.from(Array.from({ length: 200 }, (_, i) => (seed * 31 + i * 7) & 0xff));
  }
}

function leaf(p: PartSpec, seed: number): string {
  const body = contentOf(p.content, seed);
  // 7bit only where the bytes are text; binary content gets base64 whatever was drawn.
  const enc = p.encoding === '7bit' && !(p.content === 'text' || p.content === 'eicar') ? 'base64' : p.encoding;
  const type = p.name ? `application/octet-stream; name="${p.name}"` : 'text/plain; charset=utf-8';
  const disp = p.name ? `Content-Disposition: attachment; filename="${p.name}"\r\n` : '';
  const text = enc === 'base64' ? base64Lines(body) : enc === 'quoted-printable' ? qp(body) : body.toString('latin1');
  const entity = `Content-Type: ${type}\r\nContent-Transfer-Encoding: ${enc}\r\n${disp}\r\n${text}\r\n`;
  if (!p.nestedAsMessage) return entity;
  const inner = `Subject: fwd ${seed}\r\nMIME-Version: 1.0\r\n${entity}`;
  return `Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(Buffer.from(inner, 'latin1'))}\r\n`;
}

function message(parts: PartSpec[]): Buffer {
  const b = 'b_outer_7f';
  const head = `From: a@example.test\r\nTo: b@example.test\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\npreamble\r\n`;
  const body = parts.map((p, i) => `--${b}\r\n${leaf(p, i)}`).join('');
  return Buffer.from(`${head}${body}--${b}--\r\n`, 'latin1');
}

const partSpec: fc.Arbitrary<PartSpec> = fc.record({
  name: fc.option(fc.constantFrom('a.txt', 'invoice.pdf', 'run.exe', 'x.pdf.exe', 'inv\u202Efdp.exe', 'notes.js'), {
    nil: undefined,
  }),
  content: fc.constantFrom<Content>('text', 'eicar', 'exe', 'zip-eicar', 'random'),
  encoding: fc.constantFrom<Encoding>('7bit', 'base64', 'quoted-printable'),
  nestedAsMessage: fc.boolean(),
});

describe('streaming scanner: split anywhere, same verdict', () => {
  const e = engine();

  test('generated MIME split at random offsets gives the whole-buffer verdict', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(partSpec, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (parts, cuts) => {
          const msg = message(parts);
          const expected = await whole(e, msg);
          assert.deepEqual(await e.scanChunks(chunks(pieces(msg, cuts))), expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a message with a QP-split EICAR attachment, cut at every offset, and fed one byte at a time', async () => {
    const msg = message([
      { content: 'text', encoding: '7bit', nestedAsMessage: false },
      { name: 'a.txt', content: 'eicar', encoding: 'quoted-printable', nestedAsMessage: true },
    ]);
    const expected = await whole(e, msg);
    assert.equal(expected.kind, 'infected', JSON.stringify(expected));
    for (let at = 0; at <= msg.length; at++) assert.deepEqual(await e.scanChunks(chunks(pieces(msg, [at]))), expected);
    assert.deepEqual(await e.scanChunks(chunks([...msg].map((c) => Buffer.from([c])))), expected);
  });

  test('structure limits give the same unscannable verdict however the bytes are cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(deeplyNested(8), deeplyNested(60), manySiblings(50)),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (msg, cuts) => {
          const expected = await whole(e, msg);
          assert.equal(expected.kind, 'blocked');
          assert.deepEqual(await e.scanChunks(chunks(pieces(msg, cuts))), expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('live scanner: fed as the bytes arrive, the same verdict', () => {
  const e = engine();
  // Thresholds at 0 (all in the worker), inside the generated messages (in place, then handed over), and past them.
  const engines = [pooled(0), pooled(300), pooled(1500), pooled(1 << 30), pooled(0, 0)];
  after(() => Promise.all(engines.map((p) => p.close())));

  test('generated MIME written live at random offsets, across the hand-over to a worker, gives the whole verdict', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(partSpec, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.nat({ max: engines.length - 1 }),
        async (parts, cuts, which) => {
          const msg = message(parts);
          const expected = await whole(e, msg);
          assert.deepEqual(await live(engines[which]!, pieces(msg, cuts), msg), expected);
        },
      ),
      { numRuns: 120 },
    );
  });

  test('the QP-split EICAR message cut at every offset, with the hand-over before, inside and after it', async () => {
    const msg = message([
      { content: 'text', encoding: '7bit', nestedAsMessage: false },
      { name: 'a.txt', content: 'eicar', encoding: 'quoted-printable', nestedAsMessage: true },
    ]);
    const expected = await whole(e, msg);
    assert.equal(expected.kind, 'infected');
    const thresholds = [1, msg.length >> 2, msg.length >> 1, msg.length - 1, msg.length + 1].map((t) => pooled(t));
    try {
      for (let at = 0; at <= msg.length; at++)
        for (const p of thresholds) assert.deepEqual(await live(p, pieces(msg, [at]), msg), expected, `cut at ${at}`);
    } finally {
      await Promise.all(thresholds.map((p) => p.close()));
    }
  });

  test('structure limits give the same unscannable verdict live, in place and in a worker', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(deeplyNested(8), deeplyNested(60), manySiblings(50)),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.nat({ max: engines.length - 1 }),
        async (msg, cuts, which) => {
          const expected = await whole(e, msg);
          assert.equal(expected.kind, 'blocked');
          assert.deepEqual(await live(engines[which]!, pieces(msg, cuts), msg), expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});
