import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnoseChain, isMailshieldCaName } from './chain-diagnosis.js';
import type { CertSummary } from '../core/tls-facts.js';

function cert(over: Partial<CertSummary>): CertSummary {
  return {
    subject: 'CN=mail.test',
    issuer: 'CN=Issuer',
    signatureAlgorithm: 'sha256WithRSAEncryption',
    keyType: 'RSA',
    keyBits: 2048,
    notBefore: '2024-01-01T00:00:00.000Z',
    notAfter: '2034-01-01T00:00:00.000Z',
    sans: ['DNS:mail.test'],
    selfSigned: false,
    fingerprint256: 'AA',
    spkiSha256: 'x',
    version: 3,
    basicConstraintsCa: false,
    extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
    caIssuers: [],
    ...over,
  };
}
const root = cert({ subject: 'CN=Root', issuer: 'CN=Root', selfSigned: true, basicConstraintsCa: null, version: 1 });

test('a self-signed anchor is never blamed, whatever its version or extensions', () => {
  assert.equal(diagnoseChain([cert({}), root], 'INVALID_PURPOSE', 'h:1'), null);
});

test('anyExtendedKeyUsage and a missing EKU are fine; clientAuth and emailProtection are not', () => {
  assert.equal(diagnoseChain([cert({ extKeyUsage: null })], 'INVALID_PURPOSE', 'h:1'), null);
  assert.equal(diagnoseChain([cert({ extKeyUsage: ['2.5.29.37.0'] })], 'INVALID_PURPOSE', 'h:1'), null);
  const d = diagnoseChain(
    [cert({ extKeyUsage: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4'] })],
    'INVALID_PURPOSE',
    'h:1',
  );
  assert.equal(d?.code, 'MS_ERR_UPSTREAM_CERT_PURPOSE');
  assert.match(d?.message ?? '', /allows clientAuth, emailProtection, not serverAuth/);
});

test('an intermediate without basicConstraints is named as not a CA', () => {
  const d = diagnoseChain([cert({}), cert({ subject: 'CN=Int', basicConstraintsCa: null }), root], 'INVALID_CA', 'h:1');
  assert.equal(d?.rule, 'cert-intermediate-not-ca');
  assert.match(
    d?.message ?? '',
    /chain certificate #1 \(CN=Int\) issued CN=mail\.test but is not a CA: it has no basicConstraints/,
  );
});

test('missing issuer: an intermediate is expected from AIA or its name; otherwise the generic trust text', () => {
  assert.equal(diagnoseChain([cert({})], 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'h:1'), null);
  const byName = diagnoseChain(
    [cert({ issuer: 'CN=Example TLS Issuing CA 2' })],
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'h:1',
  );
  assert.equal(byName?.code, 'MS_ERR_UPSTREAM_CERT_INCOMPLETE_CHAIN');
  const byAia = diagnoseChain([cert({ caIssuers: ['http://x.test/i.crt'] })], 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'h:1');
  assert.match(byAia?.message ?? '', /published at http:\/\/x\.test\/i\.crt/);
  // A self-signed top is a different problem (an unknown root or a self-signed server).
  assert.equal(diagnoseChain([cert({}), root], 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'h:1'), null);
});

test('mailshield CA names: ours (any host), never a look-alike', () => {
  assert.ok(isMailshieldCaName('CN=mailshield local CA box 1a2b3c4d, O=mailshield'));
  assert.ok(!isMailshieldCaName('CN=mailshield Test CA'));
  assert.ok(!isMailshieldCaName('CN=mailshield local CA x, O=Evil mailshield fans'));
  const d = diagnoseChain(
    [cert({ issuer: 'CN=mailshield local CA box 1a2b3c4d, O=mailshield' })],
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'h:1',
  );
  assert.equal(d?.code, 'MS_ERR_UPSTREAM_CERT_SHIELD_LOOP');
});
