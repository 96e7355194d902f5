// The client leg with real TLS on 127.0.0.1: the story's Windows 7 client, a SHA-1-only TLS 1.2 client, a modern
// Node client, timeouts, plaintext and STARTTLS-pipelined hellos.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { ClientPolicyName } from '../src/core/config.js';
import { acceptClientTls, leafNames, type ClientTlsResult } from '../src/io/client-tls.js';
import { ClientHelloReader, parseClientHello } from '../src/tls/client-hello.js';
import { LEGACY_EXTRA_SUITES, SERVED_SUITES, evaluateClientHello } from '../src/tls/client-policy.js';
import type { LeafPair, LeafSource } from '../src/core/tls-facts.js';
import { testPki, type TestPki } from './fixtures/pki.js';
import { needs } from './fixtures/util.js';
import { opensslClient, sha1SigalgsClient, win7Client, type OpensslClient } from './fixtures/win7.js';

const withOpenssl = needs('openssl');

class TestLeafs implements LeafSource {
  asked: string[][] = [];
  constructor(private readonly pair: LeafPair) {}
  async get(names: string[]): Promise<LeafPair> {
    this.asked.push(names);
    return this.pair;
  }
}

let pki: TestPki;
let leafs: TestLeafs;
let ca: string;

before(() => {
  pki = testPki();
  ca = readFileSync(pki.caCert, 'utf8');
  const r = (p: string) => readFileSync(p, 'utf8');
  leafs = new TestLeafs({ keys: [r(pki.key.rsa), r(pki.key.ec)], certs: [r(pki.crt.rsa), r(pki.crt.ec)] });
});

interface Harness {
  port: number;
  listen: string;
  /** Result of the first accepted connection. */
  result: Promise<ClientTlsResult>;
  close(): void;
}

/**
 * A listener that runs acceptClientTls on its first connection and echoes "echo:<data>" once TLS is up.
 * `listen` overrides the listener string handed to the policy (the socket itself is always on 127.0.0.1).
 */
