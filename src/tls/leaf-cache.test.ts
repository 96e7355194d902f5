import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { isShieldError } from '../core/errors.js';
import { freePort, needs, run, tmpDir } from '../../test/fixtures/util.js';
import { loadOrCreateCa } from '../store/ca-files.js';
import type { LocalCa } from './ca.js';
import { generateLeafKeys, issueLeafCert, LeafCache } from './leaf-cache.js';

const LOOPBACK = ['localhost', '127.0.0.0/8', '::1'];

let caPromise: Promise<LocalCa> | undefined;
/** One CA for the file: RSA generation is the slow part, and every test here only reads it. */
function sharedCa(): Promise<LocalCa> {
  caPromise ??= loadOrCreateCa({ dataDir: tmpDir(), permittedNames: [...LOOPBACK, 'mail.lan'], now: new Date() });
  return caPromise;
}

function sans(pem: string): string[] {
  const alt = new X509Certificate(pem).subjectAltName ?? '';
  return alt.split(', ').filter(Boolean);
}

function spki(pem: string): string {
  return new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

/** Runs a command without blocking the loop (the TLS server under test lives in this process). */
function runAsync(cmd: string, args: string[], input = ''): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    // openssl verify never reads stdin and may exit first; its EPIPE is not a test failure.
    p.stdin.on('error', () => {});
    p.stdin.end(input);
  });
}

test('SANs are only the requested names inside the constraints; CN is the first DNS name', async () => {
  const cache = await LeafCache.create(await sharedCa());
  const pair = await cache.get(['127.0.0.1', 'LocalHost', 'example.com', 'imap.mail.lan', '::ffff:127.0.0.1', '::1']);
  assert.equal(pair.keys.length, 2);
  assert.equal(pair.certs.length, 2);
  for (const pem of pair.certs) {
    assert.deepEqual(sans(pem), [
      'IP Address:127.0.0.1',
      'DNS:localhost',
      'DNS:imap.mail.lan',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    const c = new X509Certificate(pem);
    assert.match(c.subject, /^CN=localhost\nO=mailshield$/);
    assert.equal(c.ca, false);
  }
  assert.equal(new X509Certificate(pair.certs[0]!).publicKey.asymmetricKeyType, 'rsa');
  assert.equal(new X509Certificate(pair.certs[1]!).publicKey.asymmetricKeyType, 'ec');
  assert.equal(
    createPublicKey(pair.keys[0]!).export({ type: 'spki', format: 'der' }).toString('base64'),
    spki(pair.certs[0]!),
  );
  assert.equal(
    createPublicKey(pair.keys[1]!).export({ type: 'spki', format: 'der' }).toString('base64'),
    spki(pair.certs[1]!),
  );

  await assert.rejects(
    cache.get(['example.com', '8.8.8.8']),
    (e: unknown) =>
      isShieldError(e) && e.code === 'MS_ERR_CA' && /example\.com/.test(e.message) && /extraNames/.test(e.message),
  );
});

test(
  'openssl: leaves verify against the CA, and a leaf forced outside the constraints fails them',
  needs('openssl'),
  async () => {
    const ca = await sharedCa();
    const dir = tmpDir();
    const cache = await LeafCache.create(ca);
    const ok = await cache.get(['localhost', '127.0.0.1']);
    const ipOnly = await cache.get(['127.0.0.1']);
    const now = new Date();
    const forced = await issueLeafCert(
      ca,
      cache.keys.ec,
      ['example.com', 'localhost'],
      new Date(now.getTime() - 60_000),
      new Date(now.getTime() + 3600_000),
    );
    const files = { rsa: ok.certs[0]!, ec: ok.certs[1]!, iponly: ipOnly.certs[1]!, forced: forced.toString('pem') };
    for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, `${name}.pem`), pem);
    const verify = (name: string) =>
      runAsync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', ca.certPath, join(dir, `${name}.pem`)]);
    for (const name of ['rsa', 'ec', 'iponly']) {
      const r = await verify(name);
      assert.equal(r.code, 0, `${name}: ${r.out}`);
      assert.match(r.out, /: OK/);
    }
    const bad = await verify('forced');
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /permitted subtree violation/);

    const text = run('openssl', ['x509', '-in', join(dir, 'rsa.pem'), '-noout', '-text']);
    assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment/);
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.match(text, /X509v3 Subject Key Identifier/);
  },
);

