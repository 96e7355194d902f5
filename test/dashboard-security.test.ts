// The dashboard as an attacker meets it (issue 13, Security): a foreign Host (DNS rebinding), cross-origin changes
// (CSRF), no token, a token brute force, the CSP header; and the configuration refusals (the dashboard's own
// address as an account's upstream, a non-loopback listener without a password). Real HTTP on 127.0.0.1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../src/core/config.js';
import { hashPassword } from '../src/dashboard/auth.js';
import { http, login, sameOrigin, startDashboardWorld, type DashboardWorld } from './fixtures/dashboard.js';

describe('dashboard security', { timeout: 60_000 }, () => {
  let w: DashboardWorld;
  let cookie: string;
  before(async () => {
    w = await startDashboardWorld();
    cookie = await login(w);
  });
  after(() => w.stop());

  it('sends the CSP on the page and on API answers, and serves no inline script', async () => {
    for (const path of ['/', '/api/session', '/app/app.js']) {
      const r = await http(w.base, path, { headers: sameOrigin(w.base, cookie) });
      assert.equal(r.status, 200, path);
      const csp = String(r.headers['content-security-policy']);
      for (const d of ["default-src 'self'", "object-src 'none'", "frame-ancestors 'none'"])
        assert.ok(csp.split(';').includes(d), `${path}: ${d} in ${csp}`);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    const page = await http(w.base, '/', { headers: sameOrigin(w.base) });
    assert.doesNotMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is an external file');
  });

  it('answers 403 to a Host header that is not its own (DNS rebinding)', async () => {
    const port = new URL(w.base).port;
    for (const host of [`rebind.attacker.example:${port}`, 'attacker.example', `127.0.0.1:${Number(port) + 1}`]) {
      const r = await http(w.base, '/api/quarantine', { headers: { ...sameOrigin(w.base, cookie), host } });
      assert.equal(r.status, 403, `Host "${host}"`);
      assert.doesNotMatch(r.body, /rows/);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const r = await http(w.base, '/api/quarantine', { headers: { ...sameOrigin(w.base, cookie), host } });
      assert.equal(r.status, 200, `Host "${host}"`);
    }
  });

  it('refuses a cross-origin or non-JSON change request, even with the session cookie', async () => {
    await w.curlRetr(3);
    const list = JSON.parse((await http(w.base, '/api/quarantine', { headers: sameOrigin(w.base, cookie) })).body) as {
      rows: { id: string }[];
    };
    const id = list.rows[0]!.id;
    const path = `/api/quarantine/${id}/release`;
    const good = sameOrigin(w.base, cookie);
    const variants: [string, Record<string, string>][] = [
      ['another origin', { ...good, origin: 'http://attacker.example' }],
      ['no origin', Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'origin'))],
      ['cross-site fetch metadata', { ...good, 'sec-fetch-site': 'cross-site' }],
      ['a form post', { ...good, 'content-type': 'application/x-www-form-urlencoded' }],
      ['text/plain (no preflight)', { ...good, 'content-type': 'text/plain' }],
    ];
    for (const [what, headers] of variants) {
      const r = await http(w.base, path, { method: 'POST', headers, body: '{}' });
      assert.equal(r.status, 403, what);
    }
    const detail = JSON.parse((await http(w.base, `/api/quarantine/${id}`, { headers: good })).body) as {
      entry: { released: unknown };
    };
    assert.equal(detail.entry.released, null, 'none of them released the message');
    const ok = await http(w.base, path, { method: 'POST', headers: good, body: '{}' });
    assert.equal(ok.status, 200, ok.body);
  });

  it('gives no data without the token: API, live stream and metrics answer 401', async () => {
    const anon = sameOrigin(w.base);
    const paths = ['/api/quarantine', '/api/connections', '/api/now', '/api/live', '/api/stats', '/metrics'];
    for (const path of [...paths, '/api/policy/report', '/api/interceptions']) {
      const r = await http(w.base, path, { headers: anon });
      assert.equal(r.status, 401, path);
    }
    const forged = await http(w.base, '/api/now', { headers: { ...anon, cookie: 'mailshield_session=forged' } });
    assert.equal(forged.status, 401);
    const session = JSON.parse((await http(w.base, '/api/session', { headers: anon })).body) as object;
    assert.deepEqual(session, { authenticated: false, passwordRequired: false });
    const health = await http(w.base, '/healthz', { headers: anon });
    assert.equal(health.status, 200, 'health needs no token and says nothing about mail');
    const bearer = await http(w.base, '/metrics', {
      headers: { ...anon, authorization: `Bearer ${w.dashboard.token}` },
    });
    assert.equal(bearer.status, 200, 'a scraper may send the token as a bearer');
    assert.match(bearer.body, /mailshield_sessions /);
  });

  it('sets the session cookie HttpOnly and SameSite=Strict', async () => {
    const r = await http(w.base, '/api/login', {
      method: 'POST',
      headers: sameOrigin(w.base),
      body: JSON.stringify({ token: w.dashboard.token }),
    });
    assert.equal(r.status, 204);
    const c = String(r.headers['set-cookie']);
    assert.match(c, /HttpOnly/);
    assert.match(c, /SameSite=Strict/);
  });
});

