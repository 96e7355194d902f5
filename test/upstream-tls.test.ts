// The upstream leg against real TLS servers on 127.0.0.1: the story's three servers (ISP, Gmail, Yahoo) emulated by
// `openssl s_server`, every bad-certificate case, pins, exceptions and the failure modes of the connection itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { PolicyException, UpstreamPolicyName } from '../src/core/config.js';
import { isShieldError } from '../src/core/errors.js';
import { ISP_TLS_OPTIONS } from '../src/demo/servers.js';
import {
  connectUpstreamTcp,
  upgradeUpstreamTls,
  type UpstreamTarget,
  type UpstreamTlsResult,
} from '../src/io/upstream.js';
import { spkiPin } from '../src/tls/cert-check.js';
import { startPeer, sClient, type Peer, type PeerKind } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { freePort, needs } from './fixtures/util.js';

// The PKI first: its certificates become valid the second they are made, and `now` must not precede that.
testPki();
const NOW = new Date();
const day = (offset: number) => new Date(NOW.getTime() + offset * 86_400_000).toISOString().slice(0, 10);

function target(port: number, over: Partial<UpstreamTarget> = {}): UpstreamTarget {
  return {
    account: 'test',
    host: '127.0.0.1',
    port,
    servername: 'mail.test',
    extraCa: [readFileSync(testPki().caCert, 'utf8')],
    policy: 'balanced',
    exceptions: [],
    now: NOW,
    timeoutMs: 5000,
    ...over,
  };
}

async function connect(t: UpstreamTarget): Promise<UpstreamTlsResult> {
  const sock = await connectUpstreamTcp(t);
  const res = await upgradeUpstreamTls(sock, t);
  if (res.ok) res.socket.destroy();
  return res;
}

/** Application data both ways through an accepted socket: s_server -www answers a GET with a status page. */
async function httpGet(sock: tls.TLSSocket): Promise<string> {
  let got = '';
  sock.on('data', (d: Buffer) => (got += d.toString()));
  const ended = new Promise<void>((r) => sock.once('end', r));
  sock.write('GET / HTTP/1.0\r\n\r\n');
  await ended;
  sock.destroy();
  return got;
}

const PROFILES: UpstreamPolicyName[] = ['strict', 'balanced', 'legacy'];
const opts = needs('openssl');

