import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import {
  createTap,
  hkdfExpandLabel,
  parseServerFlight,
  serverHandshakeSecretFrom,
  type ObservedHandshake,
} from './handshake-tap.js';

// ---- builders: server flights from their parts, never hex blobs ----

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer) => Buffer.concat([Buffer.from([b.length]), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const record = (type: number, body: Buffer, version = 0x0303) =>
  Buffer.concat([Buffer.from([type]), u16(version), u16(body.length), body]);
const hs = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type]), u24(body.length), body]);

/** Splits a handshake stream over several records, as servers do with long certificate chains. */
const handshakeRecords = (stream: Buffer, size = 97, version = 0x0303) => {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(record(22, stream.subarray(i, i + size), version));
  return Buffer.concat(out);
};

const HRR = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

function serverHello(o: { suite: number; tls13?: boolean; random?: Buffer; legacyVersion?: number }): Buffer {
  const exts = o.tls13 ? Buffer.concat([u16(43), vec16(u16(0x0304))]) : Buffer.alloc(0);
  return hs(
    2,
    Buffer.concat([
      u16(o.legacyVersion ?? 0x0303),
      o.random ?? Buffer.alloc(32, 0x11),
      vec8(Buffer.alloc(32, 0x22)),
      u16(o.suite),
      Buffer.from([0]),
      vec16(exts),
    ]),
  );
}
const certificate = () => hs(11, Buffer.concat([u24(603), u24(600), Buffer.alloc(600, 0x30)]));
const ecdheParams = () => Buffer.concat([Buffer.from([3]), u16(0x0017), vec8(Buffer.alloc(65, 4))]);
const dheParams = () =>
  Buffer.concat([vec16(Buffer.alloc(256, 0xff)), vec16(Buffer.from([2])), vec16(Buffer.alloc(256, 0x55))]);
const ske12 = (params: Buffer, scheme: number) =>
  hs(12, Buffer.concat([params, u16(scheme), vec16(Buffer.alloc(256, 0xaa))]));
const skeLegacy = (params: Buffer) => hs(12, Buffer.concat([params, vec16(Buffer.alloc(256, 0xaa))]));
const helloDone = () => hs(14, Buffer.alloc(0));
const ccs = () => record(20, Buffer.from([1]));

function tls12Flight(o: { suite: number; ske?: Buffer; version?: number }): Buffer {
  const stream = Buffer.concat([
    serverHello({ suite: o.suite, legacyVersion: o.version }),
    certificate(),
    o.ske ?? Buffer.alloc(0),
    helloDone(),
  ]);
  return handshakeRecords(stream, 97, o.version ?? 0x0303);
}

const AEADS = {
  0x1301: { alg: 'aes-128-gcm', keyLen: 16, hash: 'sha256' },
  0x1302: { alg: 'aes-256-gcm', keyLen: 32, hash: 'sha384' },
  0x1303: { alg: 'chacha20-poly1305', keyLen: 32, hash: 'sha256' },
} as const;

/** A TLS 1.3 server flight: plaintext ServerHello, a compatibility CCS, then the encrypted handshake records. */
function tls13Flight(
  suite: keyof typeof AEADS,
  secret: Buffer,
  scheme: number,
  o: { hrr?: boolean; pad?: number } = {},
): Buffer {
  const a = AEADS[suite];
  const key = hkdfExpandLabel(a.hash, secret, 'key', a.keyLen);
  const iv = hkdfExpandLabel(a.hash, secret, 'iv', 12);
  const inner = Buffer.concat([
    hs(8, vec16(Buffer.alloc(0))), // EncryptedExtensions
    certificate(),
    hs(15, Buffer.concat([u16(scheme), vec16(Buffer.alloc(72, 0x30))])), // CertificateVerify
    hs(20, Buffer.alloc(a.keyLen === 32 && a.hash === 'sha384' ? 48 : 32, 0x77)), // Finished
  ]);
  // Two encrypted records, the second with padding, so sequence numbers and padding removal are both exercised.
  const parts = [inner.subarray(0, 300), inner.subarray(300)];
  const recs = parts.map((p, seq) => {
    const plain = Buffer.concat([p, Buffer.from([22]), Buffer.alloc(seq === 1 ? (o.pad ?? 5) : 0)]);
    const nonce = Buffer.from(iv);
    nonce[11]! ^= seq;
    const header = Buffer.concat([Buffer.from([23]), u16(0x0303), u16(plain.length + 16)]);
    const c =
      a.alg === 'chacha20-poly1305'
        ? createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
        : createCipheriv(a.alg, key, nonce);
    c.setAAD(header, { plaintextLength: plain.length });
    const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    return Buffer.concat([header, ct]);
  });
  const hrr = o.hrr
    ? Buffer.concat([record(22, serverHello({ suite, tls13: true, random: HRR })), ccs()])
    : Buffer.alloc(0);
  return Buffer.concat([
    hrr,
    record(22, serverHello({ suite, tls13: true })),
    o.hrr ? Buffer.alloc(0) : ccs(),
    ...recs,
  ]);
}