describe('dashboard login rate limit', { timeout: 60_000 }, () => {
  it('a brute force of the token is cut off, and then even the right token waits', async () => {
    const w = await startDashboardWorld();
    try {
      const attempt = (token: string) =>
        http(w.base, '/api/login', { method: 'POST', headers: sameOrigin(w.base), body: JSON.stringify({ token }) });
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) statuses.push((await attempt(`guess-${i}`)).status);
      assert.deepEqual(statuses.slice(0, 10), new Array(10).fill(401), 'the first guesses are simply wrong');
      assert.ok(
        statuses.slice(10).every((s) => s === 429),
        `then rate-limited: ${statuses.join(',')}`,
      );
      const right = await attempt(w.dashboard.token);
      assert.equal(right.status, 429);
      assert.ok(Number(right.headers['retry-after']) > 0);
    } finally {
      await w.stop();
    }
  });
});

describe('dashboard password', { timeout: 60_000 }, () => {
  it('with dashboard.passwordHash, the token alone does not log in', async () => {
    const w = await startDashboardWorld({ dashboard: { passwordHash: hashPassword('s3cret-pass') } });
    try {
      const attempt = (body: object) =>
        http(w.base, '/api/login', { method: 'POST', headers: sameOrigin(w.base), body: JSON.stringify(body) });
      assert.equal((await attempt({ token: w.dashboard.token })).status, 401);
      assert.equal((await attempt({ token: w.dashboard.token, password: 's3cret-pasS' })).status, 401);
      assert.equal((await attempt({ token: 'wrong', password: 's3cret-pass' })).status, 401);
      assert.equal((await attempt({ token: w.dashboard.token, password: 's3cret-pass' })).status, 204);
    } finally {
      await w.stop();
    }
  });
});

describe('dashboard configuration', () => {
  const account = (upstream: string, listen = '127.0.0.1:1995') => ({
    name: 'a',
    protocol: 'pop3',
    listen,
    clientTls: 'implicit',
    upstream,
    upstreamTls: 'implicit',
  });

  it("refuses an account whose upstream (or listener) is the dashboard's own address", () => {
    for (const upstream of ['127.0.0.1:8025', 'localhost:8025', '127.0.0.2:8025'])
      assert.throws(
        () => validateConfig({ accounts: [account(upstream)] }, 'f.yaml'),
        (e: Error & { code?: string }) =>
          e.code === 'MS_ERR_CONFIG_INVALID' && /accounts\[0\]\.upstream: .*dashboard/.test(e.message),
        upstream,
      );
    assert.throws(
      () =>
        validateConfig(
          { dashboard: { listen: '127.0.0.1:9000' }, accounts: [account('pop.example:995', '127.0.0.1:9000')] },
          'f.yaml',
        ),
      /accounts\[0\]\.listen: .*dashboard/,
    );
    assert.doesNotThrow(() => validateConfig({ accounts: [account('pop.example:8025')] }, 'f.yaml'));
    assert.doesNotThrow(() =>
      validateConfig({ dashboard: { enabled: false }, accounts: [account('127.0.0.1:8025')] }, 'f.yaml'),
    );
  });

  it('refuses a non-loopback dashboard without a password, and accepts it with one', () => {
    assert.throws(
      () => validateConfig({ dashboard: { listen: '0.0.0.0:8025' } }, 'f.yaml'),
      /dashboard\.listen: expected a loopback address .* or a dashboard\.passwordHash/,
    );
    const cfg = validateConfig({ dashboard: { listen: '0.0.0.0:8025', passwordHash: hashPassword('pw') } }, 'f.yaml');
    assert.equal(cfg.dashboard.listen, '0.0.0.0:8025');
  });
});