describe('upstream TLS against openssl s_server peers', opts, () => {
  const peers = new Map<PeerKind, Peer>();
  const kinds: PeerKind[] = [
    'isp',
    'gmail',
    'yahoo',
    'sha1cert',
    'expired',
    'wronghost',
    'selfsigned',
    'untrusted',
    'rsa1024',
    'tls10only',
  ];
  const port = (k: PeerKind) => peers.get(k)!.port;

  before(async () => {
    const started = await Promise.all(kinds.map((k) => startPeer(k)));
    for (const p of started) peers.set(p.kind, p);
  });
  after(async () => {
    await Promise.all([...peers.values()].map((p) => p.stop()));
  });

  test('ISP-like: accepted under balanced with a SHA-1 warning, facts as s_client prints them', async () => {
    const res = await connect(target(port('isp')));
    assert.ok(res.ok, res.ok ? '' : res.error.message);
    const f = res.facts;
    assert.equal(f.protocol, 'TLSv1.2');
    assert.equal(f.peerSigningDigest, 'SHA1');
    assert.equal(f.peerSignatureType, 'RSA');
    assert.equal(f.serverTempKey, 'ECDH, prime256v1, 256 bits');
    assert.equal(f.verdict, 'warn');
    assert.equal(f.policy, 'balanced');
    const w = f.findings.find((x) => x.rule === 'handshake-signature-sha1');
    assert.ok(w && w.level === 'warning', JSON.stringify(f.findings));
    assert.match(w.message, /RSA\+SHA1/);
    // Only the handshake signature was SHA-1: the certificate itself is SHA-256.
    assert.equal(f.chain[0]!.signatureAlgorithm, 'sha256WithRSAEncryption');
    const s = sClient(port('isp'));
    assert.deepEqual(
      [f.peerSigningDigest, f.peerSignatureType, f.serverTempKey, f.protocol],
      [s.peerSigningDigest, s.peerSignatureType, s.serverTempKey, s.protocol],
    );
  });

  test('ISP-like: refused under strict with the explanation and the exception hint', async () => {
    const res = await connect(target(port('isp'), { policy: 'strict' }));
    assert.equal(res.ok, false);
    if (res.ok) return;
    assert.equal(res.error.code, 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE');
    assert.equal(res.error.side, 'upstream');
    assert.match(
      res.error.message,
      /^upstream 127\.0\.0\.1:\d+ signed its key exchange with RSA\+SHA1; policy 'strict' requires SHA-256 or better/,
    );
    const until = day(90);
    assert.ok(
      res.error.message.includes(
        `add to policy.exceptions: {host: mail.test, allow: [sha1-handshake-signature], until: ${until}}`,
      ),
      res.error.message,
    );
    const f = res.facts!;
    assert.equal(f.verdict, 'refused');
    assert.deepEqual(f.findings[0]!.exceptionHint, { host: 'mail.test', allow: 'sha1-handshake-signature', until });
    assert.equal(f.peerSigningDigest, 'SHA1');
  });

  test('ISP-like: a matching exception makes strict accept; an expired one does not and is reported', async () => {
    const live: PolicyException = { host: 'mail.test', allow: ['sha1-handshake-signature'], until: day(0) };
    const ok = await connect(target(port('isp'), { policy: 'strict', exceptions: [live] }));
    assert.ok(ok.ok, ok.ok ? '' : ok.error.message);
    assert.equal(ok.facts.verdict, 'warn');
    assert.deepEqual(ok.facts.exceptionsApplied, [`mail.test: sha1-handshake-signature until ${day(0)}`]);

    const old: PolicyException = { host: 'mail.test', allow: ['sha1-handshake-signature'], until: day(-1) };
    const bad = await connect(target(port('isp'), { policy: 'strict', exceptions: [old] }));
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.equal(bad.error.code, 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE');
    assert.match(bad.error.message, new RegExp(`expired on ${day(-1)}`));
    assert.deepEqual(bad.facts!.exceptionsExpired, [`mail.test: sha1-handshake-signature until ${day(-1)}`]);
    assert.deepEqual(bad.facts!.exceptionsApplied, []);

    // An exception for another host changes nothing.
    const other = await connect(
      target(port('isp'), { policy: 'strict', exceptions: [{ ...live, host: 'pop.example.jp' }] }),
    );
    assert.equal(other.ok, false);
  });

  for (const [kind, digest, type] of [
    ['gmail', 'SHA256', 'ECDSA'],
    ['yahoo', 'SHA256', 'RSA-PSS'],
  ] as const) {
    test(`${kind}-like: TLS 1.3 CertificateVerify read as ${digest}/${type}/X25519, same as s_client, ok under strict`, async () => {
      const res = await connect(target(port(kind), { policy: 'strict' }));
      assert.ok(res.ok, res.ok ? '' : res.error.message);
      const f = res.facts;
      assert.equal(f.protocol, 'TLSv1.3');
      assert.equal(f.peerSigningDigest, digest);
      assert.equal(f.peerSignatureType, type);
      assert.equal(f.serverTempKey, 'X25519, 253 bits');
      assert.equal(f.verdict, 'ok');
      assert.deepEqual(f.findings, []);
      const s = sClient(port(kind));
      assert.deepEqual(
        [f.peerSigningDigest, f.peerSignatureType, f.serverTempKey, f.protocol, f.cipher],
        [s.peerSigningDigest, s.peerSignatureType, s.serverTempKey, s.protocol, s.cipher],
      );
    });
  }

  const badCerts: Array<[PeerKind, string, RegExp]> = [
    [
      'expired',
      'MS_ERR_UPSTREAM_CERT_EXPIRED',
      /CN=mail\.test expired on 2021-01-01T00:00:00\.000Z \(valid from 2020-01-01/,
    ],
    [
      'wronghost',
      'MS_ERR_UPSTREAM_CERT_HOSTNAME',
      /is for DNS:other\.test, not the configured name 'mail\.test'.*upstreamServername/,
    ],
    [
      'selfsigned',
      'MS_ERR_UPSTREAM_CERT_SELF_SIGNED',
      /self-signed certificate \(CN=mail\.test.*set upstreamPin: sha256\/[A-Za-z0-9+/]{43}=/,
    ],
    [
      'untrusted',
      'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
      /chains to CN=Untrusted Test CA, which is not in the system trust store or upstreamCa.*set upstreamCa/,
    ],
    [
      'sha1cert',
      'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
      /certificate CN=mail\.test is signed with sha1WithRSAEncryption by CN=mailshield Test CA/,
    ],
    ['rsa1024', 'MS_ERR_UPSTREAM_WEAK_KEY', /1024-bit RSA key; every profile requires RSA keys of at least 2048 bits/],
  ];
  for (const [kind, code, text] of badCerts) {
    test(`${kind}: refused in every profile with ${code}`, async () => {
      for (const policy of PROFILES) {
        const res = await connect(target(port(kind), { policy }));
        assert.equal(res.ok, false, `${kind} accepted under ${policy}`);
        if (res.ok) continue;
        assert.equal(res.error.code, code, `${policy}: ${res.error.message}`);
        assert.match(res.error.message, text);
        assert.equal(res.facts?.verdict, 'refused');
      }
    });
  }

  test('selfsigned: the pin printed in the refusal is the one that admits it; a wrong pin is refused', async () => {
    const pki = testPki();
    const der = new (await import('node:crypto')).X509Certificate(readFileSync(pki.crt.selfsigned)).raw;
    const pin = spkiPin(der);
    // The same value openssl computes, so users can get it without mailshield.
    const opensslPin = execFileSync('sh', [
      '-c',
      `openssl x509 -in '${pki.crt.selfsigned}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`,
    ])
      .toString()
      .trim();
    assert.equal(pin, `sha256/${opensslPin}`);

    const refused = await connect(target(port('selfsigned'), { policy: 'strict' }));
    assert.ok(!refused.ok && refused.error.message.includes(`set upstreamPin: ${pin}`));

    for (const policy of PROFILES) {
      const res = await connect(target(port('selfsigned'), { policy, pin }));
      assert.ok(res.ok, res.ok ? '' : `${policy}: ${res.error.message}`);
      assert.equal(res.facts.verification?.leafPin, pin);
    }

    const wrong = `sha256/${Buffer.alloc(32, 7).toString('base64')}`;
    const bad = await connect(target(port('selfsigned'), { pin: wrong }));
    assert.ok(!bad.ok);
    if (bad.ok) return;
    assert.equal(bad.error.code, 'MS_ERR_UPSTREAM_PIN_MISMATCH');
    assert.ok(bad.error.message.includes(`presented key ${pin}`) && bad.error.message.includes(wrong));

    // A pin never waives identity on a trusted server either: a CA-signed server with the wrong pin is refused.
    const trusted = await connect(target(port('yahoo'), { pin: wrong }));
    assert.ok(!trusted.ok && trusted.error.code === 'MS_ERR_UPSTREAM_PIN_MISMATCH');
  });

  test('an accepted socket carries application data both ways (TLS 1.2 and 1.3 through the tap)', async () => {
    for (const kind of ['isp', 'gmail'] as const) {
      const t = target(port(kind));
      const res = await upgradeUpstreamTls(await connectUpstreamTcp(t), t);
      assert.ok(res.ok, res.ok ? '' : res.error.message);
      assert.match(await httpGet(res.socket), /^HTTP\/1\.0 200 ok[\s\S]*Ciphers supported in s_server binary/);
    }
  });

  test('the name verified is the configured servername, never the address connected to', async () => {
    const res = await connect(target(port('yahoo'), { servername: 'other.test' }));
    assert.ok(!res.ok);
    if (!res.ok) assert.equal(res.error.code, 'MS_ERR_UPSTREAM_CERT_HOSTNAME');
  });

  test('TLS 1.0-only server: strict and balanced refuse naming TLS 1.0; legacy and an exception accept', async () => {
    for (const policy of ['strict', 'balanced'] as const) {
      const res = await connect(target(port('tls10only'), { policy }));
      assert.ok(!res.ok);
      if (res.ok) continue;
      assert.equal(res.error.code, 'MS_ERR_UPSTREAM_TLS_VERSION');
      assert.match(
        res.error.message,
        new RegExp(`negotiated TLS 1\\.0.*policy '${policy}' requires TLS 1\\.2 or newer`),
      );
      assert.deepEqual(res.facts?.findings[0]?.exceptionHint?.allow, 'tls1.0');
    }
    const legacy = await connect(target(port('tls10only'), { policy: 'legacy' }));
    assert.ok(legacy.ok, legacy.ok ? '' : legacy.error.message);
    assert.equal(legacy.facts.protocol, 'TLSv1');
    assert.equal(legacy.facts.peerSigningDigest, 'MD5-SHA1');
    assert.equal(legacy.facts.peerSignatureType, 'RSA');
    assert.equal(legacy.facts.verdict, 'warn');
    const s = sClient(port('tls10only'));
    assert.deepEqual(
      [legacy.facts.peerSigningDigest, legacy.facts.peerSignatureType],
      [s.peerSigningDigest, s.peerSignatureType],
    );

    const ex: PolicyException = { host: 'mail.test', allow: ['tls1.0'], until: day(30) };
    const strictEx = await connect(target(port('tls10only'), { policy: 'strict', exceptions: [ex] }));
    assert.ok(strictEx.ok, strictEx.ok ? '' : strictEx.error.message);
    assert.deepEqual(strictEx.facts.exceptionsApplied, [`mail.test: tls1.0 until ${day(30)}`]);
  });
});

describe('upstream TLS against Node servers', () => {
  test('TLS 1.3 after a HelloRetryRequest (server wants P-384): CertificateVerify still read', async () => {
    const pki = testPki();
    const srv = tls.createServer(
      { key: readFileSync(pki.key.ec), cert: readFileSync(pki.crt.ec), ecdhCurve: 'secp384r1', minVersion: 'TLSv1.3' },
      (s) => s.end(),
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const p = (srv.address() as net.AddressInfo).port;
    const res = await connect(target(p, { policy: 'strict' }));
    assert.ok(res.ok, res.ok ? '' : res.error.message);
    assert.deepEqual(
      [res.facts.protocol, res.facts.peerSigningDigest, res.facts.peerSignatureType, res.facts.serverTempKey],
      ['TLSv1.3', 'SHA256', 'ECDSA', 'ECDH, secp384r1, 384 bits'],
    );
    srv.close();
  });

  test('every TLS 1.3 suite decrypts: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 (RSA-PSS leaf)', async () => {
    const pki = testPki();
    for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
      const srv = tls.createServer(
        { key: readFileSync(pki.key.rsa), cert: readFileSync(pki.crt.rsa), ciphers: suite, minVersion: 'TLSv1.3' },
        (s) => s.end(),
      );
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const p = (srv.address() as net.AddressInfo).port;
      const res = await connect(target(p, { policy: 'strict' }));
      assert.ok(res.ok, res.ok ? '' : res.error.message);
      assert.deepEqual(
        [res.facts.cipher, res.facts.peerSigningDigest, res.facts.peerSignatureType],
        [suite, 'SHA256', 'RSA-PSS'],
      );
      srv.close();
    }
  });

  test('after a STARTTLS go-ahead, the plaintext reader gets no TLS bytes and data flows over TLS', async () => {
    const pki = testPki();
    const ctx = tls.createSecureContext({ key: readFileSync(pki.key.rsa), cert: readFileSync(pki.crt.rsa) });
    const srv = net.createServer((plain) => {
      plain.write('+OK POP3 ready\r\n');
      plain.once('data', () => {
        plain.write('+OK begin TLS\r\n');
        const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: ctx });
        secure.on('data', (d: Buffer) => secure.write(`echo ${d.toString()}`));
        secure.on('error', () => undefined);
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const p = (srv.address() as net.AddressInfo).port;
    const t = target(p, { policy: 'strict' });
    const sock = await connectUpstreamTcp(t);
    let plaintext = '';
    sock.on('data', (d: Buffer) => (plaintext += d.toString('latin1')));
    await new Promise<void>((r) => sock.once('data', () => r()));
    sock.write('STLS\r\n');
    while (!plaintext.includes('begin TLS')) await new Promise((r) => setTimeout(r, 5));
    const before = plaintext;
    const res = await upgradeUpstreamTls(sock, t);
    assert.ok(res.ok, res.ok ? '' : res.error.message);
    assert.equal(plaintext, before, 'the plaintext reader saw TLS bytes');
    res.socket.write('NOOP');
    const reply = await new Promise<string>((r) => res.socket.once('data', (d: Buffer) => r(d.toString())));
    assert.equal(reply, 'echo NOOP');
    res.socket.destroy();
    srv.close();
  });
});

describe('upstream connection failures', () => {
  test('a closed port is MS_ERR_UPSTREAM_CONNECT naming host:port', async () => {
    const p = await freePort();
    await assert.rejects(connectUpstreamTcp(target(p)), (e: unknown) => {
      assert.ok(isShieldError(e));
      assert.equal(e.code, 'MS_ERR_UPSTREAM_CONNECT');
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${p}: ECONNREFUSED`));
      return true;
    });
  });

  test('a server that never answers the ClientHello times out with MS_ERR_UPSTREAM_TIMEOUT', async () => {
    const held: net.Socket[] = [];
    const srv = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const p = (srv.address() as net.AddressInfo).port;
    const t = target(p, { timeoutMs: 300 });
    const started = Date.now();
    const res = await upgradeUpstreamTls(await connectUpstreamTcp(t), t);
    assert.ok(!res.ok);
    if (!res.ok) assert.equal(res.error.code, 'MS_ERR_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 3000);
    for (const s of held) s.destroy();
    srv.close();
  });

  test('a plaintext greeting on an implicit-TLS port says to use STARTTLS', async () => {
    const srv = net.createServer((s) => s.end('+OK POP3 ready\r\n'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const p = (srv.address() as net.AddressInfo).port;
    const res = await connect(target(p));
    assert.ok(!res.ok);
    if (!res.ok) {
      assert.equal(res.error.code, 'MS_ERR_UPSTREAM_TLS_HANDSHAKE');
      assert.match(res.error.message, /did not answer with TLS.*upstreamTls: starttls/);
    }
    srv.close();
  });

  test('a refused server receives no application byte, and the socket is gone', async () => {
    // A Node server with the ISP's parameters, so the test can see every byte that arrives after the handshake.
    const pki = testPki();
    let appBytes = 0;
    let closed!: () => void;
    const gone = new Promise<void>((r) => (closed = r));
    const srv = tls.createServer(
      { ...ISP_TLS_OPTIONS, key: readFileSync(pki.key.rsa), cert: readFileSync(pki.crt.rsa) },
      (s) => {
        s.on('data', (d: Buffer) => (appBytes += d.length));
        s.on('error', () => undefined);
        s.on('close', () => closed());
      },
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const p = (srv.address() as net.AddressInfo).port;
    const t = target(p, { policy: 'strict' });
    const raw = await connectUpstreamTcp(t);
    const res = await upgradeUpstreamTls(raw, t);
    assert.ok(!res.ok);
    if (!res.ok) assert.equal(res.error.code, 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE');
    assert.ok(raw.destroyed);
    await gone;
    assert.equal(appBytes, 0);
    srv.close();
  });
});