const pick = (o: ObservedHandshake) => [o.version, o.peerSigningDigest, o.peerSignatureType, o.complete];

/** Every prefix parses without throwing, and only a prefix holding the signature reports it. */
function assertPrefixes(full: Buffer, opts: Parameters<typeof parseServerFlight>[1], whole: ObservedHandshake): void {
  let firstComplete = -1;
  for (let i = 0; i <= full.length; i++) {
    const o = parseServerFlight(full.subarray(0, i), opts);
    if (o.complete) {
      if (firstComplete < 0) firstComplete = i;
      assert.deepEqual(pick(o), pick(whole), `prefix ${i}`);
    } else {
      assert.equal(firstComplete, -1, `prefix ${i} went back to incomplete`);
      assert.equal(o.signatureScheme, null, `prefix ${i} reported a scheme before completing`);
    }
  }
  assert.ok(firstComplete > 0);
}

/** The tap gives the same answer however TCP splits the flight (two chunks, cut at every offset). */
async function assertTapSplits(
  full: Buffer,
  opts: Parameters<typeof parseServerFlight>[1],
  whole: ObservedHandshake,
): Promise<void> {
  for (let i = 0; i <= full.length; i += full.length > 2000 ? 7 : 1) {
    const raw = new PassThrough();
    const tap = createTap(raw);
    raw.write(full.subarray(0, i));
    raw.write(full.subarray(i));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(pick(tap.observed(opts)), pick(whole), `split at ${i}`);
    tap.stop();
    raw.destroy();
  }
}

test('HKDF-Expand-Label matches RFC 8448 (server handshake key and iv)', () => {
  const secret = Buffer.from('b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38', 'hex');
  assert.equal(hkdfExpandLabel('sha256', secret, 'key', 16).toString('hex'), '3fce516009c21727d0f2e4e86ee403bc');
  assert.equal(hkdfExpandLabel('sha256', secret, 'iv', 12).toString('hex'), '5d313eb2671276ee13000b30');
});

test('TLS 1.2 ECDHE signed with RSA+SHA1 (the ISP of the story), at every split', async () => {
  const full = tls12Flight({ suite: 0xc030, ske: ske12(ecdheParams(), 0x0201) });
  const o = parseServerFlight(full);
  assert.deepEqual(
    [o.version, o.cipherSuite, o.signatureScheme, o.peerSigningDigest, o.peerSignatureType, o.complete],
    ['TLSv1.2', 0xc030, 0x0201, 'SHA1', 'RSA', true],
  );
  assertPrefixes(full, {}, o);
  await assertTapSplits(full, {}, o);
});

test('TLS 1.2 DHE with RSA-PSS and with rsa_pkcs1_sha512', () => {
  const pss = parseServerFlight(tls12Flight({ suite: 0x009e, ske: ske12(dheParams(), 0x0804) }));
  assert.deepEqual(pick(pss), ['TLSv1.2', 'SHA256', 'RSA-PSS', true]);
  const s512 = parseServerFlight(tls12Flight({ suite: 0x009e, ske: ske12(dheParams(), 0x0601) }));
  assert.deepEqual(pick(s512), ['TLSv1.2', 'SHA512', 'RSA', true]);
});

test('TLS 1.0 has no scheme field: RSA signs MD5-SHA1, ECDSA signs SHA1', () => {
  const rsa = parseServerFlight(tls12Flight({ suite: 0xc014, ske: skeLegacy(ecdheParams()), version: 0x0301 }));
  assert.deepEqual(pick(rsa), ['TLSv1', 'MD5-SHA1', 'RSA', true]);
  const ec = parseServerFlight(tls12Flight({ suite: 0xc00a, ske: skeLegacy(ecdheParams()), version: 0x0301 }));
  assert.deepEqual(pick(ec), ['TLSv1', 'SHA1', 'ECDSA', true]);
  assertPrefixes(tls12Flight({ suite: 0xc014, ske: skeLegacy(ecdheParams()), version: 0x0301 }), {}, rsa);
});

