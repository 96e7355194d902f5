import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientPolicyName } from '../core/config.js';
import type { ClientHelloInfo } from '../core/tls-facts.js';
import {
  CLIENT_PROFILES,
  effectiveClientProfile,
  evaluateClientHello,
  isWeakSignatureScheme,
  type ContextKind,
} from './client-policy.js';
import { humanProtocol } from './names.js';
import { isLoopbackHost } from '../core/hosts.js';

function info(over: Partial<ClientHelloInfo>): ClientHelloInfo {
  return {
    legacyVersion: 'TLSv1.2',
    versions: ['TLSv1.3', 'TLSv1.2'],
    cipherSuites: [0x1301, 0xc02f],
    cipherSuiteNames: ['TLS_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
    signatureAlgorithms: ['ecdsa_secp256r1_sha256', 'rsa_pss_rsae_sha256', 'rsa_pkcs1_sha256', 'rsa_pkcs1_sha1'],
    groups: ['x25519', 'secp256r1'],
    sni: 'mail.test',
    alpn: [],
    ...over,
  };
}

/** What SChannel on Windows 7 sends by default: TLS 1.0, CBC-SHA suites, no signature_algorithms. */
const win7 = info({
  legacyVersion: 'TLSv1',
  versions: ['TLSv1'],
  cipherSuites: [0xc014, 0xc013, 0x0035, 0x002f, 0x000a],
  cipherSuiteNames: [],
  signatureAlgorithms: [],
});
const modern = info({});
const tls11 = info({
  legacyVersion: 'TLSv1.1',
  versions: ['TLSv1.1', 'TLSv1'],
  cipherSuites: [0xc013, 0x002f],
  signatureAlgorithms: [],
});
/** A TLS 1.2 client offering only SHA-1 schemes (openssl s_client -sigalgs RSA+SHA1). */
const sha1Only = info({ versions: ['TLSv1.2'], cipherSuites: [0xc02f], signatureAlgorithms: ['rsa_pkcs1_sha1'] });
/** TLS 1.2 without the extension means SHA-1 (RFC 5246 §7.4.1.4.1). */
const noSigalgs12 = info({
  versions: ['TLSv1.2', 'TLSv1.1', 'TLSv1'],
  cipherSuites: [0xc02f],
  signatureAlgorithms: [],
});
const rc4Only = info({ versions: ['TLSv1.2'], cipherSuites: [0x0005, 0xc011] });
/** TLS 1.2 with CBC-SHA1 and static-RSA suites only (AES128-SHA, ECDHE-RSA-AES128-SHA, AES128-GCM-SHA256). */
const noFsAead12 = info({ versions: ['TLSv1.2'], cipherSuites: [0x002f, 0xc013, 0x009c, 0x003d] });
const cbcSha256Tls10 = info({
  legacyVersion: 'TLSv1',
  versions: ['TLSv1'],
  cipherSuites: [0xc027],
  signatureAlgorithms: [],
});

type Row = [string, ClientHelloInfo, ClientPolicyName, string, 'ok' | string, ContextKind?, string?];

const LOOP = '127.0.0.1:1995';
const LAN = '0.0.0.0:1995';

// client, policy, listener -> refusal code or ok with context and effective policy
const TABLE: Row[] = [
  ['win7', win7, 'auto', LOOP, 'ok', 'legacy', 'legacy'],
  ['win7', win7, 'auto', '[::1]:1995', 'ok', 'legacy', 'legacy'],
  ['win7', win7, 'auto', 'localhost:1995', 'ok', 'legacy', 'legacy'],
  ['win7', win7, 'auto', LAN, 'MS_ERR_CLIENT_TLS_VERSION', undefined, 'balanced'],
  ['win7', win7, 'auto', '192.168.1.5:1995', 'MS_ERR_CLIENT_TLS_VERSION', undefined, 'balanced'],
  ['win7', win7, 'strict', LOOP, 'MS_ERR_CLIENT_TLS_VERSION', undefined, 'strict'],
  ['win7', win7, 'balanced', LOOP, 'MS_ERR_CLIENT_TLS_VERSION', undefined, 'balanced'],
  ['win7', win7, 'legacy', LAN, 'ok', 'legacy', 'legacy'],
  ['tls11', tls11, 'strict', LOOP, 'MS_ERR_CLIENT_TLS_VERSION'],
  ['tls11', tls11, 'legacy', LOOP, 'ok', 'legacy'],
  ['modern', modern, 'strict', LAN, 'ok', 'strict', 'strict'],
  ['noFsAead12', noFsAead12, 'strict', LOOP, 'MS_ERR_CLIENT_TLS_CIPHERS', undefined, 'strict'],
  ['noFsAead12', noFsAead12, 'balanced', LOOP, 'ok', 'modern', 'balanced'],
  ['modern', modern, 'balanced', LAN, 'ok', 'modern'],
  ['modern', modern, 'legacy', LOOP, 'ok', 'modern'],
  ['modern', modern, 'auto', LOOP, 'ok', 'modern', 'legacy'],
  ['modern', modern, 'auto', LAN, 'ok', 'modern', 'balanced'],
  ['sha1Only', sha1Only, 'strict', LOOP, 'MS_ERR_CLIENT_TLS_SIGALGS'],
  ['sha1Only', sha1Only, 'balanced', LAN, 'ok', 'legacy', 'balanced'],
  ['sha1Only', sha1Only, 'auto', LAN, 'ok', 'legacy', 'balanced'],
  ['sha1Only', sha1Only, 'legacy', LOOP, 'ok', 'legacy'],
  ['noSigalgs12', noSigalgs12, 'strict', LOOP, 'MS_ERR_CLIENT_TLS_SIGALGS'],
  ['noSigalgs12', noSigalgs12, 'balanced', LOOP, 'ok', 'legacy'],
  ['rc4Only', rc4Only, 'legacy', LOOP, 'MS_ERR_CLIENT_TLS_CIPHERS'],
  ['rc4Only', rc4Only, 'strict', LOOP, 'MS_ERR_CLIENT_TLS_CIPHERS'],
  // A TLS 1.2-only suite is no use to a TLS 1.0 client.
  ['cbcSha256Tls10', cbcSha256Tls10, 'legacy', LOOP, 'MS_ERR_CLIENT_TLS_CIPHERS'],
];

describe('evaluateClientHello table', () => {
  for (const [name, hello, policy, listen, want, context, effective] of TABLE) {
    it(`${name} / ${policy} / ${listen} -> ${want}`, () => {
      const d = evaluateClientHello(hello, policy, listen);
      if (want === 'ok') {
        assert.equal(d.ok, true, d.refusal?.message);
        assert.equal(d.refusal, undefined);
        assert.equal(d.context, context);
      } else {
        assert.equal(d.ok, false);
        assert.equal(d.refusal?.code, want);
        assert.equal(d.refusal?.side, 'client');
      }
      if (effective) assert.equal(d.policy, effective);
    });
  }
});

describe('refusal text', () => {
  it('names the version, the listener and the setting (the story example)', () => {
    const d = evaluateClientHello(win7, 'strict', '0.0.0.0:1995');
    assert.ok(d.refusal);
    assert.match(
      d.refusal.message,
      /^client offered only TLS 1\.0; listener 0\.0\.0\.0:1995 requires TLS 1\.2 \(policy\.client: strict\)/,
    );
    assert.match(d.refusal.message, /set policy\.client: legacy, or auto on a loopback listener/);
    assert.equal(d.refusal.required, 'TLS 1.2 or newer');
    assert.match(d.refusal.offered ?? '', /versions TLS 1\.0; .*no signature_algorithms extension; SNI mail\.test/);
  });

  it('says how auto resolved on a non-loopback listener', () => {
    const d = evaluateClientHello(win7, 'auto', '192.168.1.5:995');
    assert.match(
      d.refusal?.message ?? '',
      /requires TLS 1\.2 \(policy\.client: auto, which is balanced on 192\.168\.1\.5:995\)/,
    );
  });

  it('offers "or auto" on a loopback listener', () => {
    const d = evaluateClientHello(win7, 'strict', LOOP);
    assert.match(d.refusal?.message ?? '', /set policy\.client: legacy or auto;/);
  });

  it('lists the SHA-1 schemes a client offered', () => {
    const d = evaluateClientHello(sha1Only, 'strict', LOOP);
    assert.match(d.refusal?.message ?? '', /only SHA-1\/MD5 handshake signature algorithms \(rsa_pkcs1_sha1\)/);
    assert.match(d.refusal?.message ?? '', /requires SHA-256 or better \(policy\.client: strict\)/);
    assert.match(d.refusal?.message ?? '', /set policy\.client: balanced, legacy or auto/);
    const n = evaluateClientHello(noSigalgs12, 'strict', LOOP);
    assert.match(n.refusal?.message ?? '', /no signature_algorithms, which means SHA-1 in TLS 1\.2/);
  });

  it('records a warning when it accepts weak handshake signatures', () => {
    assert.match(evaluateClientHello(win7, 'auto', LOOP).warnings.join(), /TLS 1\.0 with MD5\+SHA1/);
    assert.match(evaluateClientHello(sha1Only, 'balanced', LOOP).warnings.join(), /only SHA-1\/MD5/);
    assert.deepEqual(evaluateClientHello(modern, 'strict', LOOP).warnings, []);
  });

  it('carries the profile minimum version', () => {
    assert.equal(evaluateClientHello(win7, 'auto', LOOP).minVersion, 'TLSv1');
    assert.equal(evaluateClientHello(sha1Only, 'balanced', LOOP).minVersion, 'TLSv1.2');
  });
});

describe('helpers', () => {
  it('isLoopbackHost', () => {
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      'localhost',
      'LOCALHOST',
      'localhost.',
      'a.localhost',
      '::ffff:127.0.0.1',
      '0:0:0:0:0:0:0:1',
    ]) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of [
      '0.0.0.0',
      '::',
      '192.168.1.5',
      '10.0.0.1',
      '128.0.0.1',
      'mail.test',
      'localhost.evil.com',
      '::2',
      '::ffff:10.0.0.1',
      '',
    ]) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });

  it('effectiveClientProfile resolves auto by listener', () => {
    assert.equal(effectiveClientProfile('auto', '127.0.0.1:995').name, 'legacy');
    assert.equal(effectiveClientProfile('auto', '[::1]:995').name, 'legacy');
    assert.equal(effectiveClientProfile('auto', '[2001:db8::1]:995').name, 'balanced');
    assert.equal(effectiveClientProfile('auto', '0.0.0.0:995').name, 'balanced');
    assert.equal(effectiveClientProfile('strict', '127.0.0.1:995').name, 'strict');
  });

  it('profiles are documented data', () => {
    for (const p of Object.values(CLIENT_PROFILES)) assert.ok(p.meaning.length > 20, p.name);
    assert.equal(CLIENT_PROFILES.strict.weakHandshakeSignatures, false);
    assert.equal(CLIENT_PROFILES.legacy.minVersion, 'TLSv1');
  });

  it('isWeakSignatureScheme and humanProtocol', () => {
    for (const s of ['rsa_pkcs1_sha1', 'ecdsa_sha1', 'dsa_sha1', 'rsa_pkcs1_md5'])
      assert.equal(isWeakSignatureScheme(s), true, s);
    for (const s of ['rsa_pkcs1_sha256', 'rsa_pss_rsae_sha256', 'ed25519', 'ecdsa_secp521r1_sha512']) {
      assert.equal(isWeakSignatureScheme(s), false, s);
    }
    assert.equal(humanProtocol('TLSv1'), 'TLS 1.0');
    assert.equal(humanProtocol('TLSv1.3'), 'TLS 1.3');
  });
});
