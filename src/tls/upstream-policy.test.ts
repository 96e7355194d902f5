import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyException, UpstreamPolicyName } from '../core/config.js';
import type { CertSummary } from '../core/tls-facts.js';
import {
  certSignatureDigest,
  classifyCipher,
  evaluateUpstream,
  refusalError,
  type UpstreamFactsInput,
} from './upstream-policy.js';

const NOW = new Date('2026-06-01T12:00:00Z');

function cert(over: Partial<CertSummary> = {}): CertSummary {
  return {
    subject: 'CN=pop.example.jp',
    issuer: 'CN=Example CA',
    signatureAlgorithm: 'sha256WithRSAEncryption',
    keyType: 'RSA',
    keyBits: 2048,
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    sans: ['DNS:pop.example.jp'],
    selfSigned: false,
    fingerprint256: 'AA',
    spkiSha256: 'x',
    ...over,
  };
}
const root = cert({ subject: 'CN=Example CA', issuer: 'CN=Example CA', selfSigned: true, sans: [] });

/** A modern, fully verified TLS 1.3 server: the baseline each row changes one thing of. */
function facts(over: Partial<UpstreamFactsInput> = {}): UpstreamFactsInput {
  return {
    host: 'pop.example.jp',
    port: 995,
    servername: 'pop.example.jp',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    peerSigningDigest: 'SHA256',
    peerSignatureType: 'RSA-PSS',
    serverTempKey: 'X25519, 253 bits',
    chain: [cert(), root],
    verification: { opensslError: null, hostnameError: null, leafPin: 'sha256/LEAF', expectedPin: null },
    ...over,
  };
}
const isp: Partial<UpstreamFactsInput> = {
  protocol: 'TLSv1.2',
  cipher: 'ECDHE-RSA-AES256-GCM-SHA384',
  peerSigningDigest: 'SHA1',
  peerSignatureType: 'RSA',
  serverTempKey: 'ECDH, prime256v1, 256 bits',
};
const v = (o: Partial<NonNullable<UpstreamFactsInput['verification']>>) => ({
  verification: { opensslError: null, hostnameError: null, leafPin: 'sha256/LEAF', expectedPin: null, ...o },
});

