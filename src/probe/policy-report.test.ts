// The report from a real store: would-refuse events and exception uses written by EventStore under an injected clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../core/config.js';
import { openDb } from '../store/db.js';
import { EventStore } from '../store/events.js';
import type { UpstreamHandshakeFacts, WouldRefuse } from '../core/tls-facts.js';
import { buildPolicyReport, loadPolicyReport } from './policy-report.js';
import { PLAIN } from './render.js';
import { renderPolicyReportHuman } from './render-policy.js';

const config = validateConfig(
  {
    policy: {
      candidate: { upstream: 'strict', client: 'strict' },
      exceptions: [
        { host: 'pop.isp.example', allow: ['sha1-handshake-signature'], until: '2026-06-13', reason: 'ticket 1' },
        { host: 'old.example', allow: ['tls1.0'], until: '2026-09-01' },
      ],
    },
  },
  'test',
);

function facts(over: Partial<UpstreamHandshakeFacts>): UpstreamHandshakeFacts {
  return {
    host: 'pop.isp.example',
    port: 995,
    servername: 'pop.isp.example',
    protocol: 'TLSv1.2',
    cipher: 'ECDHE-RSA-AES256-GCM-SHA384',
    peerSigningDigest: 'SHA1',
    peerSignatureType: 'RSA',
    serverTempKey: 'ECDH, prime256v1, 256 bits',
    chain: [],
    policy: 'balanced',
    verdict: 'warn',
    findings: [],
    exceptionsApplied: ['pop.isp.example: sha1-handshake-signature until 2026-06-13'],
    exceptionsExpired: [],
    ...over,
  };
}

const clientEvent: WouldRefuse = {
  leg: 'client',
  peer: 'abcd',
  peerLabel: 'versions TLS 1.0; cipher suites X; no signature_algorithms extension',
  policy: 'legacy',
  candidate: 'strict',
  code: 'MS_ERR_CLIENT_TLS_VERSION',
  rule: 'client-version',
  explanation: 'client offered only TLS 1.0; ...',
  admit: 'to accept it, set policy.client: legacy or auto',
};

test('exception uses are counted with their last use; unused ones are removable; days left follow the clock', () => {
  let now = new Date('2026-05-30T09:00:00Z');
  const db = openDb(':memory:');
  const store = new EventStore(db, () => now);
  for (let i = 0; i < 3; i++) store.upstreamHandshake(`c${i}`, 'isp', facts({}));
  now = new Date('2026-06-01T08:00:00Z');
  store.upstreamHandshake('c3', 'isp', facts({}));
  // A refused handshake did not use its exception.
  store.upstreamHandshake('c4', 'isp', facts({ verdict: 'refused' }));

  const r = loadPolicyReport(db, config, new Date('2026-05-25T00:00:00Z'), now);
  assert.deepEqual(
    r.exceptions.map((e) => [e.host, e.allow, e.uses, e.lastUsed, e.daysLeft, e.removable]),
    [
      ['pop.isp.example', 'sha1-handshake-signature', 4, '2026-06-01T08:00:00.000Z', 12, false],
      ['old.example', 'tls1.0', 0, null, 92, true],
    ],
  );
  const text = renderPolicyReportHuman(r, PLAIN);
  assert.match(
    text,
    /exception for pop\.isp\.example allow \[sha1-handshake-signature\] until 2026-06-13: used 4 times, last used today, expires in 12 days \(ticket 1\)/,
  );
  assert.match(text, /exception for old\.example allow \[tls1\.0\] until 2026-09-01: never used: removable/);
  const later = loadPolicyReport(db, config, new Date('2026-05-25T00:00:00Z'), new Date('2026-06-03T10:00:00Z'));
  assert.match(renderPolicyReportHuman(later, PLAIN), /used 4 times, last used 2 days ago, expires in 10 days/);
  db.close();
});

test('would-refuse events: one line per peer with count, first and last seen; --since drops older ones', () => {
  let now = new Date('2026-05-20T09:00:00Z');
  const db = openDb(':memory:');
  const store = new EventStore(db, () => now);
  const hello = {
    connectionId: 'c',
    account: 'win7',
    listener: '127.0.0.1:1',
    clientAddress: '127.0.0.1:5',
    policy: 'legacy',
  };
  const info = {
    legacyVersion: 'TLSv1',
    versions: ['TLSv1'],
    cipherSuites: [],
    cipherSuiteNames: [],
    signatureAlgorithms: [],
    groups: [],
    sni: null,
    alpn: [],
  };
  store.clientHello(hello, info, true, null, clientEvent);
  now = new Date('2026-05-28T09:00:00Z');
  store.clientHello(hello, info, true, null, clientEvent);
  store.clientHello({ ...hello, account: 'other' }, info, true, null, clientEvent);
  store.clientHello(hello, info, true, null, null);
  now = new Date('2026-05-29T09:00:00Z');
  const up: WouldRefuse = {
    ...clientEvent,
    leg: 'upstream',
    peer: 'pop.isp.example:995',
    peerLabel: 'pop.isp.example:995',
    policy: 'balanced',
    code: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
    rule: 'handshake-signature-sha1',
    explanation: 'signed with RSA+SHA1',
    admit: 'policy.exceptions: {...}',
  };
  store.upstreamHandshake('u', 'isp', facts({ wouldRefuse: up, exceptionsApplied: [] }));

  const r = loadPolicyReport(db, config, new Date('2026-05-22T09:00:00Z'), now);
  assert.deepEqual(
    r.peers.map((p) => [p.leg, p.peer, p.count, p.accounts, p.firstSeen, p.lastSeen]),
    [
      ['client', 'abcd', 2, ['win7', 'other'], '2026-05-28T09:00:00.000Z', '2026-05-28T09:00:00.000Z'],
      ['upstream', 'pop.isp.example:995', 1, ['isp'], '2026-05-29T09:00:00.000Z', '2026-05-29T09:00:00.000Z'],
    ],
  );
  const all = loadPolicyReport(db, config, new Date('2026-05-01T00:00:00Z'), now);
  assert.equal(all.peers[0]!.count, 3);
  assert.equal(all.peers[0]!.firstSeen, '2026-05-20T09:00:00.000Z');
  const text = renderPolicyReportHuman(all, PLAIN);
  assert.match(text, /WOULD REFUSE client abcd: versions TLS 1\.0/);
  assert.match(text, /3 handshakes on win7, other, first seen 2026-05-20T09:00:00\.000Z/);
  assert.match(text, /would need: to accept it, set policy\.client: legacy or auto/);
  db.close();
});

test('no store and no candidate say so instead of "nothing"', () => {
  const bare = validateConfig({}, 'test');
  const now = new Date('2026-06-01T00:00:00Z');
  const r = buildPolicyReport({ config: bare, wouldRefuse: null, uses: [], since: now, now });
  assert.equal(r.recorded, false);
  assert.match(renderPolicyReportHuman(r, PLAIN), /no policy\.candidate configured/);
  const r2 = buildPolicyReport({ config, wouldRefuse: null, uses: [], since: now, now });
  assert.match(renderPolicyReportHuman(r2, PLAIN), /no store yet/);
});
