import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { testPki } from '../../test/fixtures/pki.js';
import { needs, run } from '../../test/fixtures/util.js';
import { hostnameMismatch, spkiPin, summarizeCert } from './cert-check.js';

const opts = needs('openssl');
const der = (path: string) => new X509Certificate(readFileSync(path)).raw;

/** What `openssl x509 -text` says, to check our names against the tool users compare with. */
function opensslText(path: string): string {
  return run('openssl', ['x509', '-in', path, '-noout', '-text']);
}

test('summaries name signature algorithms, keys and validity as openssl does', opts, () => {
  const pki = testPki();
  for (const kind of ['rsa', 'ec', 'sha1', 'rsa1024', 'selfsigned', 'untrusted'] as const) {
    const s = summarizeCert(der(pki.crt[kind]));
    const text = opensslText(pki.crt[kind]);
    const sig = /Signature Algorithm: (\S+)/.exec(text)![1]!;
    assert.equal(s.signatureAlgorithm, sig, kind);
    const bits = Number(/Public-Key: \((\d+) bit\)/.exec(text)![1]);
    assert.equal(s.keyBits, bits, kind);
  }
  const rsa = summarizeCert(der(pki.crt.rsa));
  assert.deepEqual(
    [rsa.subject, rsa.issuer, rsa.keyType, rsa.selfSigned],
    ['CN=mail.test', 'CN=mailshield Test CA', 'RSA', false],
  );
  assert.deepEqual(rsa.sans, ['DNS:mail.test', 'DNS:localhost', 'IP:127.0.0.1']);
  const ec = summarizeCert(der(pki.crt.ec));
  assert.deepEqual([ec.keyType, ec.keyBits, ec.curve], ['EC', 256, 'prime256v1']);
  assert.equal(summarizeCert(der(pki.crt.sha1)).signatureAlgorithm, 'sha1WithRSAEncryption');
  assert.equal(summarizeCert(der(pki.crt.selfsigned)).selfSigned, true);
  assert.equal(summarizeCert(der(pki.caCert)).selfSigned, true);
  const expired = summarizeCert(der(pki.crt.expired));
  assert.deepEqual([expired.notBefore, expired.notAfter], ['2020-01-01T00:00:00.000Z', '2021-01-01T00:00:00.000Z']);
  assert.match(rsa.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test('spkiPin equals the pin openssl computes (the documented way to get one)', opts, () => {
  const pki = testPki();
  for (const kind of ['rsa', 'ec', 'selfsigned'] as const) {
    const b64 = run('sh', [
      '-c',
      `openssl x509 -in '${pki.crt[kind]}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`,
    ]).trim();
    assert.equal(spkiPin(der(pki.crt[kind])), `sha256/${b64}`);
    assert.equal(summarizeCert(der(pki.crt[kind])).spkiSha256, b64);
  }
});

test('hostname check: DNS names (any case), IP addresses, never a name the certificate lacks', opts, () => {
  const pki = testPki();
  const rsa = der(pki.crt.rsa);
  assert.equal(hostnameMismatch(rsa, 'mail.test'), null);
  assert.equal(hostnameMismatch(rsa, 'MAIL.TEST'), null);
  assert.equal(hostnameMismatch(rsa, '127.0.0.1'), null);
  assert.match(hostnameMismatch(rsa, 'other.test') ?? '', /does not name host other\.test/);
  assert.match(hostnameMismatch(rsa, '127.0.0.2') ?? '', /IP address 127\.0\.0\.2/);
  // wronghost has CN=other.test and SAN other.test only.
  const wrong = der(pki.crt.wronghost);
  assert.notEqual(hostnameMismatch(wrong, 'mail.test'), null);
  assert.equal(hostnameMismatch(wrong, 'other.test'), null);
});