test(
  'both leaf types are served from one context: openssl s_client picks RSA or ECDSA by sigalgs',
  needs('openssl'),
  async () => {
    const ca = await sharedCa();
    const cache = await LeafCache.create(ca);
    const pair = await cache.get(['127.0.0.1', 'localhost']);
    const server: Server = createServer({ key: pair.keys, cert: pair.certs }, (s) => s.end('hello\r\n'));
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const expect = { 'RSA+SHA256': { type: 'RSA', bits: 2048 }, 'ECDSA+SHA256': { type: 'ECDSA', bits: 256 } };
      for (const [sigalgs, want] of Object.entries(expect)) {
        const r = await runAsync('openssl', [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-tls1_2',
          '-sigalgs',
          sigalgs,
          '-CAfile',
          ca.certPath,
          '-verify_return_error',
          '-verify_ip',
          '127.0.0.1',
        ]);
        assert.equal(r.code, 0, `${sigalgs}: ${r.out}`);
        assert.match(r.out, new RegExp(`Peer signature type: ${want.type}\\n`), sigalgs);
        assert.match(r.out, new RegExp(`Server public key is ${want.bits} bit`), sigalgs);
        assert.match(r.out, /Verify return code: 0 \(ok\)/, sigalgs);
        assert.match(r.out, /hello/);
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  },
);

test('one key per type for every leaf; a leaf set is cached; concurrent requests mint once', async () => {
  const cache = await LeafCache.create(await sharedCa());
  const [a, a2] = await Promise.all([cache.get(['localhost', '127.0.0.1']), cache.get(['127.0.0.1', 'localhost'])]);
  assert.equal(cache.minted, 1, 'the same name set in another order is the same leaf');
  assert.equal(a2, a);
  const b = await cache.get(['mail.lan']);
  assert.equal(cache.minted, 2);
  assert.notEqual(b.certs[0], a.certs[0]);
  assert.equal(spki(b.certs[0]!), spki(a.certs[0]!), 'RSA leaves share one key');
  assert.equal(spki(b.certs[1]!), spki(a.certs[1]!), 'EC leaves share one key');
  assert.deepEqual(b.keys, a.keys);
  // Another cache (another process start) has its own keys: leaf keys live in memory only.
  const other = await LeafCache.create(await sharedCa());
  assert.notEqual(spki((await other.get(['mail.lan'])).certs[1]!), spki(b.certs[1]!));
});

test('the cap evicts the least recently used set', async () => {
  const cache = await LeafCache.create(await sharedCa(), { max: 2 });
  const a = await cache.get(['a.localhost']);
  await cache.get(['b.localhost']);
  await cache.get(['a.localhost']); // a is now the most recent
  await cache.get(['c.localhost']); // evicts b
  assert.equal(cache.size, 2);
  assert.equal(cache.minted, 3);
  assert.equal(await cache.get(['a.localhost']), a, 'a survived');
  assert.equal(cache.minted, 3);
  await cache.get(['b.localhost']);
  assert.equal(cache.minted, 4, 'b was evicted and minted again');
  assert.equal(cache.size, 2);
});

test('validity: backdated an hour, 7 days by default, re-minted when close to expiry', async () => {
  let clock = new Date(Date.now() + 3600_000);
  const cache = await LeafCache.create(await sharedCa(), { now: () => clock });
  const first = new X509Certificate((await cache.get(['localhost'])).certs[1]!);
  assert.equal(new Date(first.validFrom).getTime(), Math.floor(clock.getTime() / 1000) * 1000 - 3600_000);
  assert.equal(new Date(first.validTo).getTime(), Math.floor(clock.getTime() / 1000) * 1000 + 7 * 86400_000);

  clock = new Date(clock.getTime() + 5 * 86400_000); // 2 days left: still served
  assert.equal(new X509Certificate((await cache.get(['localhost'])).certs[1]!).serialNumber, first.serialNumber);
  clock = new Date(clock.getTime() + 1.5 * 86400_000); // 12 hours left: renewed
  const renewed = new X509Certificate((await cache.get(['localhost'])).certs[1]!);
  assert.notEqual(renewed.serialNumber, first.serialNumber);
  assert.equal(cache.minted, 2);

  const short = await LeafCache.create(await sharedCa(), { validityHours: 2, now: () => clock });
  const s = new X509Certificate((await short.get(['localhost'])).certs[0]!);
  assert.equal(new Date(s.validTo).getTime() - new Date(s.validFrom).getTime(), 3 * 3600_000);
});

test('leaf keys are generated without blocking the event loop', async () => {
  // A synchronous RSA-2048 generation (50-300 ms) would hold every timer until it returned, so the longest gap
  // between 1 ms ticks would be most of the total time. Generated in the thread pool, the loop keeps turning.
  const t0 = performance.now();
  let last = t0;
  let maxGap = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
  }, 1);
  try {
    await generateLeafKeys();
  } finally {
    clearInterval(timer);
  }
  const end = performance.now();
  maxGap = Math.max(maxGap, end - last);
  const total = end - t0;
  assert.ok(maxGap < total / 2, `longest stall ${maxGap.toFixed(1)} ms of ${total.toFixed(1)} ms`);
});
