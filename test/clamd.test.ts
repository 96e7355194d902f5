// The clamd engine against a real clamd (started by the fixture), a port nobody listens on, and a fake clamd that
// never answers.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClamdEngine } from '../src/io/clamd-engine.js';
import { spoolReader } from '../src/io/scan-files.js';
import type { Logger } from '../src/core/logger.js';
import { startClamd, type TestClamd } from './fixtures/clamd.js';
import { compose, withAttachment, zip } from './fixtures/mime.js';
import { eicar, freePort, needs, tmpDir } from './fixtures/util.js';

interface LogLine {
  level: string;
  obj: object | string;
  msg?: string;
}

function recordingLogger(lines: LogLine[]): Logger {
  const mk =
    (level: string) =>
    (obj: object | string, msg?: string): void =>
      void lines.push({ level, obj, msg });
  const l: Logger = { debug: mk('debug'), info: mk('info'), warn: mk('warn'), error: mk('error'), child: () => l };
  return l;
}

function engine(
  address: string,
  lines: LogLine[] = [],
  over: Partial<{ timeoutMs: number; streamMaxLength: number; poolSize: number }> = {},
) {
  return new ClamdEngine({
    address,
    timeoutMs: 10_000,
    streamMaxLength: 4 * 1024 * 1024,
    poolSize: 2,
    log: recordingLogger(lines),
    ...over,
  });
}

describe('clamd engine against a real clamd', { skip: needs('clamd').skip }, () => {
  let clamd: TestClamd;
  before(async () => {
    clamd = await startClamd();
  });
  after(async () => {
    await clamd?.stop();
  });

  test('detects EICAR in a base64 attachment over the unix socket and over TCP', async () => {
    const msg = await withAttachment({ filename: 'eicar.txt', content: eicar() });
    for (const address of [`unix:${clamd.socketPath}`, clamd.socketPath, `127.0.0.1:${clamd.port}`]) {
      const v = await engine(address).scan({ source: { bytes: msg }, size: msg.length });
      assert.deepEqual(
        v,
        { kind: 'infected', engine: 'clamd', signature: `${clamd.signature}.UNOFFICIAL`, part: 'the message' },
        address,
      );
    }
  });

  test('detects EICAR inside a zip, streamed from a spool file in many chunks', async () => {
    const big = Buffer.alloc(600 * 1024, 'a');
    const msg = await compose({
      attachments: [
        { filename: 'filler.txt', content: big },
        { filename: 'x.zip', content: zip([{ name: 'e.txt', content: Buffer.from(eicar()) }]) },
      ],
    });
    const file = join(tmpDir(), 'spool.eml');
    writeFileSync(file, msg);
    const v = await engine(`127.0.0.1:${clamd.port}`).scan({
      source: { path: file, reader: spoolReader },
      size: msg.length,
    });
    assert.equal(v.kind, 'infected', JSON.stringify(v));
  });

  test('clean mail is clean; concurrent scans beyond the pool size all complete', async () => {
    const msg = await compose({ text: 'nothing to see' });
    const e = engine(`unix:${clamd.socketPath}`, [], { poolSize: 1 });
    const vs = await Promise.all(Array.from({ length: 5 }, () => e.scan({ source: { bytes: msg }, size: msg.length })));
    for (const v of vs) assert.deepEqual(v, { kind: 'clean' });
  });

  test('a message over StreamMaxLength is an error verdict, never clean', async () => {
    const msg = await withAttachment({ filename: 'big.bin', content: Buffer.alloc(5 * 1024 * 1024, 1) });
    const lines: LogLine[] = [];
    // Our own limit catches it before sending...
    const v = await engine(clamd.socketPath, lines).scan({ source: { bytes: msg }, size: msg.length });
    assert.equal(v.kind, 'error');
    assert.match(
      v.kind === 'error' ? v.reason : '',
      /more than clamd accepts \(scan\.clamd\.streamMaxLength = 4194304\)/,
    );
    assert.equal(lines.length, 1);
    // ...and if the config is larger than clamd's StreamMaxLength, clamd's own refusal is reported.
    const v2 = await engine(clamd.socketPath, [], { streamMaxLength: 64 * 1024 * 1024 }).scan({
      source: { bytes: msg },
      size: msg.length,
    });
    assert.equal(v2.kind, 'error', JSON.stringify(v2));
    assert.match(v2.kind === 'error' ? v2.reason : '', /size limit exceeded.*StreamMaxLength/i);
  });
});

