import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../core/config.js';
import { isShieldError } from '../core/errors.js';
import { needs, run, tmpDir } from '../../test/fixtures/util.js';
import {
  caPermittedNames,
  formatIp,
  parseIp,
  parsePermittedName,
  permittedForm,
  type PermittedName,
} from './ca-names.js';
import { loadOrCreateCa, rotateCa } from '../store/ca-files.js';

const LOOPBACK = ['localhost', '127.0.0.0/8', '::1'];
const now = new Date('2026-03-01T12:00:00Z');

function mode(p: string): number {
  return statSync(p).mode & 0o777;
}

test('caPermittedNames: loopback, listener hosts, extraNames; wildcard listeners and covered names dropped', () => {
  const config = validateConfig(
    {
      accounts: [
        {
          name: 'a',
          protocol: 'pop3',
          listen: '127.0.0.1:1995',
          clientTls: 'implicit',
          upstream: 'x.test:995',
          upstreamTls: 'implicit',
        },
        {
          name: 'b',
          protocol: 'imap',
          listen: '192.168.1.5:1993',
          clientTls: 'implicit',
          upstream: 'x.test:993',
          upstreamTls: 'implicit',
        },
        {
          name: 'c',
          protocol: 'smtp',
          listen: '0.0.0.0:1587',
          clientTls: 'starttls',
          upstream: 'x.test:587',
          upstreamTls: 'starttls',
        },
        {
          name: 'd',
          protocol: 'smtp',
          listen: '[fd00::5]:1588',
          clientTls: 'starttls',
          upstream: 'x.test:587',
          upstreamTls: 'starttls',
        },
        {
          name: 'e',
          protocol: 'pop3',
          listen: 'mail.lan:1110',
          clientTls: 'none',
          upstream: 'x.test:995',
          upstreamTls: 'implicit',
        },
      ],
      ca: { extraNames: ['Gateway.Home.', '10.1.0.0/16', 'imap.mail.lan'] },
    },
    'test.yaml',
  );
  assert.deepEqual(caPermittedNames(config), [
    'localhost',
    '127.0.0.0/8',
    '::1',
    '192.168.1.5',
    'fd00::5',
    'mail.lan',
    'gateway.home',
    '10.1.0.0/16',
  ]);
  assert.deepEqual(caPermittedNames(validateConfig({}, 'empty.yaml')), LOOPBACK);
});

test('permitted names: parsing rejects wildcards and bad prefixes, masks host bits', () => {
  assert.deepEqual(parsePermittedName('10.1.2.3/16'), {
    kind: 'ip',
    family: 4,
    bytes: Uint8Array.from([10, 1, 0, 0]),
    prefix: 16,
  });
  for (const bad of ['*.lan', '.lan', '10.0.0.0/33', '::1/129', 'a b', 'host/8', ''])
    assert.throws(
      () => parsePermittedName(bad),
      (e: unknown) => isShieldError(e) && e.code === 'MS_ERR_CONFIG_INVALID',
      bad,
    );
});

test('permittedForm: DNS names equal or below a permitted name, IPs inside a network', () => {
  const p: PermittedName[] = ['localhost', '127.0.0.0/8', '::1', 'mail.lan', '192.168.1.5'].map(parsePermittedName);
  assert.equal(permittedForm('LOCALHOST.', p), 'localhost');
  assert.equal(permittedForm('a.b.localhost', p), 'a.b.localhost');
  assert.equal(permittedForm('evillocalhost', p), null, 'a suffix is not a subdomain');
  assert.equal(permittedForm('localhost.example.com', p), null);
  assert.equal(permittedForm('example.com', p), null);
  assert.equal(permittedForm('127.8.9.10', p), '127.8.9.10');
  assert.equal(permittedForm('128.0.0.1', p), null);
  assert.equal(permittedForm('::ffff:127.0.0.1', p), '127.0.0.1', 'IPv4-mapped is IPv4');
  assert.equal(permittedForm('[0:0:0:0:0:0:0:1]', p), '::1');
  assert.equal(permittedForm('::2', p), null);
  assert.equal(permittedForm('192.168.1.5', p), '192.168.1.5');
  assert.equal(permittedForm('192.168.1.6', p), null);
  assert.equal(permittedForm('imap.mail.lan', p), 'imap.mail.lan');
  assert.equal(formatIp(parseIp('fd00:0:0::1:0')!), 'fd00::1:0');
  assert.equal(formatIp(parseIp('::ffff:10.0.0.1')!), '10.0.0.1');
});

test('CA files: folder 0700, key 0600, cert 0644; reused across loads', async () => {
  const dataDir = join(tmpDir(), 'data');
  const a = await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  assert.equal(a.created, true);
  assert.equal(a.dir, join(dataDir, 'ca'));
  assert.equal(mode(a.dir), 0o700);
  assert.equal(mode(a.keyPath), 0o600);
  assert.equal(mode(a.certPath), 0o644);
  assert.match(readFileSync(a.keyPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);

  const b = await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now: new Date(now.getTime() + 86400_000) });
  assert.equal(b.created, false);
  assert.equal(b.fingerprint256, a.fingerprint256);
  assert.equal(b.certPem, a.certPem);
  assert.deepEqual(b.uncovered, []);

  // Loosened modes (a restore from backup) are tightened again on load.
  const { chmodSync } = await import('node:fs');
  chmodSync(a.keyPath, 0o644);
  chmodSync(a.dir, 0o755);
  await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  assert.equal(mode(a.keyPath), 0o600);
  assert.equal(mode(a.dir), 0o700);
});

