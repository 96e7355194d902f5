// The dashboard's JSON API against a real shield: the quarantine list filters, delete removes the entry, an unknown id
// is 404, connections filter by result, and /metrics counts the scans.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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
  before(async () => {
    w = await startDashboardWorld();
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
});
