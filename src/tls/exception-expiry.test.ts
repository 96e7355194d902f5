import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyException } from '../core/config.js';
import { ExpiryWarnings } from './exception-expiry.js';

const EX: PolicyException[] = [
  { host: 'pop.isp.example', allow: ['sha1-handshake-signature'], until: '2026-06-30' },
  { host: 'old.example', allow: ['tls1.0'], until: '2027-01-01' },
];
const at = (iso: string) => new Date(iso);

test('expiry warnings: none before 14 days out, then once per day until the last day, then none', () => {
  const w = new ExpiryWarnings();
  assert.deepEqual(w.due(EX, at('2026-06-15T10:00:00Z')), [], '15 days out: quiet');
  const first = w.due(EX, at('2026-06-16T00:30:00Z'));
  assert.equal(first.length, 1);
  assert.equal(first[0]!.host, 'pop.isp.example');
  assert.equal(first[0]!.daysLeft, 14);
  assert.match(first[0]!.message, /expires in 14 days/);
  assert.match(
    first[0]!.message,
    /\{host: pop\.isp\.example, allow: \[sha1-handshake-signature\], until: 2026-06-30\}/,
  );
  assert.deepEqual(w.due(EX, at('2026-06-16T12:00:00Z')), [], 'same day: already warned');
  assert.deepEqual(w.due(EX, at('2026-06-16T23:59:59Z')), [], 'same day: already warned');
  assert.equal(w.due(EX, at('2026-06-17T00:00:01Z'))[0]!.daysLeft, 13, 'next day: again');
  assert.match(w.due(EX, at('2026-06-29T08:00:00Z'))[0]!.message, /expires in 1 day;/);
  assert.match(w.due(EX, at('2026-06-30T08:00:00Z'))[0]!.message, /today is its last day/);
  assert.deepEqual(w.due(EX, at('2026-07-01T08:00:00Z')), [], 'expired: the per-connection log says so instead');
});

test('expiry warnings: each exception is counted on its own', () => {
  const w = new ExpiryWarnings();
  const both = [...EX, { host: 'b.example', allow: ['tls1.1' as const], until: '2026-06-20' }];
  assert.deepEqual(
    w.due(both, at('2026-06-18T00:00:00Z')).map((x) => [x.host, x.daysLeft]),
    [
      ['pop.isp.example', 12],
      ['b.example', 2],
    ],
  );
  assert.equal(w.due(both, at('2026-06-18T05:00:00Z')).length, 0);
});