type Row = [name: string, over: Partial<UpstreamFactsInput>, expect: Record<UpstreamPolicyName, string>];
// Each cell is 'ok', 'warn', or the refusal's error code.
const ROWS: Row[] = [
  ['modern TLS 1.3', {}, { strict: 'ok', balanced: 'ok', legacy: 'ok' }],
  [
    'ISP: TLS 1.2 RSA+SHA1 handshake signature',
    isp,
    { strict: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE', balanced: 'warn', legacy: 'warn' },
  ],
  [
    'ECDSA+SHA1 handshake signature',
    { ...isp, peerSignatureType: 'ECDSA' },
    { strict: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE', balanced: 'warn', legacy: 'warn' },
  ],
  [
    'MD5 handshake signature in TLS 1.2',
    { ...isp, peerSigningDigest: 'MD5' },
    {
      strict: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      balanced: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      legacy: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
    },
  ],
  [
    'Ed25519 (no separate digest)',
    { peerSigningDigest: null, peerSignatureType: 'Ed25519' },
    { strict: 'ok', balanced: 'ok', legacy: 'ok' },
  ],
  [
    'signature not observed',
    { peerSigningDigest: null, peerSignatureType: null },
    { strict: 'MS_ERR_UPSTREAM_TLS_HANDSHAKE', balanced: 'warn', legacy: 'warn' },
  ],
  [
    'TLS 1.2 CBC with ECDHE',
    { ...isp, peerSigningDigest: 'SHA256', cipher: 'ECDHE-RSA-AES128-SHA256' },
    { strict: 'MS_ERR_UPSTREAM_TLS_CIPHER', balanced: 'ok', legacy: 'ok' },
  ],
  [
    'static RSA key exchange',
    { ...isp, cipher: 'AES128-GCM-SHA256', peerSigningDigest: null, peerSignatureType: null, serverTempKey: null },
    { strict: 'MS_ERR_UPSTREAM_TLS_CIPHER', balanced: 'MS_ERR_UPSTREAM_TLS_CIPHER', legacy: 'warn' },
  ],
  [
    '3DES',
    { ...isp, peerSigningDigest: 'SHA256', cipher: 'ECDHE-RSA-DES-CBC3-SHA' },
    {
      strict: 'MS_ERR_UPSTREAM_TLS_CIPHER',
      balanced: 'MS_ERR_UPSTREAM_TLS_CIPHER',
      legacy: 'MS_ERR_UPSTREAM_TLS_CIPHER',
    },
  ],
  [
    'TLS 1.0 with MD5-SHA1',
    {
      protocol: 'TLSv1',
      cipher: 'ECDHE-RSA-AES256-SHA',
      peerSigningDigest: 'MD5-SHA1',
      peerSignatureType: 'RSA',
      serverTempKey: 'X25519, 253 bits',
    },
    { strict: 'MS_ERR_UPSTREAM_TLS_VERSION', balanced: 'MS_ERR_UPSTREAM_TLS_VERSION', legacy: 'warn' },
  ],
  [
    'TLS 1.1',
    { protocol: 'TLSv1.1', cipher: 'ECDHE-RSA-AES128-SHA', peerSigningDigest: 'MD5-SHA1', peerSignatureType: 'RSA' },
    { strict: 'MS_ERR_UPSTREAM_TLS_VERSION', balanced: 'MS_ERR_UPSTREAM_TLS_VERSION', legacy: 'warn' },
  ],
  [
    'SSLv3',
    { protocol: 'SSLv3', cipher: 'AES128-SHA' },
    {
      strict: 'MS_ERR_UPSTREAM_TLS_VERSION',
      balanced: 'MS_ERR_UPSTREAM_TLS_VERSION',
      legacy: 'MS_ERR_UPSTREAM_TLS_VERSION',
    },
  ],
  [
    'DH 1024 ephemeral',
    { ...isp, peerSigningDigest: 'SHA256', cipher: 'DHE-RSA-AES128-GCM-SHA256', serverTempKey: 'DH, 1024 bits' },
    {
      strict: 'MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY',
      balanced: 'MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY',
      legacy: 'MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY',
    },
  ],
  [
    'ECDH P-224 ephemeral',
    { serverTempKey: 'ECDH, secp224r1, 224 bits' },
    {
      strict: 'MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY',
      balanced: 'MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY',
      legacy: 'MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY',
    },
  ],
  ['DH 2048, P-384', { serverTempKey: 'ECDH, secp384r1, 384 bits' }, { strict: 'ok', balanced: 'ok', legacy: 'ok' }],
  [
    'leaf signed with SHA-1',
    { chain: [cert({ signatureAlgorithm: 'sha1WithRSAEncryption' }), root] },
    {
      strict: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
      balanced: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
      legacy: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
    },
  ],
  [
    'intermediate signed with MD5',
    { chain: [cert(), cert({ subject: 'CN=Inter', signatureAlgorithm: 'md5WithRSAEncryption' }), root] },
    {
      strict: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
      balanced: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
      legacy: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
    },
  ],
  [
    'self-signed anchor with SHA-1 (ignored)',
    { chain: [cert(), { ...root, signatureAlgorithm: 'sha1WithRSAEncryption' }] },
    { strict: 'ok', balanced: 'ok', legacy: 'ok' },
  ],
  [
    'RSA-PSS certificate with SHA-1',
    { chain: [cert({ signatureAlgorithm: 'rsassaPss (sha1)' }), root] },
    {
      strict: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
      balanced: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
      legacy: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
    },
  ],
  [
    'RSA 1024 leaf',
    { chain: [cert({ keyBits: 1024 }), root] },
    { strict: 'MS_ERR_UPSTREAM_WEAK_KEY', balanced: 'MS_ERR_UPSTREAM_WEAK_KEY', legacy: 'MS_ERR_UPSTREAM_WEAK_KEY' },
  ],
  [
    'EC P-224 leaf',
    { chain: [cert({ keyType: 'EC', keyBits: 224, curve: 'secp224r1' }), root] },
    { strict: 'MS_ERR_UPSTREAM_WEAK_KEY', balanced: 'MS_ERR_UPSTREAM_WEAK_KEY', legacy: 'MS_ERR_UPSTREAM_WEAK_KEY' },
  ],
  [
    'expired leaf',
    { chain: [cert({ notAfter: '2026-05-31T00:00:00.000Z' }), root] },
    {
      strict: 'MS_ERR_UPSTREAM_CERT_EXPIRED',
      balanced: 'MS_ERR_UPSTREAM_CERT_EXPIRED',
      legacy: 'MS_ERR_UPSTREAM_CERT_EXPIRED',
    },
  ],
  [
    'not yet valid leaf',
    { chain: [cert({ notBefore: '2026-06-02T00:00:00.000Z' }), root] },
    {
      strict: 'MS_ERR_UPSTREAM_CERT_NOT_YET_VALID',
      balanced: 'MS_ERR_UPSTREAM_CERT_NOT_YET_VALID',
      legacy: 'MS_ERR_UPSTREAM_CERT_NOT_YET_VALID',
    },
  ],
  [
    'OpenSSL: expired (clock disagrees)',
    v({ opensslError: 'CERT_HAS_EXPIRED' }),
    {
      strict: 'MS_ERR_UPSTREAM_CERT_EXPIRED',
      balanced: 'MS_ERR_UPSTREAM_CERT_EXPIRED',
      legacy: 'MS_ERR_UPSTREAM_CERT_EXPIRED',
    },
  ],
  [
    'self-signed',
    v({ opensslError: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    {
      strict: 'MS_ERR_UPSTREAM_CERT_SELF_SIGNED',
      balanced: 'MS_ERR_UPSTREAM_CERT_SELF_SIGNED',
      legacy: 'MS_ERR_UPSTREAM_CERT_SELF_SIGNED',
    },
  ],
  [
    'self-signed, pinned',
    v({ opensslError: 'DEPTH_ZERO_SELF_SIGNED_CERT', expectedPin: 'sha256/LEAF' }),
    { strict: 'ok', balanced: 'ok', legacy: 'ok' },
  ],
  [
    'self-signed, wrong pin',
    v({ opensslError: 'DEPTH_ZERO_SELF_SIGNED_CERT', expectedPin: 'sha256/OTHER' }),
    {
      strict: 'MS_ERR_UPSTREAM_PIN_MISMATCH',
      balanced: 'MS_ERR_UPSTREAM_PIN_MISMATCH',
      legacy: 'MS_ERR_UPSTREAM_PIN_MISMATCH',
    },
  ],
  [
    'trusted but wrong pin',
    v({ expectedPin: 'sha256/OTHER' }),
    {
      strict: 'MS_ERR_UPSTREAM_PIN_MISMATCH',
      balanced: 'MS_ERR_UPSTREAM_PIN_MISMATCH',
      legacy: 'MS_ERR_UPSTREAM_PIN_MISMATCH',
    },
  ],
  [
    'pinned, but wrong host name',
    v({ opensslError: 'DEPTH_ZERO_SELF_SIGNED_CERT', expectedPin: 'sha256/LEAF', hostnameError: 'no' }),
    {
      strict: 'MS_ERR_UPSTREAM_CERT_HOSTNAME',
      balanced: 'MS_ERR_UPSTREAM_CERT_HOSTNAME',
      legacy: 'MS_ERR_UPSTREAM_CERT_HOSTNAME',
    },
  ],
  [
    'untrusted CA',
    v({ opensslError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    {
      strict: 'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
      balanced: 'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
      legacy: 'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
    },
  ],
  [
    'untrusted root in chain',
    v({ opensslError: 'SELF_SIGNED_CERT_IN_CHAIN' }),
    {
      strict: 'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
      balanced: 'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
      legacy: 'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
    },
  ],
  [
    'other OpenSSL error',
    v({ opensslError: 'INVALID_CA' }),
    {
      strict: 'MS_ERR_UPSTREAM_CERT_INVALID',
      balanced: 'MS_ERR_UPSTREAM_CERT_INVALID',
      legacy: 'MS_ERR_UPSTREAM_CERT_INVALID',
    },
  ],
  [
    'wrong host name',
    v({ hostnameError: 'certificate does not name host pop.example.jp' }),
    {
      strict: 'MS_ERR_UPSTREAM_CERT_HOSTNAME',
      balanced: 'MS_ERR_UPSTREAM_CERT_HOSTNAME',
      legacy: 'MS_ERR_UPSTREAM_CERT_HOSTNAME',
    },
  ],
  [
    'no verification recorded (fail closed)',
    { verification: undefined },
    {
      strict: 'MS_ERR_UPSTREAM_CERT_INVALID',
      balanced: 'MS_ERR_UPSTREAM_CERT_INVALID',
      legacy: 'MS_ERR_UPSTREAM_CERT_INVALID',
    },
  ],
  [
    'no certificate',
    { chain: [] },
    {
      strict: 'MS_ERR_UPSTREAM_CERT_INVALID',
      balanced: 'MS_ERR_UPSTREAM_CERT_INVALID',
      legacy: 'MS_ERR_UPSTREAM_CERT_INVALID',
    },
  ],
];

for (const [name, over, expect] of ROWS) {
  test(`evaluateUpstream: ${name}`, () => {
    for (const profile of ['strict', 'balanced', 'legacy'] as const) {
      const ev = evaluateUpstream(facts(over), profile, [], NOW);
      const got = ev.verdict === 'refused' ? ev.findings[0]!.code : ev.verdict;
      assert.equal(got, expect[profile], `${profile}: ${JSON.stringify(ev.findings)}`);
      assert.equal(ev.policy, profile);
      assert.equal(refusalError(ev)?.code ?? null, ev.verdict === 'refused' ? got : null);
    }
  });
}

test('the story: ISP refusal text names the scheme, the policy and the exact exception, ~90 days out', () => {
  const ev = evaluateUpstream(facts(isp), 'strict', [], NOW);
  const f = ev.findings[0]!;
  assert.equal(
    f.message,
    "upstream pop.example.jp:995 signed its key exchange with RSA+SHA1; policy 'strict' requires SHA-256 or better " +
      '(policy.upstream: balanced accepts it with a warning). To accept it for this host only, add to ' +
      'policy.exceptions: {host: pop.example.jp, allow: [sha1-handshake-signature], until: 2026-08-30}',
  );
  assert.deepEqual(f.exceptionHint, { host: 'pop.example.jp', allow: 'sha1-handshake-signature', until: '2026-08-30' });
  const err = refusalError(ev)!;
  assert.equal(err.side, 'upstream');
  assert.match(err.toReplyText(), /\(MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE\)$/);
});

test('exceptions: one relaxation, one host, until a date (inclusive); expired ones are reported, not applied', () => {
  const ex = (
    until: string,
    allow: PolicyException['allow'] = ['sha1-handshake-signature'],
    host = 'pop.example.jp',
  ): PolicyException => ({ host, allow, until });
  const today = evaluateUpstream(facts(isp), 'strict', [ex('2026-06-01')], NOW);
  assert.equal(today.verdict, 'warn');
  assert.deepEqual(today.exceptionsApplied, ['pop.example.jp: sha1-handshake-signature until 2026-06-01']);
  assert.match(today.findings[0]!.message, /accepted for this host by policy\.exceptions/);

  const lapsed = evaluateUpstream(facts(isp), 'strict', [ex('2026-05-31')], NOW);
  assert.equal(lapsed.verdict, 'refused');
  assert.deepEqual(lapsed.exceptionsExpired, ['pop.example.jp: sha1-handshake-signature until 2026-05-31']);
  assert.deepEqual(lapsed.exceptionsApplied, []);
  assert.match(lapsed.findings[0]!.message, /expired on 2026-05-31/);

  // Host matching ignores case and a trailing dot; another host's exception does nothing.
  assert.equal(
    evaluateUpstream(facts(isp), 'strict', [ex('2026-12-31', undefined, 'POP.Example.JP.')], NOW).verdict,
    'warn',
  );
  assert.equal(
    evaluateUpstream(facts(isp), 'strict', [ex('2026-12-31', undefined, 'imap.example.jp')], NOW).verdict,
    'refused',
  );

  // A relaxation only relaxes itself: tls1.0 does not admit a SHA-1 TLS 1.2 signature, nor the reverse.
  assert.equal(evaluateUpstream(facts(isp), 'strict', [ex('2026-12-31', ['tls1.0'])], NOW).verdict, 'refused');
  const tls10 = facts({
    protocol: 'TLSv1',
    cipher: 'ECDHE-RSA-AES256-SHA',
    peerSigningDigest: 'MD5-SHA1',
    peerSignatureType: 'RSA',
  });
  assert.equal(evaluateUpstream(tls10, 'strict', [ex('2026-12-31')], NOW).verdict, 'refused');
  assert.equal(evaluateUpstream(tls10, 'strict', [ex('2026-12-31', ['tls1.1'])], NOW).verdict, 'refused');
  const ok10 = evaluateUpstream(tls10, 'strict', [ex('2026-12-31', ['tls1.0'])], NOW);
  assert.equal(ok10.verdict, 'warn');
  assert.deepEqual(ok10.exceptionsApplied, ['pop.example.jp: tls1.0 until 2026-12-31']);

  // No exception admits a certificate problem.
  const sha1cert = facts({ chain: [cert({ signatureAlgorithm: 'sha1WithRSAEncryption' }), root] });
  assert.equal(
    evaluateUpstream(sha1cert, 'legacy', [ex('2026-12-31', ['sha1-handshake-signature', 'tls1.0', 'tls1.1'])], NOW)
      .verdict,
    'refused',
  );
});

test('exception hint uses the configured name when the host is an address', () => {
  const ev = evaluateUpstream(facts({ ...isp, host: '192.0.2.7', servername: 'pop.example.jp' }), 'strict', [], NOW);
  assert.equal(ev.findings[0]!.exceptionHint?.host, 'pop.example.jp');
  // and an exception naming the server name applies
  const ok = evaluateUpstream(
    facts({ ...isp, host: '192.0.2.7', servername: 'pop.example.jp' }),
    'strict',
    [{ host: 'pop.example.jp', allow: ['sha1-handshake-signature'], until: '2026-07-01' }],
    NOW,
  );
  assert.equal(ok.verdict, 'warn');
});

test('certificate refusals explain themselves: subject, dates, configured name, and the fix', () => {
  const expired = evaluateUpstream(
    facts({ chain: [cert({ notAfter: '2026-05-31T00:00:00.000Z' }), root] }),
    'balanced',
    [],
    NOW,
  );
  assert.match(
    expired.findings[0]!.message,
    /certificate CN=pop\.example\.jp expired on 2026-05-31T00:00:00\.000Z \(valid from 2026-01-01/,
  );
  const host = evaluateUpstream(facts(v({ hostnameError: 'x' })), 'balanced', [], NOW);
  assert.match(
    host.findings[0]!.message,
    /is for DNS:pop\.example\.jp, not the configured name 'pop\.example\.jp'.*upstreamServername/,
  );
  const self = evaluateUpstream(facts(v({ opensslError: 'DEPTH_ZERO_SELF_SIGNED_CERT' })), 'balanced', [], NOW);
  assert.match(self.findings[0]!.message, /set upstreamPin: sha256\/LEAF/);
  const untrusted = evaluateUpstream(
    facts(v({ opensslError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' })),
    'balanced',
    [],
    NOW,
  );
  assert.match(untrusted.findings[0]!.message, /set upstreamCa/);
  const pin = evaluateUpstream(facts(v({ expectedPin: 'sha256/OTHER' })), 'balanced', [], NOW);
  assert.match(
    pin.findings[0]!.message,
    /presented key sha256\/LEAF .* but upstreamPin is sha256\/OTHER.*set upstreamPin: sha256\/LEAF/,
  );
});

test('refusals come before warnings, identity before handshake', () => {
  const ev = evaluateUpstream(facts({ ...isp, ...v({ hostnameError: 'x' }) }), 'balanced', [], NOW);
  assert.deepEqual(
    ev.findings.map((f) => [f.level, f.rule]),
    [
      ['refusal', 'cert-hostname'],
      ['warning', 'handshake-signature-sha1'],
    ],
  );
});

test('helpers: cipher classes and certificate digests', () => {
  assert.deepEqual(classifyCipher('TLS_CHACHA20_POLY1305_SHA256'), { aead: true, forwardSecret: true, broken: false });
  assert.deepEqual(classifyCipher('ECDHE-RSA-AES128-SHA'), { aead: false, forwardSecret: true, broken: false });
  assert.deepEqual(classifyCipher('AES256-GCM-SHA384'), { aead: true, forwardSecret: false, broken: false });
  assert.equal(classifyCipher('ADH-AES128-SHA').broken, true);
  assert.equal(classifyCipher('ECDHE-RSA-RC4-SHA').broken, true);
  assert.equal(certSignatureDigest('sha1WithRSAEncryption'), 'SHA1');
  assert.equal(certSignatureDigest('ecdsa-with-SHA384'), 'SHA384');
  assert.equal(certSignatureDigest('md5WithRSAEncryption'), 'MD5');
  assert.equal(certSignatureDigest('rsassaPss (sha256)'), 'SHA256');
  assert.equal(certSignatureDigest('ED25519'), null);
});