test('CA subject is unique per install', async () => {
  const a = await loadOrCreateCa({ dataDir: tmpDir(), permittedNames: LOOPBACK, now });
  const b = await loadOrCreateCa({ dataDir: tmpDir(), permittedNames: LOOPBACK, now });
  assert.match(a.subject, /^CN=mailshield local CA \S+ [0-9a-f]{8}, O=mailshield$/);
  assert.notEqual(a.subject, b.subject);
  assert.notEqual(a.fingerprint256, b.fingerprint256);
});

test(
  'CA certificate as openssl reads it: critical name constraints, CA:TRUE pathlen 0, key usage, validity',
  needs('openssl'),
  async () => {
    const ca = await loadOrCreateCa({
      dataDir: tmpDir(),
      permittedNames: [...LOOPBACK, '192.168.1.5', 'mail.lan', 'fd00::/8'],
      now,
    });
    const text = run('openssl', ['x509', '-in', ca.certPath, '-noout', '-text']);
    const nc = /X509v3 Name Constraints: critical\n\s+Permitted:\n((?:\s+(?:DNS|IP):.*\n)+)/.exec(text);
    assert.ok(nc, `no critical name constraints in:\n${text}`);
    assert.deepEqual(nc[1]!.trim().split(/\n\s+/), [
      'DNS:localhost',
      'IP:127.0.0.0/255.0.0.0',
      'IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF',
      'IP:192.168.1.5/255.255.255.255',
      'DNS:mail.lan',
      'IP:FD00:0:0:0:0:0:0:0/FF00:0:0:0:0:0:0:0',
    ]);
    assert.doesNotMatch(text, /Excluded:/);
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.match(text, /X509v3 Subject Key Identifier/);
    assert.match(text, /Not Before: Feb 28 12:00:00 2026 GMT/, 'backdated one day');
    assert.match(text, /Not After : Feb 2[67] 12:00:00 2036 GMT/, 'about ten years');
    // The self-signature is good: openssl accepts the CA as its own anchor.
    assert.match(
      run('openssl', ['verify', '-CAfile', ca.certPath, '-attime', String(now.getTime() / 1000), ca.certPath]),
      /OK/,
    );
  },
);

test('a CA made for fewer names is reused, and reports the names it does not cover', async () => {
  const dataDir = tmpDir();
  const a = await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  const b = await loadOrCreateCa({
    dataDir,
    permittedNames: [...LOOPBACK, '127.0.0.9', '192.168.7.7', 'mail.lan'],
    now,
  });
  assert.equal(b.fingerprint256, a.fingerprint256);
  assert.deepEqual(b.uncovered, ['192.168.7.7', 'mail.lan']);
});

test('rotate: a new CA, the old files moved aside with a timestamp and their modes kept', async () => {
  const dataDir = tmpDir();
  const a = await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  const b = await rotateCa({ dataDir, permittedNames: [...LOOPBACK, 'mail.lan'], now });
  assert.notEqual(b.fingerprint256, a.fingerprint256);
  assert.equal(b.created, true);
  assert.deepEqual(b.retired.sort(), [
    `${a.keyPath}.retired-20260301T120000Z`,
    `${a.certPath}.retired-20260301T120000Z`,
  ]);
  assert.equal(readFileSync(`${a.certPath}.retired-20260301T120000Z`, 'utf8'), a.certPem);
  assert.equal(mode(`${a.keyPath}.retired-20260301T120000Z`), 0o600);
  assert.equal(mode(b.keyPath), 0o600);
  assert.deepEqual(b.uncovered, []);
  // A second rotation in the same second keeps both retired generations.
  await rotateCa({ dataDir, permittedNames: LOOPBACK, now });
  assert.equal(readdirSync(b.dir).filter((f) => f.startsWith('ca.key.retired-')).length, 2);
  const c = await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  assert.equal(c.created, false);
  assert.notEqual(c.fingerprint256, b.fingerprint256);
});

test('half a CA (key lost) is moved aside and replaced; a key that does not match is refused', async () => {
  const dataDir = tmpDir();
  const a = await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  unlinkSync(a.keyPath);
  const b = await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  assert.equal(b.created, true);
  assert.notEqual(b.fingerprint256, a.fingerprint256);
  assert.ok(existsSync(`${a.certPath}.retired-20260301T120000Z`));

  const other = await loadOrCreateCa({ dataDir: tmpDir(), permittedNames: LOOPBACK, now });
  writeFileSync(b.keyPath, readFileSync(other.keyPath));
  await assert.rejects(
    loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now }),
    (e: unknown) =>
      isShieldError(e) && e.code === 'MS_ERR_CA' && /is not the key of/.test(e.message) && /ca rotate/.test(e.message),
  );
});

test('an expired CA is refused with the fix', async () => {
  const dataDir = tmpDir();
  await loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now });
  await assert.rejects(
    loadOrCreateCa({ dataDir, permittedNames: LOOPBACK, now: new Date('2037-01-01T00:00:00Z') }),
    (e: unknown) => isShieldError(e) && e.code === 'MS_ERR_CA' && /expired/.test(e.message),
  );
});
