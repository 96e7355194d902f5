// The dashboard's JSON API against a real shield: the quarantine list filters, delete removes the entry, an unknown id
// is 404, connections filter by result, /metrics counts the scans, and rows the shield writes for the policy rollout
// and intercept mode come back through /api/policy/report and /api/interceptions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { PolicyReport } from '../src/probe/policy-report.js';
import { InterceptionStore } from '../src/store/interceptions.js';
import type { LiveEvent, LiveSession } from '../src/io/live.js';
import { PolicyEvents } from '../src/store/policy-events.js';
import { describeException } from '../src/tls/upstream-policy.js';
import { http, login, sameOrigin, startDashboardWorld, type DashboardWorld } from './fixtures/dashboard.js';
import { needs } from './fixtures/util.js';

describe('dashboard API', { ...needs('curl'), timeout: 60_000 }, () => {
  let w: DashboardWorld;
  let h: Record<string, string>;
  const get = async <T>(path: string): Promise<T> => {
    const r = await http(w.base, path, { headers: h });
    assert.equal(r.status, 200, `${path}: ${r.body}`);
    return JSON.parse(r.body) as T;
  };
  const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
  const used = { host: 'pop.used.example', allow: ['tls1.1'], until: day(20) };
  before(async () => {
    w = await startDashboardWorld({
      exceptions: [used, { host: 'pop.unused.example', allow: ['sha1-handshake-signature'], until: day(40) }],
    });
    h = sameOrigin(w.base, await login(w));
    assert.ok((await w.curlRetr(3)).ok);
    assert.ok((await w.curlRetr(1)).ok);
  });
  after(() => w.stop());

  it('filters the quarantine and deletes an entry with its file', async () => {
    type Rows = { rows: { id: string; sha256: string; signature: string }[] };
    assert.equal((await get<Rows>('/api/quarantine?signature=eicar')).rows.length, 1);
    assert.equal((await get<Rows>('/api/quarantine?from=nobody-like-this')).rows.length, 0);
    const [e] = (await get<Rows>('/api/quarantine')).rows;
    const file = `${w.dataDir}/quarantine/${e!.sha256}.eml`;
    assert.ok(existsSync(file));
    const del = await http(w.base, `/api/quarantine/${e!.id}/delete`, { method: 'POST', headers: h, body: '{}' });
    assert.equal(del.status, 200);
    assert.equal((await get<Rows>('/api/quarantine')).rows.length, 0);
    assert.ok(!existsSync(file));
    assert.equal((await http(w.base, `/api/quarantine/${e!.id}`, { headers: h })).status, 404);
  });

  it('filters connections by result and counts scans in /metrics', async () => {
    type Conns = { rows: { result: string; account: string }[] };
    const ok = await get<Conns>('/api/connections?result=ok');
    assert.equal(ok.rows.length, 2);
    assert.equal((await get<Conns>('/api/connections?result=refused')).rows.length, 0);
    assert.equal((await get<Conns>('/api/connections?account=isp-pop3')).rows.length, 0);
    const m = await http(w.base, '/metrics', { headers: h });
    assert.match(m.body, /mailshield_scans_total\{account="demo-pop3",verdict="infected",action="replace"\} 1/);
    assert.match(m.body, /mailshield_scans_total\{account="demo-pop3",verdict="clean",action="release"\} 1/);
  });

  it('the policy report: a would-refuse row and exception uses written to the store, within the since window', async () => {
    const events = new PolicyEvents(w.shield.db);
    const old = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const refusal = {
      leg: 'upstream' as const,
      peer: 'pop.isp.example:995',
      peerLabel: 'pop.isp.example:995 (pop.isp.example)',
      policy: 'balanced',
      candidate: 'strict',
      code: 'MS_ERR_UPSTREAM_POLICY',
      rule: 'sha1-handshake-signature',
      explanation: 'the server signs the handshake with SHA-1',
      admit: '- {host: pop.isp.example, allow: [sha1-handshake-signature], until: 2027-03-01}',
    };
    events.wouldRefuse(old, null, 'isp-pop3', refusal);
    events.wouldRefuse(new Date().toISOString(), null, 'isp-pop3', refusal);
    events.wouldRefuse(new Date().toISOString(), null, 'isp-pop3', refusal);
    events.exceptionUsed(new Date().toISOString(), describeException(used, 'tls1.1'));

    const week = await get<PolicyReport>('/api/policy/report');
    assert.equal(week.peers.length, 1);
    assert.equal(week.peers[0]!.count, 2, 'the row of 10 days ago is outside the default 7 days');
    assert.equal(week.peers[0]!.admit, refusal.admit);
    assert.deepEqual(
      week.exceptions.map((e) => [e.host, e.uses, e.removable]),
      [
        ['pop.used.example', 1, false],
        ['pop.unused.example', 0, true],
      ],
    );
    assert.equal((await get<PolicyReport>('/api/policy/report?since=2w')).peers[0]!.count, 3);
    const bad = await http(w.base, '/api/policy/report?since=last-week', { headers: h });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /since expects a duration like 7d/);
  });

  it('interceptions: the original destination, the name verified and the decision, newest first', async () => {
    const store = new InterceptionStore(w.shield.db);
    const base = { clientAddress: '127.0.0.1:40000', protocol: 'imap', tlsMode: 'implicit', sni: null };
    store.record({
      ...base,
      connectionId: 'i-1',
      originalDestination: '127.0.0.7:993',
      name: 'imap.example',
      nameSource: 'hosts',
      decision: 'intercept',
      reason: null,
    });
    store.record({
      ...base,
      connectionId: 'i-2',
      originalDestination: '127.0.0.8:993',
      name: null,
      nameSource: null,
      decision: 'refuse',
      reason: 'no name to verify the upstream as',
    });
    const { rows } = await get<{
      rows: {
        connectionId: string;
        originalDestination: string;
        name: string | null;
        nameSource: string | null;
        decision: string;
        reason: string | null;
      }[];
    }>('/api/interceptions');
    assert.deepEqual(
      rows.map((r) => [r.connectionId, r.originalDestination, r.name, r.nameSource, r.decision, r.reason]),
      [
        ['i-2', '127.0.0.8:993', null, null, 'refuse', 'no name to verify the upstream as'],
        ['i-1', '127.0.0.7:993', 'imap.example', 'hosts', 'intercept', null],
      ],
    );
  });

  it("keeps a session's TLS facts in its live events through to the closed one", async () => {
    const seen: LiveSession[] = [];
    let on: (e: LiveEvent) => void = () => undefined;
    const closed = new Promise<LiveSession>((resolve) => {
      on = (e) => {
        if (e.type !== 'session' || e.session.account !== 'demo-pop3') return;
        seen.push(e.session);
        if (e.session.state === 'closed') resolve(e.session);
      };
    });
    w.shield.live.on('event', on);
    try {
      assert.ok((await w.curlRetr(1)).ok);
      const c = await closed;
      // The closed socket no longer reports its protocol: the event must still carry what the leg negotiated.
      assert.match(c.clientTls?.version ?? 'none', /^TLSv1\.[23]$/);
      assert.match(c.upstreamTls?.version ?? 'none', /^TLSv1\.[23]$/);
      for (const s of seen.filter((x) => x.clientTls?.version))
        assert.equal(s.clientTls!.version, c.clientTls!.version);
    } finally {
      w.shield.live.off('event', on);
    }
  });
});
