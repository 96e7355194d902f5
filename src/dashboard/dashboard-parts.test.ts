// The dashboard's pure parts: login limiter and sessions (injected clock), secrets, Host and CSRF rules, filters,
// hourly chart series.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cookieValue,
  hashPassword,
  LoginLimiter,
  secretEquals,
  Sessions,
  SESSION_TTL_MS,
  verifyPassword,
} from './auth.js';
import { classifyConnection, matchesQuarantine, parseConnectionFilter, parseQuarantineFilter } from './filters.js';
import { csrfCheck, hostAllowed } from './request-checks.js';
import { hourlySeries } from './stats.js';

describe('auth', () => {
  it('limits login attempts per client and in total, and opens again after the window', () => {
    let t = 0;
    const l = new LoginLimiter(() => t, 3, 5, 60_000);
    assert.deepEqual(
      [1, 2, 3].map(() => l.attempt('a').ok),
      [true, true, true],
    );
    const r = l.attempt('a');
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.retryAfterS === 60);
    assert.equal(l.attempt('b').ok, true);
    assert.equal(l.attempt('c').ok, false, 'the global budget of 5 is spent');
    t = 60_000;
    assert.equal(l.attempt('a').ok, true);
  });

  it('sessions expire; unknown ids are nobody', () => {
    let t = 0;
    const s = new Sessions(() => t);
    const x = s.create('token@127.0.0.1');
    assert.equal(s.get(x.id)?.who, 'token@127.0.0.1');
    assert.equal(s.get('nope'), undefined);
    t = SESSION_TTL_MS;
    assert.equal(s.get(x.id), undefined);
  });

  it('compares secrets of any length, hashes passwords with scrypt', () => {
    assert.ok(secretEquals('abc', 'abc'));
    assert.ok(!secretEquals('abc', 'abd'));
    assert.ok(!secretEquals('abc', 'abcd'));
    const h = hashPassword('pw-123456');
    assert.match(h, /^scrypt\$32768\$8\$1\$/);
    assert.ok(verifyPassword('pw-123456', h));
    assert.ok(!verifyPassword('pw-12345', h));
    assert.ok(!verifyPassword('pw-123456', 'scrypt$1048577$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA=='), 'absurd cost refused');
    assert.equal(cookieValue('a=1; mailshield_session=xyz; b=2', 'mailshield_session'), 'xyz');
  });
});

describe('request checks', () => {
  const p = { names: ['mail-gw.lan'], port: 8025 };
  it('accepts loopback names and configured hosts on the right port only', () => {
    for (const h of [
      '127.0.0.1:8025',
      'localhost:8025',
      '[::1]:8025',
      'mail-gw.lan:8025',
      'LOCALHOST:8025',
      '127.0.0.1',
    ])
      assert.ok(hostAllowed(h, p), h);
    for (const h of ['evil.example:8025', '127.0.0.1:8026', 'mail-gw.lan.evil.example:8025', undefined, '', 'a b'])
      assert.ok(!hostAllowed(h, p), String(h));
  });

  it('lets reads through and wants same-origin JSON for changes', () => {
    const ok = {
      method: 'POST',
      host: 'localhost:8025',
      origin: 'http://localhost:8025',
      contentType: 'application/json',
      secFetchSite: 'same-origin',
    };
    assert.ok(csrfCheck(ok).ok);
    assert.ok(csrfCheck({ ...ok, secFetchSite: undefined }).ok, 'older browsers send no fetch metadata');
    assert.ok(csrfCheck({ ...ok, method: 'GET', origin: undefined, contentType: undefined }).ok);
    for (const bad of [
      { origin: 'http://evil.example' },
      { origin: undefined },
      { origin: 'https://localhost:8025' },
      { contentType: 'text/plain' },
      { secFetchSite: 'same-site' },
      { method: 'DELETE' },
    ])
      assert.equal(csrfCheck({ ...ok, ...bad }).ok, false, JSON.stringify(bad));
  });
});

describe('filters', () => {
  it('parses what a user typed and ignores what is not a filter', () => {
    assert.deepEqual(
      parseConnectionFilter({ account: ' isp ', result: 'refused', since: '2026-12-01', until: 'garbage' }),
      {
        account: 'isp',
        protocol: undefined,
        result: 'refused',
        since: '2026-12-01T00:00:00.000Z',
        until: undefined,
      },
    );
    assert.equal(parseConnectionFilter({ result: 'nope' }).result, undefined);
    assert.equal(parseQuarantineFilter({ until: '2026-12-01' }).until, '2026-12-01T23:59:59.999Z');
  });

  it('tells refusals from errors and clean closes', () => {
    assert.equal(classifyConnection('closed', []), 'ok');
    assert.equal(classifyConnection('idle-timeout', []), 'ok');
    assert.equal(classifyConnection('client-tls-refused', ['MS_ERR_CLIENT_TLS_VERSION']), 'refused');
    assert.equal(classifyConnection('MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE', []), 'refused');
    assert.equal(classifyConnection('closed', ['MS_ERR_UPSTREAM_CERT_EXPIRED']), 'refused');
    assert.equal(classifyConnection('MS_ERR_UPSTREAM_CONNECT', ['MS_ERR_UPSTREAM_CONNECT']), 'error');
    assert.equal(classifyConnection('closed', ['MS_ERR_CLIENT_PROTOCOL']), 'error');
  });

  it('matches quarantine entries case-insensitively on every field, within the dates', () => {
    const e = {
      from: 'Mallory <m@x>',
      to: 'me@x',
      subject: 'Invoice',
      engine: 'builtin',
      signature: 'EICAR-Test-File',
      receivedAt: '2026-12-01T10:00:00.000Z',
    };
    assert.ok(matchesQuarantine(e, { from: 'mallory', signature: 'eicar', subject: 'INV' }));
    assert.ok(!matchesQuarantine(e, { to: 'you' }));
    assert.ok(!matchesQuarantine(e, { since: '2026-12-02T00:00:00.000Z' }));
    assert.ok(matchesQuarantine(e, { until: '2026-12-01T23:59:59.999Z' }));
  });
});

describe('stats', () => {
  it('buckets counts by hour, oldest first, ending at the current hour', () => {
    const now = new Date('2026-12-01T10:30:00.000Z');
    const s = hourlySeries(
      now,
      3,
      [
        { hour: '2026-12-01T10:00:00.000Z', outcome: 'clean', n: 4 },
        { hour: '2026-12-01T09:00:00.000Z', outcome: 'infected', n: 1 },
        { hour: '2026-12-01T09:00:00.000Z', outcome: 'blocked', n: 2 },
        { hour: '2026-11-30T09:00:00.000Z', outcome: 'clean', n: 9 },
      ],
      ['2026-12-01T08:59:00.000Z', '2026-12-01T10:01:00.000Z'],
    );
    assert.deepEqual(s.hours, [
      Date.parse('2026-12-01T08:00:00Z') / 1000,
      Date.parse('2026-12-01T09:00:00Z') / 1000,
      Date.parse('2026-12-01T10:00:00Z') / 1000,
    ]);
    assert.deepEqual(s.scanned, [0, 3, 4]);
    assert.deepEqual(s.clean, [0, 0, 4]);
    assert.deepEqual(s.infected, [0, 3, 0]);
    assert.deepEqual(s.refused, [1, 0, 1]);
  });
});
