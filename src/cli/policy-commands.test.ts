import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSince } from './policy-commands.js';

test('--since takes a duration or a date', () => {
  const now = new Date('2026-06-08T12:00:00Z');
  assert.equal(parseSince('7d', now).toISOString(), '2026-06-01T12:00:00.000Z');
  assert.equal(parseSince('12h', now).toISOString(), '2026-06-08T00:00:00.000Z');
  assert.equal(parseSince('2w', now).toISOString(), '2026-05-25T12:00:00.000Z');
  assert.equal(parseSince('30m', now).toISOString(), '2026-06-08T11:30:00.000Z');
  assert.equal(parseSince('2026-06-01', now).toISOString(), '2026-06-01T00:00:00.000Z');
  assert.throws(() => parseSince('last week', now), /--since expects a duration like 7d/);
  assert.throws(() => parseSince('7', now), /--since/);
});