test('static RSA key exchange: the flight completes with no signature at all', () => {
  const o = parseServerFlight(tls12Flight({ suite: 0x009c }));
  assert.deepEqual([o.complete, o.signatureScheme, o.peerSigningDigest], [true, null, null]);
});

test('parsing stops at ChangeCipherSpec in TLS 1.2: encrypted bytes after it are never read', () => {
  const full = Buffer.concat([
    handshakeRecords(Buffer.concat([serverHello({ suite: 0xc02f }), certificate()])),
    ccs(),
    record(22, randomBytes(40)),
  ]);
  const o = parseServerFlight(full);
  assert.deepEqual([o.version, o.complete, o.note], ['TLSv1.2', false, null]);
});

for (const [suite, scheme, digest, type] of [
  [0x1301, 0x0403, 'SHA256', 'ECDSA'],
  [0x1302, 0x0804, 'SHA256', 'RSA-PSS'],
  [0x1303, 0x0807, null, 'Ed25519'],
] as const) {
  test(`TLS 1.3 CertificateVerify decrypted (suite 0x${suite.toString(16)}) -> ${digest}/${type}, at every split`, async () => {
    const secret = randomBytes(AEADS[suite].hash === 'sha384' ? 48 : 32);
    const full = tls13Flight(suite, secret, scheme);
    const o = parseServerFlight(full, { serverHandshakeSecret: secret });
    assert.deepEqual(
      [o.version, o.cipherSuite, o.signatureScheme, o.peerSigningDigest, o.peerSignatureType, o.complete],
      ['TLSv1.3', suite, scheme, digest, type, true],
    );
    assertPrefixes(full, { serverHandshakeSecret: secret }, o);
    await assertTapSplits(full, { serverHandshakeSecret: secret }, o);
  });
}

test('TLS 1.3 after a HelloRetryRequest reads the real ServerHello', () => {
  const secret = randomBytes(32);
  const o = parseServerFlight(tls13Flight(0x1301, secret, 0x0804, { hrr: true }), { serverHandshakeSecret: secret });
  assert.deepEqual(pick(o), ['TLSv1.3', 'SHA256', 'RSA-PSS', true]);
});

test('TLS 1.3 without the secret, or with a wrong one, reports a note instead of guessing', () => {
  const secret = randomBytes(32);
  const full = tls13Flight(0x1301, secret, 0x0804);
  const none = parseServerFlight(full);
  assert.deepEqual([none.version, none.complete, none.peerSigningDigest], ['TLSv1.3', false, null]);
  assert.match(none.note ?? '', /secret/);
  const wrong = parseServerFlight(full, { serverHandshakeSecret: randomBytes(32) });
  assert.deepEqual([wrong.complete, wrong.peerSigningDigest], [false, null]);
  assert.ok(wrong.note);
});

test('an alert from the server is reported', () => {
  const o = parseServerFlight(record(21, Buffer.from([2, 40])));
  assert.deepEqual(o.alert, { level: 2, description: 40 });
  assert.equal(o.complete, false);
});

test('garbage never throws', () => {
  for (let i = 0; i < 300; i++) {
    const junk = randomBytes(i);
    if (i % 3 === 0) junk[0] = 22;
    parseServerFlight(junk, { serverHandshakeSecret: randomBytes(32) });
  }
  // Not TLS at all (a POP3 greeting on an implicit-TLS port).
  const o = parseServerFlight(Buffer.from('+OK POP3 ready\r\n'));
  assert.deepEqual([o.version, o.complete], [null, false]);
});

test('serverHandshakeSecretFrom reads NSS key log lines', () => {
  const line = `SERVER_HANDSHAKE_TRAFFIC_SECRET ${'ab'.repeat(32)} ${'cd'.repeat(48)}\n`;
  assert.equal(serverHandshakeSecretFrom(line)?.toString('hex'), 'cd'.repeat(48));
  assert.equal(serverHandshakeSecretFrom(`CLIENT_RANDOM ${'ab'.repeat(32)} ${'cd'.repeat(48)}`), null);
});
