import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UpstreamHandshakeFacts } from '../core/tls-facts.js';
import { addTlsTrace, foldHeader, stripTraceHeader, traceHeaderValue, withTlsTraceHeader } from './tls-trace-header.js';

const leaf = {
  subject: 'CN=pop.isp.example',
  issuer: 'CN=CA',
  signatureAlgorithm: 'sha256WithRSAEncryption',
  keyType: 'RSA',
  keyBits: 2048,
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: '2027-01-01T00:00:00.000Z',
  sans: [],
  selfSigned: false,
  fingerprint256: 'AA',
  spkiSha256: 'x',
};

function facts(over: Partial<UpstreamHandshakeFacts> = {}): UpstreamHandshakeFacts {
  return {
    host: 'pop.isp.example',
    port: 995,
    servername: 'pop.isp.example',
    protocol: 'TLSv1.2',
    cipher: 'ECDHE-RSA-AES256-GCM-SHA384',
    peerSigningDigest: 'SHA1',
    peerSignatureType: 'RSA',
    serverTempKey: 'ECDH, prime256v1, 256 bits',
    chain: [leaf],
    verification: { opensslError: null, hostnameError: null, leafPin: 'sha256/L', expectedPin: null },
    policy: 'balanced',
    verdict: 'warn',
    findings: [
      {
        level: 'warning',
        rule: 'handshake-signature-sha1',
        code: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
        message: '...',
      },
    ],
    exceptionsApplied: [],
    exceptionsExpired: [],
    ...over,
  };
}

const unfold = (s: string) => s.replace(/\r?\n(?=[ \t])/g, '');

describe('X-MailShield-Upstream-TLS', () => {
  it("reads exactly like the issue's example for the ISP", () => {
    assert.equal(
      traceHeaderValue(facts()),
      'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384; sig=RSA+SHA1 (warning: SHA-1 handshake signature, accepted by balanced); ' +
        'tempkey=ECDH P-256; cert=verified CN=pop.isp.example sha256WithRSAEncryption',
    );
  });

  it('names the exception that admitted it, and the policy when nothing was worth a warning', () => {
    const ex = facts({
      policy: 'strict',
      exceptionsApplied: ['pop.isp.example: sha1-handshake-signature until 2027-02-25'],
    });
    assert.match(
      traceHeaderValue(ex),
      /sig=RSA\+SHA1 \(warning: SHA-1 handshake signature, accepted by exception pop\.isp\.example: sha1-handshake-signature until 2027-02-25\)/,
    );
    const modern = facts({
      protocol: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      peerSigningDigest: 'SHA256',
      peerSignatureType: 'ECDSA',
      serverTempKey: 'X25519, 253 bits',
      findings: [],
      verdict: 'ok',
    });
    assert.equal(
      traceHeaderValue(modern),
      'TLSv1.3 TLS_AES_256_GCM_SHA384; sig=ECDSA+SHA256; tempkey=X25519; cert=verified CN=pop.isp.example sha256WithRSAEncryption; policy=balanced',
    );
    const pinned = facts({
      verification: {
        opensslError: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        hostnameError: null,
        leafPin: 'sha256/P',
        expectedPin: 'sha256/P',
      },
    });
    assert.match(traceHeaderValue(pinned), /cert=pinned sha256\/P CN=pop\.isp\.example/);
  });

  it('keeps server-chosen text printable: no line breaks can be injected through a certificate subject', () => {
    const evil = facts({ chain: [{ ...leaf, subject: 'CN=x\r\nBcc: victim@example' }] });
    const v = traceHeaderValue(evil);
    assert.ok(!/[\r\n]/.test(v));
  });

  it('folds at "; " under 78 columns and unfolds back to the value', () => {
    const line = foldHeader('X-MailShield-Upstream-TLS', traceHeaderValue(facts()), '\r\n');
    for (const l of line.split('\r\n')) assert.ok(l.length <= 78 || !l.includes('; '), l);
    assert.equal(unfold(line), `X-MailShield-Upstream-TLS: ${traceHeaderValue(facts())}`);
  });

  it("removes a sender's copies (folded lines too) and leaves every other byte", () => {
    const msg = Buffer.from(
      'Received: by x\r\nX-MailShield-Upstream-TLS: TLSv1.3 forged;\r\n cert=verified CN=bank\r\nSubject: hi\r\n' +
        'x-mailshield-upstream-tls : second\r\n\r\nX-MailShield-Upstream-TLS: in the body stays\r\n',
    );
    assert.equal(
      stripTraceHeader(msg).toString(),
      'Received: by x\r\nSubject: hi\r\n\r\nX-MailShield-Upstream-TLS: in the body stays\r\n',
    );
    const clean = Buffer.from('Subject: a\r\n\r\nbody\r\n');
    assert.equal(stripTraceHeader(clean), clean, 'nothing to remove: the same buffer');
  });

  it("puts one header on top in the message's own line-ending style", () => {
    const crlf = withTlsTraceHeader(Buffer.from('Subject: a\r\n\r\nbody\r\n'), facts()).toString();
    assert.ok(crlf.endsWith('\r\nSubject: a\r\n\r\nbody\r\n'));
    assert.ok(crlf.startsWith('X-MailShield-Upstream-TLS: TLSv1.2'));
    assert.ok(!/[^\r]\n/.test(crlf));
    const lf = withTlsTraceHeader(Buffer.from('Subject: a\n\nbody\n'), facts()).toString();
    assert.ok(!lf.includes('\r'));
    assert.ok(lf.endsWith('\nSubject: a\n\nbody\n'));
  });

  it('the pipeline hook touches only released incoming mail', async () => {
    const bytes = Buffer.from('Subject: a\r\n\r\nbody\r\n');
    const msg = {
      account: 'a',
      protocol: 'pop3' as const,
      direction: 'incoming' as const,
      bytes,
      size: bytes.length,
      upstreamTls: facts(),
    };
    // The message is in memory: nothing is read from a spool.
    const spool = {
      stream: () => assert.fail('spool read'),
      readPrefix: () => assert.fail('spool read'),
      readAll: () => assert.fail('spool read'),
    };
    const released = await addTlsTrace({ action: 'release', verdict: { kind: 'clean' } }, msg, spool);
    assert.ok(released.action === 'release' && released.bytes?.toString().startsWith('X-MailShield-Upstream-TLS: '));
    const out = await addTlsTrace(
      { action: 'release', verdict: { kind: 'clean' } },
      { ...msg, direction: 'outgoing' },
      spool,
    );
    assert.ok(out.action === 'release' && out.bytes === undefined);
    const notice = {
      action: 'replace' as const,
      verdict: { kind: 'clean' as const },
      notice: Buffer.from('n'),
      quarantineId: 'q',
    };
    assert.equal(await addTlsTrace(notice, msg, spool), notice);
  });
});