async function harness(
  policy: ClientPolicyName,
  opts: { listen?: string; timeoutMs?: number; pending?: (raw: net.Socket) => Promise<Buffer | undefined> } = {},
): Promise<Harness> {
  const sockets: net.Socket[] = [];
  let resolveResult!: (r: ClientTlsResult) => void;
  const result = new Promise<ClientTlsResult>((r) => (resolveResult = r));
  const server = net.createServer((raw) => {
    sockets.push(raw);
    raw.on('error', () => {});
    void (async () => {
      const pending = opts.pending ? await opts.pending(raw) : undefined;
      const res = await acceptClientTls(
        raw,
        { leafs, policy, listen: listen(), handshakeTimeoutMs: opts.timeoutMs ?? 5000 },
        pending,
      );
      if (res.ok) {
        res.socket.on('data', (d: Buffer) => res.socket.write(`echo:${d.toString()}`));
        res.socket.on('error', () => {});
      }
      resolveResult(res);
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const listen = () => opts.listen ?? `127.0.0.1:${port}`;
  return {
    port,
    listen: listen(),
    result,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function assertOk(r: ClientTlsResult): asserts r is Extract<ClientTlsResult, { ok: true }> {
  assert.equal(r.ok, true, r.ok ? '' : `${r.error.code}: ${r.error.message}`);
}

function assertFailed(r: ClientTlsResult, code: string): asserts r is Extract<ClientTlsResult, { ok: false }> {
  assert.equal(r.ok, false, 'expected a refusal');
  if (!r.ok) assert.equal(r.error.code, code, r.error.message);
}

/** Captures the first bytes a client sends until they form a ClientHello. */
async function captureHello(connect: (port: number) => { stop(): void }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let stop: (() => void) | undefined;
  const got = new Promise<Buffer>((resolve, reject) => {
    const server = net.createServer((sock) => {
      const reader = new ClientHelloReader();
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        const r = reader.push(d);
        if (r.status !== 'need-more') {
          sock.destroy();
          server.close();
          if (r.status === 'ok') resolve(Buffer.concat(chunks));
          else reject(new Error(`capture: ${JSON.stringify(r)}`));
        }
      });
    });
    server.listen(0, '127.0.0.1', () => {
      stop = connect((server.address() as net.AddressInfo).port).stop;
    });
  });
  try {
    return await got;
  } finally {
    stop?.();
  }
}

function nodeClient(port: number, extra: tls.ConnectionOptions = {}): tls.TLSSocket {
  const s = tls.connect({ host: '127.0.0.1', port, servername: 'mail.test', ca, ...extra });
  s.on('error', () => {});
  return s;
}

describe('real ClientHellos', withOpenssl, () => {
  it('parses the Windows 7-style hello from openssl s_client -tls1, split at every offset', async () => {
    const bytes = await captureHello((port) => win7Client(port, { caFile: pki.caCert }));
    const r = parseClientHello(bytes);
    assert.equal(r.status, 'ok');
    if (r.status !== 'ok') return;
    const info = r.info;
    assert.equal(info.legacyVersion, 'TLSv1');
    assert.deepEqual(info.versions, ['TLSv1']);
    assert.deepEqual(info.signatureAlgorithms, [], 'TLS 1.0 has no signature_algorithms');
    assert.equal(info.sni, 'mail.test');
    assert.deepEqual(info.groups, ['secp256r1', 'secp384r1']);
    // DES-CBC3-SHA is in the list but this OpenSSL build has no 3DES, so it is not offered.
    for (const code of [0xc014, 0xc013, 0x0035, 0x002f]) assert.ok(info.cipherSuites.includes(code), code.toString(16));
    assert.ok(info.cipherSuiteNames.includes('TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA'));
    for (let i = 0; i < bytes.length; i++) {
      const rd = new ClientHelloReader();
      assert.equal(rd.push(bytes.subarray(0, i)).status, 'need-more');
      assert.deepEqual(rd.push(bytes.subarray(i)), r);
    }
    // auto means legacy on loopback and balanced elsewhere: the same client is refused on a LAN listener.
    assert.equal(evaluateClientHello(info, 'auto', '127.0.0.1:1995').ok, true);
    const lan = evaluateClientHello(info, 'auto', '0.0.0.0:1995');
    assert.equal(lan.refusal?.code, 'MS_ERR_CLIENT_TLS_VERSION');
    assert.match(
      lan.refusal?.message ?? '',
      /client offered only TLS 1\.0; listener 0\.0\.0\.0:1995 requires TLS 1\.2/,
    );
  });

  it("parses Node's own hello (TLS 1.3, ALPN, SNI)", async () => {
    const bytes = await captureHello((port) => {
      const s = nodeClient(port, { ALPNProtocols: ['imap', 'pop3'] });
      return { stop: () => s.destroy() };
    });
    const r = parseClientHello(bytes);
    assert.equal(r.status, 'ok');
    if (r.status !== 'ok') return;
    assert.deepEqual(r.info.versions, ['TLSv1.3', 'TLSv1.2']);
    assert.equal(r.info.legacyVersion, 'TLSv1.2');
    assert.equal(r.info.sni, 'mail.test');
    assert.deepEqual(r.info.alpn, ['imap', 'pop3']);
    assert.ok(r.info.groups.includes('x25519'));
    assert.ok(r.info.signatureAlgorithms.includes('rsa_pss_rsae_sha256'));
    assert.ok(r.info.cipherSuiteNames.includes('TLS_AES_256_GCM_SHA384'));
    assert.equal(evaluateClientHello(r.info, 'strict', '0.0.0.0:995').context, 'strict');
  });
});

describe('served suites match OpenSSL', withOpenssl, () => {
  /** Suites OpenSSL enables for a cipher string, restricted to what RSA/ECDSA leaves without dhparam can use. */
  function opensslSuites(cipherString: string): Set<number> {
    const r = spawnSync('openssl', ['ciphers', '-V', cipherString], {
      encoding: 'utf8',
      env: { ...process.env, OPENSSL_CONF: '/dev/null' },
    });
    const out = new Set<number>();
    for (const line of r.stdout.split('\n')) {
      const m = /0x([0-9A-F]{2}),0x([0-9A-F]{2}) - \S+\s+\S+\s+Kx=(\S+)\s+Au=(\S+)/.exec(line);
      if (!m) continue;
      if (!['ECDH', 'RSA', 'any'].includes(m[3]!) || !['RSA', 'ECDSA', 'any'].includes(m[4]!)) continue;
      out.add(parseInt(m[1]! + m[2]!, 16));
    }
    return out;
  }

  it('SERVED_SUITES is exactly the modern and the legacy context', () => {
    const table = new Set(SERVED_SUITES.map((s) => s.code));
    assert.deepEqual(opensslSuites(tls.DEFAULT_CIPHERS), table);
    assert.deepEqual(opensslSuites(`${tls.DEFAULT_CIPHERS}:${LEGACY_EXTRA_SUITES.join(':')}:@SECLEVEL=0`), table);
  });
});

describe('acceptClientTls', withOpenssl, () => {
  const open: Array<{ close(): void } | OpensslClient> = [];
  after(() => {
    for (const o of open) {
      if ('stop' in o) o.stop();
      else o.close();
    }
  });

  it('accepts the Windows 7-style client on a loopback listener under auto; data round-trips', async () => {
    const h = await harness('auto');
    open.push(h);
    const c = win7Client(h.port, { caFile: pki.caCert });
    open.push(c);
    const res = await h.result;
    assertOk(res);
    assert.equal(res.socket.getProtocol(), 'TLSv1');
    assert.equal(res.decision.context, 'legacy');
    assert.equal(res.decision.policy, 'legacy');
    assert.deepEqual(res.hello.versions, ['TLSv1']);
    assert.match(res.decision.warnings.join(), /TLS 1\.0/);
    await c.waitForOutput(/Protocol version: TLSv1\b/);
    assert.match(c.output(), /Verification: OK/);
    c.send('hello from 2009\n');
    await c.waitForOutput(/echo:hello from 2009/);
    assert.ok(leafs.asked.some((n) => n.join() === ['127.0.0.1', 'localhost', 'mail.test'].join()));
  });

  it('refuses it under strict, naming TLS 1.0, the listener and the setting, with a protocol_version alert', async () => {
    const h = await harness('strict');
    open.push(h);
    const c = win7Client(h.port, { caFile: pki.caCert });
    open.push(c);
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_TLS_VERSION');
    assert.match(
      res.error.message,
      new RegExp(
        `client offered only TLS 1\\.0; listener 127\\.0\\.0\\.1:${h.port} requires TLS 1\\.2 \\(policy\\.client: strict\\)`,
      ),
    );
    assert.match(res.error.message, /set policy\.client: legacy or auto/);
    assert.deepEqual(res.hello?.versions, ['TLSv1']);
    await c.exited;
    assert.match(c.output(), /alert protocol version/);
  });

  it('refuses it under auto when the listener is not loopback', async () => {
    const h = await harness('auto', { listen: '192.168.1.5:1995' });
    open.push(h);
    const c = win7Client(h.port, { caFile: pki.caCert });
    open.push(c);
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_TLS_VERSION');
    assert.match(res.error.message, /policy\.client: auto, which is balanced on 192\.168\.1\.5:1995/);
  });

  it('refuses a TLS 1.2 client offering only SHA-1 signatures under strict, with a handshake_failure alert', async () => {
    const h = await harness('strict');
    open.push(h);
    const c = sha1SigalgsClient(h.port, { caFile: pki.caCert });
    open.push(c);
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_TLS_SIGALGS');
    assert.match(res.error.message, /only SHA-1\/MD5 handshake signature algorithms \(rsa_pkcs1_sha1\)/);
    assert.match(res.error.message, /policy\.client: strict/);
    await c.exited;
    assert.match(c.output(), /alert handshake failure/);
  });

  it('accepts that client under balanced through the level-0 context (TLS 1.2, RSA+SHA1)', async () => {
    const h = await harness('balanced');
    open.push(h);
    const c = sha1SigalgsClient(h.port, { caFile: pki.caCert });
    open.push(c);
    const res = await h.result;
    assertOk(res);
    assert.equal(res.socket.getProtocol(), 'TLSv1.2');
    assert.equal(res.decision.context, 'legacy');
    // -brief prints the peer's handshake signature as "Hash used".
    await c.waitForOutput(/Hash used: SHA1/);
    c.send('ping\n');
    await c.waitForOutput(/echo:ping/);
  });

  it('serves a modern Node client under strict with the certificate verified', async () => {
    const h = await harness('strict');
    open.push(h);
    const s = nodeClient(h.port);
    open.push({ close: () => s.destroy() });
    await new Promise<void>((r, j) => s.once('secureConnect', r).once('error', j));
    assert.equal(s.authorized, true);
    const res = await h.result;
    assertOk(res);
    assert.equal(res.decision.context, 'strict');
    assert.equal(res.socket.getProtocol(), 'TLSv1.3');
    s.write('hi');
    const echoed = await new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
    assert.equal(echoed, 'echo:hi');
  });

  it('explains a client that rejects the certificate', async () => {
    const h = await harness('strict');
    open.push(h);
    const s = tls.connect({ host: '127.0.0.1', port: h.port, servername: 'mail.test' });
    s.on('error', () => {});
    open.push({ close: () => s.destroy() });
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_TLS_HANDSHAKE');
    assert.match(res.error.message, /rejected mailshield's certificate|does not trust/);
    assert.match(res.error.message, /trust the mailshield CA/);
  });

  it('times out a client that sends nothing', async () => {
    const h = await harness('auto', { timeoutMs: 300 });
    open.push(h);
    const s = net.connect(h.port, '127.0.0.1');
    s.on('error', () => {});
    open.push({ close: () => s.destroy() });
    const t0 = Date.now();
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_TLS_TIMEOUT');
    assert.ok(Date.now() - t0 >= 250);
    assert.match(res.error.message, /sent nothing within 300 ms/);
    assert.equal(res.hello, null);
    await new Promise<void>((r) => s.once('close', () => r()));
  });

  it('times out a client that sends half a hello', async () => {
    const bytes = await captureHello((port) => {
      const s = nodeClient(port);
      return { stop: () => s.destroy() };
    });
    const h = await harness('auto', { timeoutMs: 300 });
    open.push(h);
    const s = net.connect(h.port, '127.0.0.1', () => s.write(bytes.subarray(0, 60)));
    s.on('error', () => {});
    open.push({ close: () => s.destroy() });
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_TLS_TIMEOUT');
    assert.match(res.error.message, /sent 60 bytes of a ClientHello/);
  });

  it('names plaintext sent to a TLS listener', async () => {
    const h = await harness('auto');
    open.push(h);
    const s = net.connect(h.port, '127.0.0.1', () => s.write('USER bob\r\n'));
    s.on('error', () => {});
    open.push({ close: () => s.destroy() });
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_NOT_TLS');
    assert.match(res.error.message, /plaintext \("USER bob"\)/);
  });

  it('answers a malformed hello with a decode_error alert', async () => {
    const h = await harness('auto');
    open.push(h);
    const alert = new Promise<Buffer>((resolve) => {
      const s = net.connect(h.port, '127.0.0.1', () => s.write(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])));
      s.on('data', resolve);
      s.on('error', () => {});
      open.push({ close: () => s.destroy() });
    });
    const res = await h.result;
    assertFailed(res, 'MS_ERR_CLIENT_TLS_HANDSHAKE');
    assert.match(res.error.message, /malformed ClientHello/);
    assert.deepEqual([...(await alert)], [0x15, 3, 3, 0, 2, 2, 50]);
  });

  for (const split of ['all', 40] as const) {
    it(`takes a pipelined ClientHello as pending bytes (${split === 'all' ? 'whole hello' : 'first 40 bytes'})`, async () => {
      const h = await harness('strict', {
        pending: (raw) =>
          new Promise<Buffer>((resolve) => {
            raw.once('data', (d: Buffer) => {
              raw.pause();
              if (split === 'all') return resolve(d);
              // The rest stays on the socket, as after a STARTTLS line read with only part of the hello.
              raw.unshift(d.subarray(split));
              resolve(d.subarray(0, split));
            });
          }),
      });
      open.push(h);
      const s = nodeClient(h.port);
      open.push({ close: () => s.destroy() });
      await new Promise<void>((r, j) => s.once('secureConnect', r).once('error', j));
      const res = await h.result;
      assertOk(res);
      assert.equal(res.hello.sni, 'mail.test');
      s.write('pipelined');
      assert.equal(await new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString()))), 'echo:pipelined');
    });
  }

  it('can be driven by a plain openssl s_client at default settings (TLS 1.3)', async () => {
    const h = await harness('strict');
    open.push(h);
    const c = opensslClient(h.port, ['-servername', 'mail.test', '-CAfile', pki.caCert, '-verify_return_error']);
    open.push(c);
    assertOk(await h.result);
    await c.waitForOutput(/Protocol version: TLSv1\.3/);
  });
});

describe('leafNames', () => {
  it('uses the listener host, localhost and SNI, skipping wildcard addresses', () => {
    assert.deepEqual(leafNames('127.0.0.1:1995', 'Mail.Test'), ['127.0.0.1', 'localhost', 'mail.test']);
    assert.deepEqual(leafNames('0.0.0.0:1995', null), ['localhost']);
    assert.deepEqual(leafNames('[::1]:993', 'localhost'), ['::1', 'localhost']);
    assert.deepEqual(leafNames('[::]:993', null), ['localhost']);
  });
});
