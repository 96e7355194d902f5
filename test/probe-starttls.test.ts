// probe over STARTTLS: against a real Dovecot (POP3, IMAP) and a real Postfix (submission), the facts must equal
// what `openssl s_client -starttls` prints; and against small hand-written servers, each STARTTLS hygiene finding.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { sClient } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { startPostfix, type PostfixServer } from './fixtures/postfix.js';
import { needs } from './fixtures/util.js';
import type { ProbeResult } from '../src/probe/result.js';
import { probeJson } from './probe-cli.js';

const probe = (port: number, starttls: string) => probeJson(port, ['--starttls', starttls]);

function sameFactsAsSClient(r: ProbeResult, port: number, proto: string): void {
  const s = sClient(port, { extra: ['-starttls', proto] });
  assert.ok(s.serverTempKey, `s_client completed:\n${s.raw}`);
  assert.equal(r.tls.peerSigningDigest, s.peerSigningDigest);
  assert.equal(r.tls.peerSignatureType, s.peerSignatureType);
  assert.equal(r.tls.serverTempKey, s.serverTempKey);
  assert.equal(r.tls.cipher, s.cipher);
  assert.equal(r.tls.protocol, s.protocol ?? /New, (TLSv[\d.]+), Cipher/.exec(s.raw)?.[1]);
}

describe('probe STARTTLS against a real Dovecot', needs('dovecot', 'openssl'), () => {
  let dc: Dovecot;
  before(async () => {
    dc = await startDovecot({ users: [{ user: 'alice', pass: 'secret' }] });
  });
  after(async () => {
    await dc?.stop();
  });

  test('POP3: greeting, CAPA before/after TLS, s_client facts, plaintext USER flagged', async () => {
    const { code, r } = await probe(dc.pop3Port, 'pop3');
    assert.equal(code, 0);
    assert.equal(r.target.mode, 'starttls');
    assert.match(r.greeting ?? '', /^\+OK/);
    assert.ok(r.capabilitiesBeforeTls?.includes('STLS'), String(r.capabilitiesBeforeTls));
    assert.ok(r.capabilitiesAfterTls && r.capabilitiesAfterTls.length > 0);
    assert.ok(!r.capabilitiesAfterTls.includes('STLS'), 'no STLS once TLS is up');
    assert.equal(r.verification.ok, true, r.verification.errors.join('; '));
    sameFactsAsSClient(r, dc.pop3Port, 'pop3');
    // The fixture sets disable_plaintext_auth = no, so USER is offered in the clear.
    assert.deepEqual(
      r.findings.map((f) => f.rule),
      ['plaintext-auth-before-tls'],
    );
    assert.equal(r.versions['TLSv1.2'], true);
    assert.equal(r.versions.TLSv1, false); // ssl_min_protocol = TLSv1.2
  });

  test('IMAP: CAPABILITY before/after TLS, s_client facts', async () => {
    const { code, r } = await probe(dc.imapPort, 'imap');
    assert.equal(code, 0);
    assert.match(r.greeting ?? '', /^\* OK/);
    assert.ok(r.capabilitiesBeforeTls?.includes('STARTTLS'));
    assert.ok(r.capabilitiesAfterTls?.some((c) => /^IMAP4rev1$/i.test(c)));
    assert.ok(!r.capabilitiesAfterTls?.includes('STARTTLS'));
    sameFactsAsSClient(r, dc.imapPort, 'imap');
    assert.ok(!r.findings.some((f) => f.level === 'refusal'));
  });
});

describe('probe STARTTLS against a real Postfix submission port', needs('postfix', 'dovecot', 'openssl'), () => {
  let pf: PostfixServer;
  before(async () => {
    pf = await startPostfix();
  });
  after(async () => {
    await pf?.stop();
  });

  test('SMTP: EHLO before/after TLS, s_client facts, AUTH only after TLS', async () => {
    const { code, r } = await probe(pf.submissionPort, 'smtp');
    assert.equal(code, 0);
    assert.match(r.greeting ?? '', /^220/);
    assert.ok(r.capabilitiesBeforeTls?.includes('STARTTLS'));
    assert.ok(!r.capabilitiesBeforeTls?.some((c) => c.startsWith('AUTH')), 'no AUTH before TLS');
    assert.ok(
      r.capabilitiesAfterTls?.some((c) => c.startsWith('AUTH')),
      String(r.capabilitiesAfterTls),
    );
    sameFactsAsSClient(r, pf.submissionPort, 'smtp');
    assert.deepEqual(r.findings, []);
  });
});

