import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helloFromRow, refusedClients, type ClientHelloRow } from './client-leg.js';
import { lapsingExceptions } from './doctor.js';
import { cipherSuiteCode, cipherSuiteName } from '../tls/names.js';
import { COLOUR, PLAIN, renderProbeHuman } from './render.js';
import { assembleProbe } from './result.js';

const row = (over: Partial<ClientHelloRow>): ClientHelloRow => ({
  account: 'a',
  listener: '127.0.0.1:1995',
  client_address: '127.0.0.1',
  at: '2030-01-10T00:00:00.000Z',
  versions_json: '["TLSv1"]',
  ciphers_json: '["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA","TLS_RSA_WITH_AES_128_CBC_SHA"]',
  sigalgs_json: '[]',
  groups_json: '["secp256r1"]',
  sni: null,
  alpn_json: '[]',
  ...over,
});

test('cipher suite names from the store map back to their code points', () => {
  for (const code of [0x002f, 0xc013, 0xc02f, 0x1301, 0xcca8])
    assert.equal(cipherSuiteCode(cipherSuiteName(code)), code);
  assert.equal(cipherSuiteCode('0x5600'), 0x5600);
  assert.equal(cipherSuiteCode('NOT_A_SUITE'), null);
});

test('a stored row becomes the hello the client sent', () => {
  const h = helloFromRow(row({}));
  assert.deepEqual(h.versions, ['TLSv1']);
  assert.deepEqual(h.cipherSuites, [0xc013, 0x002f]);
  assert.equal(h.legacyVersion, 'TLSv1');
  assert.deepEqual(h.signatureAlgorithms, []);
});

test('refused clients: grouped per listener/address/offer, window respected, policy decides', () => {
  const since = new Date('2030-01-01T00:00:00Z');
  const rows = [
    row({ at: '2030-01-10T00:00:00.000Z' }),
    row({ at: '2030-01-12T00:00:00.000Z' }),
    row({ at: '2029-12-01T00:00:00.000Z', client_address: '127.0.0.9' }),
    row({
      versions_json: '["TLSv1.3","TLSv1.2"]',
      ciphers_json: '["TLS_AES_128_GCM_SHA256","TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]',
      sigalgs_json: '["rsa_pss_rsae_sha256","ecdsa_secp256r1_sha256"]',
      client_address: '127.0.0.2',
    }),
  ];
  assert.deepEqual(refusedClients(rows, 'auto', since), []);
  const strict = refusedClients(rows, 'strict', since);
  assert.equal(strict.length, 1);
  assert.equal(strict[0]!.seen, 2);
  assert.equal(strict[0]!.lastSeen, '2030-01-12T00:00:00.000Z');
  assert.match(strict[0]!.reason, /TLS 1\.0/);
  // On a LAN address, auto means TLS 1.2: the same client is refused there.
  assert.equal(refusedClients([row({ listener: '192.168.1.5:1995' })], 'auto', since).length, 1);
});

test('exceptions lapsing within 30 days, including already expired ones', () => {
  const now = new Date('2030-01-01T12:00:00Z');
  const ex = (until: string) => ({ host: 'h', allow: ['tls1.0' as const], until });
  assert.deepEqual(
    lapsingExceptions([ex('2030-03-01'), ex('2030-01-31'), ex('2029-12-30')], now).map((e) => [e.until, e.daysLeft]),
    [
      ['2029-12-30', -2],
      ['2030-01-31', 30],
    ],
  );
});

test('human renderer: colour only when asked, verdict words per profile', () => {
  const r = assembleProbe({
    target: { host: 'h', port: 1, servername: 'h', mode: 'implicit', protocol: null },
    main: null,
    connectError: 'cannot connect',
    versionTrials: null,
    withoutSha1: null,
    policy: 'balanced',
    exceptions: [],
    now: new Date(),
  });
  assert.equal(r.reachable, false);
  assert.equal(r.acceptable, false);
  assert.deepEqual(r.profiles.strict.rules, ['unreachable']);
  assert.ok(!renderProbeHuman(r, PLAIN).includes('\x1b['));
  assert.ok(renderProbeHuman(r, COLOUR).includes('\x1b[31m'));
});
