import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyException } from '../core/config.js';
import { evaluateClientHello } from './client-policy.js';
import type { ClientHelloInfo } from '../core/tls-facts.js';
import { clientFingerprint, shadowClient, shadowUpstream } from './shadow-policy.js';
import { evaluateUpstream, type UpstreamFactsInput } from './upstream-policy.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const LISTEN = '127.0.0.1:1995';

function hello(over: Partial<ClientHelloInfo>): ClientHelloInfo {
  return {
    legacyVersion: 'TLSv1.2',
    versions: ['TLSv1.3', 'TLSv1.2'],
    cipherSuites: [0x1301, 0xc02f],
    cipherSuiteNames: ['TLS_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
    signatureAlgorithms: ['ecdsa_secp256r1_sha256', 'rsa_pss_rsae_sha256'],
    groups: ['x25519'],
    sni: 'mail.test',
    alpn: [],
    ...over,
  };
}
const win7 = hello({
  legacyVersion: 'TLSv1',
  versions: ['TLSv1'],
  cipherSuites: [0xc014, 0x002f],
  cipherSuiteNames: ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'TLS_RSA_WITH_AES_128_CBC_SHA'],
  signatureAlgorithms: [],
});

function upstream(over: Partial<UpstreamFactsInput> = {}): UpstreamFactsInput {
  return {
    host: 'pop.isp.example',
    port: 995,
    servername: 'pop.isp.example',
    protocol: 'TLSv1.2',
    cipher: 'ECDHE-RSA-AES256-GCM-SHA384',
    peerSigningDigest: 'SHA1',
    peerSignatureType: 'RSA',
    serverTempKey: 'ECDH, prime256v1, 256 bits',
    chain: [
      {
        subject: 'CN=pop.isp.example',
        issuer: 'CN=CA',
        signatureAlgorithm: 'sha256WithRSAEncryption',
        keyType: 'RSA',
        keyBits: 2048,
        notBefore: '2026-01-01T00:00:00.000Z',
        notAfter: '2027-01-01T00:00:00.000Z',
        sans: ['DNS:pop.isp.example'],
        selfSigned: false,
        fingerprint256: 'AA',
        spkiSha256: 'x',
      },
    ],
    verification: { opensslError: null, hostnameError: null, leafPin: 'sha256/L', expectedPin: null },
    ...over,
  };
}

describe('shadow judgement, client leg', () => {
  it('a Windows 7 client accepted under auto on loopback would be refused by strict, with the listener explanation', () => {
    const inForce = evaluateClientHello(win7, 'auto', LISTEN);
    assert.equal(inForce.ok, true);
    const w = shadowClient(win7, inForce, 'strict', LISTEN);
    assert.ok(w);
    const direct = evaluateClientHello(win7, 'strict', LISTEN).refusal!;
    assert.equal(w.explanation, direct.message, 'the same words the listener would have used');
    assert.equal(w.code, 'MS_ERR_CLIENT_TLS_VERSION');
    assert.equal(w.policy, 'legacy');
    assert.equal(w.candidate, 'strict');
    assert.match(w.admit ?? '', /policy\.client: legacy/);
    assert.match(w.peerLabel, /versions TLS 1\.0/);
    assert.doesNotMatch(w.peerLabel, /SNI/);
    assert.equal(w.peer, clientFingerprint(win7));
  });

  it('a modern client, no candidate, or a hello already refused give nothing', () => {
    const m = hello({});
    assert.equal(shadowClient(m, evaluateClientHello(m, 'auto', LISTEN), 'strict', LISTEN), null);
    assert.equal(shadowClient(win7, evaluateClientHello(win7, 'auto', LISTEN), undefined, LISTEN), null);
    const refused = evaluateClientHello(win7, 'strict', LISTEN);
    assert.equal(shadowClient(win7, refused, 'strict', LISTEN), null);
  });

  it('the fingerprint ignores SNI and ALPN but not the offer', () => {
    assert.equal(clientFingerprint(win7), clientFingerprint({ ...win7, sni: 'other', alpn: ['imap'] }));
    assert.notEqual(clientFingerprint(win7), clientFingerprint({ ...win7, signatureAlgorithms: ['rsa_pkcs1_sha1'] }));
  });
});

describe('shadow judgement, upstream leg', () => {
  it('the ISP accepted by balanced would be refused by strict, with the exception it would need', () => {
    const f = upstream();
    const inForce = evaluateUpstream(f, 'balanced', [], NOW);
    assert.equal(inForce.verdict, 'warn');
    const w = shadowUpstream(f, inForce, 'strict', [], NOW);
    assert.ok(w);
    assert.equal(w.explanation, evaluateUpstream(f, 'strict', [], NOW).findings[0]!.message);
    assert.equal(w.rule, 'handshake-signature-sha1');
    assert.equal(w.code, 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE');
    assert.equal(
      w.admit,
      'policy.exceptions: {host: pop.isp.example, allow: [sha1-handshake-signature], until: 2026-08-30}',
    );
    assert.equal(w.peer, 'pop.isp.example:995');
  });

  it('an exception that covers the host under the candidate too means no event; so do modern servers', () => {
    const f = upstream();
    const ex: PolicyException[] = [
      { host: 'pop.isp.example', allow: ['sha1-handshake-signature'], until: '2026-07-01' },
    ];
    assert.equal(shadowUpstream(f, evaluateUpstream(f, 'balanced', ex, NOW), 'strict', ex, NOW), null);
    const modern = upstream({
      protocol: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      peerSigningDigest: 'SHA256',
      peerSignatureType: 'RSA-PSS',
    });
    assert.equal(shadowUpstream(modern, evaluateUpstream(modern, 'balanced', [], NOW), 'strict', [], NOW), null);
  });

  it('a handshake the policy in force refused, or no candidate, gives nothing', () => {
    const f = upstream();
    assert.equal(shadowUpstream(f, evaluateUpstream(f, 'strict', [], NOW), 'strict', [], NOW), null);
    assert.equal(shadowUpstream(f, evaluateUpstream(f, 'balanced', [], NOW), undefined, [], NOW), null);
  });
});