// ---- hand-written servers for the hygiene findings ----

type Script = (sock: Socket, upgrade: () => void) => void;

/** A line server that runs `script`; `upgrade()` starts server-side TLS with testPki's RSA leaf. */
function lineServer(script: Script): Promise<{ port: number; close(): Promise<void> }> {
  const pki = testPki();
  const ctx = createSecureContext({ cert: readFileSync(pki.crt.rsa), key: readFileSync(pki.key.rsa) });
  const conns = new Set<Socket>();
  const srv: Server = createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => undefined);
    script(sock, () => {
      sock.removeAllListeners('data');
      const t = new TLSSocket(sock, { isServer: true, secureContext: ctx });
      t.on('error', () => undefined);
      t.on('data', () => undefined);
    });
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : 0,
        close: () =>
          new Promise<void>((r) => {
            for (const c of conns) c.destroy();
            srv.close(() => r());
          }),
      });
    }),
  );
}

/** Calls `on(line)` per CRLF line. */
function lines(sock: Socket, on: (line: string) => void): void {
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 2);
      on(l);
    }
  });
}

describe('probe STARTTLS hygiene findings', () => {
  test('bytes injected after the go-ahead are reported (and discarded before TLS)', async () => {
    const srv = await lineServer((sock, upgrade) => {
      sock.write('+OK ready\r\n');
      lines(sock, (l) => {
        if (l === 'CAPA') sock.write('+OK\r\nSTLS\r\nTOP\r\n.\r\n');
        else if (l === 'STLS') {
          sock.write('+OK Begin TLS\r\n-ERR injected\r\n');
          upgrade();
        }
      });
    });
    try {
      const { code, r } = await probe(srv.port, 'pop3');
      const f = r.findings.find((x) => x.rule === 'starttls-response-injection');
      assert.ok(f, JSON.stringify(r.findings));
      assert.match(f.message, /-ERR injected/);
      // The handshake still completed after the injected bytes were dropped.
      assert.equal(r.tls.protocol, 'TLSv1.3');
      assert.equal(code, 0);
    } finally {
      await srv.close();
    }
  });

  test('STARTTLS not offered and refused: refused by every profile, exit 1, never plaintext', async () => {
    const srv = await lineServer((sock) => {
      sock.write('+OK ready\r\n');
      lines(sock, (l) => {
        if (l === 'CAPA') sock.write('+OK\r\nUSER\r\nTOP\r\n.\r\n');
        else if (l === 'STLS') sock.write('-ERR no TLS here\r\n');
        else if (l === 'QUIT') sock.end('+OK bye\r\n');
      });
    });
    try {
      const { code, r } = await probe(srv.port, 'pop3');
      assert.equal(code, 1);
      assert.deepEqual(
        r.findings.map((f) => f.rule),
        ['starttls-not-offered', 'plaintext-auth-before-tls', 'starttls-refused'],
      );
      assert.equal(r.tls.protocol, null);
      for (const p of ['strict', 'balanced', 'legacy'] as const) {
        assert.equal(r.profiles[p].ok, false);
        assert.ok(r.profiles[p].rules.includes('starttls-not-offered'));
      }
    } finally {
      await srv.close();
    }
  });

  test('IMAP PREAUTH greeting is a downgrade: refused, exit 1', async () => {
    const srv = await lineServer((sock) => {
      sock.write('* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in as you\r\n');
      lines(sock, (l) => {
        const [tag, cmd] = l.split(' ');
        if (cmd === 'CAPABILITY') sock.write(`* CAPABILITY IMAP4rev1 STARTTLS\r\n${tag} OK done\r\n`);
        else sock.write(`${tag} BAD no\r\n`);
      });
    });
    try {
      const { code, r } = await probe(srv.port, 'imap');
      assert.equal(code, 1);
      assert.ok(r.findings.some((f) => f.rule === 'preauth'));
      assert.match(r.profiles.balanced.reasons.join('\n'), /PREAUTH/);
    } finally {
      await srv.close();
    }
  });
});
