import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { test } from 'node:test';
import { OutQueue } from './out-queue.js';

test('the queue reports rising above the high-water mark once, and falling to the low one once', async () => {
  const changes: boolean[] = [];
  let fell: () => void = () => undefined;
  const below = new Promise<void>((r) => (fell = r));
  const q = new OutQueue((e) => assert.fail(String(e)), {
    high: 100,
    low: 20,
    onChange: (over) => {
      changes.push(over);
      if (!over) fell();
    },
  });
  // A socket that nobody reads: writes stay in its buffer, later items in the queue.
  const sock = new PassThrough({ highWaterMark: 16 });
  q.attach(sock);
  for (let i = 0; i < 12; i++) q.write(Buffer.alloc(10, 0x61));
  assert.deepEqual(changes, [true]);
  assert.ok(q.level > 100 && q.overHighWater);
  q.write(Buffer.alloc(10));
  assert.deepEqual(changes, [true], 'reported once while above');
  // The reader drains everything: the level falls to the low mark and the queue says so once.
  sock.resume();
  await q.drained();
  await below;
  assert.ok(q.level <= 20);
  assert.deepEqual(changes, [true, false]);
  assert.equal(q.overHighWater, false);
});

test('abandon empties the queue and lifts the pressure', () => {
  const changes: boolean[] = [];
  const q = new OutQueue(() => undefined, { high: 10, low: 0, onChange: (over) => changes.push(over) });
  q.write(Buffer.alloc(50)); // no socket attached yet: all of it waits in the queue
  assert.equal(q.level, 50);
  q.abandon();
  assert.equal(q.level, 0);
  assert.deepEqual(changes, [true, false]);
});

test('a streamed source may reuse one buffer: the next chunk is asked for only after the socket took the last', async () => {
  // A real TCP pair whose reader starts only once the kernel's buffers are full and the socket itself holds data,
  // then reads one chunk per event-loop turn. Chunks are under the socket's high-water mark, so write() says "go on"
  // while the socket still holds a reference to the chunk.
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const writer = net.connect(port, '127.0.0.1');
  await once(writer, 'connect');
  const [reader] = await accepted;
  reader.pause();
  let backedUp: () => void = () => undefined;
  const full = new Promise<void>((r) => (backedUp = r));
  const q = new OutQueue((e) => assert.fail(String(e)), { high: 0, low: 0, onChange: (over) => over && backedUp() });
  q.attach(writer);
  const chunk = 8 * 1024;
  const count = 3 * 1024; // 24 MiB: more than loopback's kernel buffers take
  const scratch = Buffer.alloc(chunk);
  const expected = createHash('sha256');
  let pulls = 0;
  q.stream(
    async function* () {
      for (let i = 0; i < count; i++) {
        scratch.fill(i % 251);
        expected.update(scratch);
        pulls++;
        yield scratch; // the same memory every time, as Spool.readReusing hands it out
      }
    },
    { reusesBuffer: true },
  );
  q.end();
  await full;
  const got = createHash('sha256');
  let bytes = 0;
  for await (const c of reader) {
    got.update(c as Buffer);
    bytes += (c as Buffer).length;
    await nextTurn();
  }
  server.close();
  assert.equal(pulls, count);
  assert.equal(bytes, chunk * count);
  // Before the queue waited for each write's callback, later chunks overwrote earlier ones the socket still held.
  assert.equal(got.digest('hex'), expected.digest('hex'), 'every chunk arrives as it was when yielded');
});
