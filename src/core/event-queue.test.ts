import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventQueue, MAX_EVENTS_PER_DRAIN } from './event-queue.js';

// A session whose commands feed it again while it runs: the driver shape of connection.ts in miniature.
test('an event produced while a batch runs waits for the batch, and events run in order', () => {
  const seen: string[] = [];
  let depth = 0;
  let maxDepth = 0;
  const q: EventQueue<string> = new EventQueue(
    (e) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      seen.push(`start ${e}`);
      // The batch of `a` has three commands; the first two each make the driver feed an event.
      if (e === 'a') for (const next of ['b', 'c']) q.push(next);
      seen.push(`end ${e}`);
      depth--;
    },
    () => assert.fail('no overflow'),
  );
  q.push('a');
  assert.equal(maxDepth, 1);
  assert.deepEqual(seen, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  assert.equal(q.busy, false);
});

test('a handler that throws leaves the queue usable', () => {
  const seen: string[] = [];
  const q = new EventQueue<string>(
    (e) => {
      if (e === 'boom') throw new Error('boom');
      seen.push(e);
    },
    () => assert.fail('no overflow'),
  );
  assert.throws(() => q.push('boom'));
  q.push('ok');
  assert.deepEqual(seen, ['ok']);
});

test('a session that feeds itself forever is stopped at the bound, not looped on', () => {
  let handled = 0;
  let dropped = -1;
  const q: EventQueue<number> = new EventQueue(
    (n) => {
      handled++;
      q.push(n + 1);
    },
    (d) => (dropped = d),
  );
  q.push(0);
  assert.equal(handled, MAX_EVENTS_PER_DRAIN);
  assert.equal(dropped, 1);
  assert.equal(q.busy, false);
});

test('a batch run outside an event holds the events it produces until it is done', () => {
  const seen: string[] = [];
  const q = new EventQueue<string>(
    (e) => seen.push(`event ${e}`),
    () => assert.fail('no overflow'),
  );
  q.exclusive(() => {
    seen.push('batch start');
    q.push('x');
    seen.push('batch end');
  });
  assert.deepEqual(seen, ['batch start', 'batch end', 'event x']);
});
