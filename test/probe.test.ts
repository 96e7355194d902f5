// `mailshield probe` against real openssl s_server peers (DESIGN.md §4) and bad-certificate servers, through the CLI
// as a user runs it. Each story peer's three lines are checked against what `openssl s_client` prints for it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sClient, startPeer, type Peer, type PeerKind } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { needs } from './fixtures/util.js';
import type { ProbeResult } from '../src/probe/result.js';
import { cli, probeJson } from './probe-cli.js';

const opensslMissing = needs('openssl');

describe('probe: the story peers, compared with openssl s_client', opensslMissing, () => {
  const peers = new Map<PeerKind, Peer>();
  const results = new Map<PeerKind, Promise<{ code: number; r: ProbeResult; stderr: string }>>();
  /** One default-policy probe per peer, shared by the tests that only read it. */
  const probed = (k: PeerKind) => {
    if (!results.has(k)) results.set(k, probeJson(peers.get(k)!.port));
    return results.get(k)!;
  };
  before(async () => {
    for (const k of ['isp', 'gmail', 'yahoo'] as const) peers.set(k, await startPeer(k));
  });
  after(async () => {
    for (const p of peers.values()) await p.stop();
  });

  for (const kind of ['isp', 'gmail', 'yahoo'] as const) {
    test(`${kind}: Peer signing digest / signature type / Server Temp Key equal s_client's`, async () => {
      const port = peers.get(kind)!.port;
      const { r } = await probed(kind);
      const s = sClient(port);
      assert.ok(s.peerSigningDigest && s.peerSignatureType && s.serverTempKey, `s_client printed the lines:\n${s.raw}`);
      assert.equal(r.tls.peerSigningDigest, s.peerSigningDigest);
      assert.equal(r.tls.peerSignatureType, s.peerSignatureType);
      assert.equal(r.tls.serverTempKey, s.serverTempKey);
      // s_client prints "Protocol  :" only in its session block, which TLS 1.3 leaves out; "New, ..." always names it.
      assert.equal(r.tls.protocol, s.protocol ?? /New, (TLSv[\d.]+), Cipher/.exec(s.raw)?.[1]);
      assert.equal(r.tls.cipher, s.cipher);
      assert.equal(r.verification.ok, true, r.verification.errors.join('; '));
      assert.equal(r.certificates[0]?.subject, 'CN=mail.test');
      assert.equal(r.hostname.matches, true);
    });
  }

  test('the story table: ISP SHA1/RSA/P-256, Gmail SHA256/ECDSA/X25519, Yahoo SHA256/RSA-PSS/X25519', async () => {
    const line = async (k: PeerKind) => {
      const { r } = await probed(k);
      return [r.tls.peerSigningDigest, r.tls.peerSignatureType, r.tls.serverTempKey];
    };
    assert.deepEqual(await line('isp'), ['SHA1', 'RSA', 'ECDH, prime256v1, 256 bits']);
    assert.deepEqual(await line('gmail'), ['SHA256', 'ECDSA', 'X25519, 253 bits']);
    assert.deepEqual(await line('yahoo'), ['SHA256', 'RSA-PSS', 'X25519, 253 bits']);
  });

  test('ISP: balanced accepts with a warning (exit 0), strict refuses with the exception hint (exit 1)', async () => {
    const port = peers.get('isp')!.port;
    const balanced = await probed('isp');
    assert.equal(balanced.code, 0, balanced.stderr);
    assert.equal(balanced.r.policy, 'balanced');
    assert.equal(balanced.r.profiles.balanced.ok, true);
    assert.equal(balanced.r.profiles.balanced.verdict, 'warn');
    assert.match(balanced.r.profiles.balanced.warnings.join('\n'), /RSA\+SHA1/);
    assert.equal(balanced.r.profiles.strict.ok, false);
    assert.match(balanced.r.profiles.strict.reasons.join('\n'), /signed its key exchange with RSA\+SHA1/);
    assert.deepEqual(
      balanced.r.profiles.strict.exceptionHints.map((h) => h.allow),
      ['sha1-handshake-signature'],
    );
    assert.match(balanced.r.profiles.strict.reasons[0]!, /policy\.exceptions/);
    assert.deepEqual(balanced.r.versions, { TLSv1: false, 'TLSv1.1': false, 'TLSv1.2': true, 'TLSv1.3': false });
    // Without SHA-1 offered the ISP has nothing to sign with: the handshake fails.
    assert.equal(balanced.r.withoutSha1?.ok, false);

    const strict = await probeJson(port, ['--policy', 'strict']);
    assert.equal(strict.code, 1);
    assert.equal(strict.r.acceptable, false);
    assert.equal(strict.r.policy, 'strict');
  });

  test('Gmail-like: TLS 1.2 and 1.3 accepted; without SHA-1 it signs ECDSA+SHA256; strict OK (exit 0)', async () => {
    const { code, r } = await probeJson(peers.get('gmail')!.port, ['--policy', 'strict']);
    assert.equal(code, 0);
    assert.equal(r.versions['TLSv1.3'], true);
    assert.equal(r.versions['TLSv1.2'], true);
    assert.equal(r.versions.TLSv1, false);
    assert.equal(r.withoutSha1?.signatureScheme, 'ECDSA+SHA256');
    for (const p of ['strict', 'balanced', 'legacy'] as const) assert.equal(r.profiles[p].verdict, 'ok');
  });

  test('human output: the three story lines first, no colour when not a TTY', async () => {
    const run = await cli([
      'probe',
      `127.0.0.1:${peers.get('isp')!.port}`,
      '--servername',
      'mail.test',
      '--ca',
      testPki().caCert,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n').filter((l) => l.trim());
    assert.match(lines[1]!, /^\s+Peer signing digest\s+SHA1$/);
    assert.match(lines[2]!, /^\s+Peer signature type\s+RSA$/);
    assert.match(lines[3]!, /^\s+Server Temp Key\s+ECDH, prime256v1, 256 bits$/);
    assert.match(run.stdout, /strict\s+REFUSED/);
    assert.match(run.stdout, /balanced\*\s+OK with warning/);
    assert.ok(!run.stdout.includes('\x1b['), 'no ANSI escapes on a pipe');
  });
});

describe('probe: a server stuck on TLS 1.0', opensslMissing, () => {
  test('only TLS 1.0 accepted, MD5-SHA1 like s_client -tls1; legacy only, exception tls1.0 offered', async () => {
    const peer = await startPeer('tls10only');
    try {
      const { code, r } = await probeJson(peer.port);
      const s = sClient(peer.port, { extra: ['-tls1'] });
      assert.equal(code, 1);
      assert.deepEqual(r.versions, { TLSv1: true, 'TLSv1.1': false, 'TLSv1.2': false, 'TLSv1.3': false });
      assert.equal(r.tls.protocol, 'TLSv1');
      assert.equal(r.tls.peerSigningDigest, s.peerSigningDigest);
      assert.equal(r.tls.peerSignatureType, s.peerSignatureType);
      assert.equal(r.tls.serverTempKey, s.serverTempKey);
      assert.equal(r.tls.cipher, s.cipher);
      assert.equal(r.withoutSha1, null, 'no TLS 1.2 to try');
      assert.equal(r.profiles.legacy.ok, true);
      assert.deepEqual(r.profiles.balanced.rules, ['tls-version']);
      assert.deepEqual(
        r.profiles.strict.exceptionHints.map((h) => h.allow),
        ['tls1.0'],
      );
    } finally {
      await peer.stop();
    }
  });
});

describe('probe: bad certificates give their verification errors', opensslMissing, () => {
  const cases: { kind: PeerKind; code: string; text: RegExp }[] = [
    { kind: 'expired', code: 'MS_ERR_UPSTREAM_CERT_EXPIRED', text: /expired/ },
    { kind: 'wronghost', code: 'MS_ERR_UPSTREAM_CERT_HOSTNAME', text: /not the configured name 'mail\.test'/ },
    { kind: 'selfsigned', code: 'MS_ERR_UPSTREAM_CERT_SELF_SIGNED', text: /self-signed/ },
    { kind: 'sha1cert', code: 'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE', text: /sha1WithRSAEncryption/ },
    { kind: 'untrusted', code: 'MS_ERR_UPSTREAM_CERT_UNTRUSTED', text: /not in the system trust store/ },
  ];
  for (const c of cases) {
    test(`${c.kind}: ${c.code}, refused by every profile (exit 1)`, async () => {
      const peer = await startPeer(c.kind);
      try {
        const { code, r } = await probeJson(peer.port);
        assert.equal(code, 1);
        assert.equal(r.verification.ok, false);
        assert.ok(r.verification.codes.includes(c.code), `codes: ${r.verification.codes.join(', ')}`);
        assert.match(r.verification.errors.join('\n'), c.text);
        for (const p of ['strict', 'balanced', 'legacy'] as const) assert.equal(r.profiles[p].ok, false, p);
        if (c.kind === 'wronghost') assert.equal(r.hostname.matches, false);
        if (c.kind === 'sha1cert') assert.equal(r.certificates[0]?.signatureAlgorithm, 'sha1WithRSAEncryption');
      } finally {
        await peer.stop();
      }
    });
  }
});

describe('probe: arguments and reachability', () => {
  test('unreachable: exit 2 and one line on stderr', async () => {
    const run = await cli(['probe', '127.0.0.1:1']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr.trim().split('\n').length, 1);
    assert.match(run.stderr, /ECONNREFUSED/);
  });
  test('bad arguments: exit 2', async () => {
    assert.equal((await cli(['probe', '127.0.0.1'])).code, 2);
    assert.equal((await cli(['probe', '127.0.0.1:995', '--policy', 'lax'])).code, 2);
    assert.equal((await cli(['probe', '127.0.0.1:99999'])).code, 2);
    assert.equal((await cli(['probe', '127.0.0.1:995', '--ca', '/nonexistent.pem'])).code, 2);
  });
});