describe('clamd engine when clamd is unavailable', () => {
  test('down: nothing listening is an error verdict with the reason and a log line', async () => {
    const port = await freePort();
    const lines: LogLine[] = [];
    const msg = Buffer.from('Subject: x\r\n\r\nhello\r\n');
    const v = await engine(`127.0.0.1:${port}`, lines).scan({ source: { bytes: msg }, size: msg.length, connId: 'c1' });
    assert.equal(v.kind, 'error');
    assert.match(
      v.kind === 'error' ? v.reason : '',
      new RegExp(`not reachable at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\).*MS_ERR_CLAMD_UNAVAILABLE`),
    );
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, 'warn');
    assert.deepEqual((lines[0]!.obj as { code: string }).code, 'MS_ERR_CLAMD_UNAVAILABLE');

    const missing = join(tmpDir(), 'no.sock');
    const v2 = await engine(`unix:${missing}`).scan({ source: { bytes: msg }, size: msg.length });
    assert.match(v2.kind === 'error' ? v2.reason : '', /not reachable at unix:.*no\.sock \(ENOENT\)/);
  });

  test('slow: a clamd that accepts and never answers times out into an error verdict', async () => {
    const sockets: Socket[] = [];
    const received: number[] = [];
    const server: Server = createServer((s) => {
      sockets.push(s);
      s.on('data', (d) => received.push(d.length));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const lines: LogLine[] = [];
      const msg = Buffer.from('Subject: x\r\n\r\nhello\r\n');
      const v = await engine(`127.0.0.1:${port}`, lines, { timeoutMs: 300 }).scan({
        source: { bytes: msg },
        size: msg.length,
      });
      assert.equal(v.kind, 'error');
      assert.match(v.kind === 'error' ? v.reason : '', /did not answer within 300 ms.*MS_ERR_CLAMD_TIMEOUT/);
      assert.ok(received.reduce((a, b) => a + b, 0) > 0, 'the message was sent');
      assert.equal((lines[0]!.obj as { code: string }).code, 'MS_ERR_CLAMD_TIMEOUT');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('a clamd that replies and resets while we still write: the reply is kept, sending stops', async () => {
    // clamd's StreamMaxLength refusal: it answers after the first chunk and closes with our data unread, so the
    // kernel resets the connection and our next write fails (EPIPE/ECONNRESET). The reply must win over that error.
    const reply = 'INSTREAM size limit exceeded. ERROR\0';
    let received = 0;
    const server = createServer((s) => {
      s.once('data', (d: Buffer) => {
        received += d.length;
        s.write(reply, () => s.resetAndDestroy());
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const msg = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(8 * 1024 * 1024, 'c')]);
    try {
      // Several rounds: the reset can meet any of our writes; every round must report clamd's own words.
      for (let round = 0; round < 20; round++) {
        const lines: LogLine[] = [];
        const v = await engine(`127.0.0.1:${port}`, lines, { streamMaxLength: 64 * 1024 * 1024 }).scan({
          source: { bytes: msg },
          size: msg.length,
        });
        assert.equal(v.kind, 'error', JSON.stringify(v));
        assert.match(
          v.kind === 'error' ? v.reason : '',
          /answered with an error: INSTREAM size limit exceeded\.; raise StreamMaxLength.*MS_ERR_SCAN_ENGINE/,
          `round ${round}: ${JSON.stringify(v)}`,
        );
        assert.equal(lines.length, 1);
      }
      // Sending stopped at the reply: far less than the message reached the fake (without the stop, the whole 8 MiB
      // would be pushed into the reset connection every round).
      assert.ok(received < msg.length, `${received} bytes received`);
    } finally {
      server.close();
    }
  });

  test('INSTREAM framing is exact, and a reply arriving one byte at a time is parsed', async () => {
    const msg = Buffer.concat([Buffer.from('Subject: x\r\n\r\n'), Buffer.alloc(200 * 1024, 'b')]);
    let got = Buffer.alloc(0);
    let payload: Buffer | undefined;
    const server = createServer((s) => {
      s.on('data', async (d: Buffer) => {
        got = Buffer.concat([got, d]);
        const cmd = Buffer.from('zINSTREAM\0');
        if (payload || !got.subarray(0, cmd.length).equals(cmd)) return;
        // Decode <len><data>... until a zero length.
        const parts: Buffer[] = [];
        let off = cmd.length;
        while (off + 4 <= got.length) {
          const len = got.readUInt32BE(off);
          if (len === 0) {
            payload = Buffer.concat(parts);
            for (const b of Buffer.from('stream: Slow.Sig FOUND\0')) {
              s.write(Buffer.from([b]));
              await new Promise((r) => setTimeout(r, 2));
            }
            return;
          }
          if (off + 4 + len > got.length) return;
          parts.push(got.subarray(off + 4, off + 4 + len));
          off += 4 + len;
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const v = await engine(`127.0.0.1:${port}`).scan({ source: { bytes: msg }, size: msg.length });
      assert.deepEqual(v, { kind: 'infected', engine: 'clamd', signature: 'Slow.Sig', part: 'the message' });
      assert.deepEqual(payload, msg);
    } finally {
      server.close();
    }
  });
});
