import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
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
