// The statistics bench WD judges the dashboard with: per-round ratios, the A/A control band, and rotated rounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairedRatios, withinControl } from '../bench/paired.js';
import { alternate } from '../bench/stats.js';

test('pairedRatios divides round by round, so a slow round slows both sides alike', () => {
  // Round 3 was slow for everyone: the per-round ratio stays 1.1 while a ratio of medians would not see it as one.
  const a = [100, 100, 300, 100, 100];
  const b = [110, 110, 330, 110, 110];
  const r = pairedRatios(a, b);
  assert.equal(r.rounds, 5);
  assert.ok(Math.abs(r.median - 1.1) < 1e-9);
  assert.ok(Math.abs(r.p10 - 1.1) < 1e-9 && Math.abs(r.p90 - 1.1) < 1e-9);
});

test('withinControl: inside the A/A band (either way round) is unchanged, outside it is not', () => {
  const control = { median: 1.0, p10: 0.95, p90: 1.04, rounds: 15 };
  assert.equal(withinControl({ median: 1.03, p10: 1, p90: 1.1, rounds: 15 }, control), true);
  // 1 / 0.95 = 1.053: a control that ran 5% faster than the shield is as likely as one 5% slower.
  assert.equal(withinControl({ median: 1.05, p10: 1, p90: 1.1, rounds: 15 }, control), true);
  assert.equal(withinControl({ median: 1.08, p10: 1, p90: 1.1, rounds: 15 }, control), false);
  assert.equal(withinControl({ median: 0.9, p10: 0.85, p90: 0.95, rounds: 15 }, control), false);
});

test('alternate with rotate starts each round one target further on, and drops the warm-up round', async () => {
  const order: string[] = [];
  const out = await alternate(['A', 'B', 'C'] as const, 3, async (t) => (order.push(t), order.length), {
    rotate: true,
  });
  assert.deepEqual(order.join(''), 'ABCBCACABABC');
  assert.deepEqual(out.get('A')!.ms, [6, 8, 10]);
});
