// The client leg's hardening (issue 12 item 8), with openssl s_client against acceptClientTls on 127.0.0.1: the
// strict policy serves forward-secret AEAD suites only, and no context accepts a client-initiated renegotiation.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ClientPolicyName } from '../src/core/config.js';
import { acceptClientTls, type ClientTlsResult } from '../src/io/client-tls.js';
import { SERVED_SUITES, STRICT_SUITES } from '../src/tls/client-policy.js';
import type { LeafPair } from '../src/core/tls-facts.js';
import { testPki, type TestPki } from './fixtures/pki.js';
import { needs } from './fixtures/util.js';
import { opensslClient, win7Client, type OpensslClient } from './fixtures/win7.js';

let pki: TestPki;
let pair: LeafPair;
before(() => {
  pki = testPki();
  const r = (p: string) => readFileSync(p, 'utf8');
  pair = { keys: [r(pki.key.rsa), r(pki.key.ec)], certs: [r(pki.crt.rsa), r(pki.crt.ec)] };
});

interface Harness {
  port: number;
  result: Promise<ClientTlsResult>;
  close(): void;
}

/** Runs acceptClientTls on the first connection and echoes "echo:<data>" once TLS is up. */
async function harness(policy: ClientPolicyName): Promise<Harness> {
  const sockets: net.Socket[] = [];
  let resolveResult!: (r: ClientTlsResult) => void;
  const result = new Promise<ClientTlsResult>((r) => (resolveResult = r));
  const server = net.createServer((raw) => {
    sockets.push(raw);
    raw.on('error', () => {});
    void acceptClientTls(raw, {
      leafs: { get: async () => pair },
      policy,
      listen: `127.0.0.1:${port}`,
      handshakeTimeoutMs: 10_000,
    }).then((res) => {
      if (res.ok) {
        res.socket.on('data', (d: Buffer) => res.socket.write(`echo:${d.toString()}`));
        res.socket.on('error', () => {});
      }
      resolveResult(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    result,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const tls12 = (port: number, cipher: string): OpensslClient =>
  opensslClient(port, ['-tls1_2', '-servername', 'localhost', '-CAfile', pki.caCert, '-cipher', cipher]);

describe('client policy strict: forward-secret AEAD suites only', needs('openssl'), () => {
  const open: { stop(): void }[] = [];
  after(() => open.forEach((o) => o.stop()));

  it('STRICT_SUITES is what OpenSSL enables for the strict context, and a subset of what the shield serves', () => {
    const r = spawnSync('openssl', ['ciphers', '-V', STRICT_SUITES.join(':')], {
      encoding: 'utf8',
      env: { ...process.env, OPENSSL_CONF: '/dev/null' },
    });
    const enabled = [
      ...r.stdout.matchAll(/0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)\s+\S+\s+Kx=(\S+)\s+Au=\S+\s+Enc=(\S+)/g),
    ];
    assert.deepEqual(new Set(enabled.map((m) => m[3])), new Set(STRICT_SUITES));
    for (const m of enabled) {
      assert.match(m[4]!, /^(ECDH|any)$/, `${m[3]}: forward-secret key exchange`);
      assert.match(m[5]!, /GCM|CHACHA20/, `${m[3]}: AEAD`);
      assert.ok(
        SERVED_SUITES.some((s) => s.code === parseInt(m[1]! + m[2]!, 16)),
        `${m[3]} is served`,
      );
    }
  });

  for (const [cipher, iana] of [
    ['AES128-SHA', 'TLS_RSA_WITH_AES_128_CBC_SHA'],
    ['ECDHE-RSA-AES128-SHA', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'],
    ['AES128-GCM-SHA256', 'TLS_RSA_WITH_AES_128_GCM_SHA256'],
    ['AES256-SHA256', 'TLS_RSA_WITH_AES_256_CBC_SHA256'],
  ]) {
    it(`refuses a TLS 1.2 client offering only ${cipher}, explaining what strict serves`, async () => {
      const h = await harness('strict');
      open.push({ stop: h.close });
      const c = tls12(h.port, cipher);
      open.push(c);
      const res = await h.result;
      assert.equal(res.ok, false);
      if (res.ok) return;
      assert.equal(res.error.code, 'MS_ERR_CLIENT_TLS_CIPHERS', res.error.message);
      assert.match(res.error.message, /no forward-secret AEAD cipher suite/);
      assert.match(res.error.message, new RegExp(`offered: .*cipher suites ${iana}\\b`));
      assert.match(res.error.message, /set policy\.client: balanced/);
      await c.exited;
      assert.match(c.output(), /alert handshake failure/);
    });
  }

  it('accepts ECDHE-RSA-AES128-GCM-SHA256, and picks it over CBC and static RSA offered first', async () => {
    for (const offer of [
      'ECDHE-RSA-AES128-GCM-SHA256',
      'AES128-SHA:AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256',
    ]) {
      const h = await harness('strict');
      open.push({ stop: h.close });
      const c = tls12(h.port, offer);
      open.push(c);
      const res = await h.result;
      assert.equal(res.ok, true, res.ok ? '' : res.error.message);
      if (!res.ok) return;
      assert.equal(res.decision.context, 'strict');
      assert.equal(res.socket.getCipher().name, 'ECDHE-RSA-AES128-GCM-SHA256');
      await c.waitForOutput(/Ciphersuite: ECDHE-RSA-AES128-GCM-SHA256/);
      c.send('hi\n');
      await c.waitForOutput(/echo:hi/);
      c.stop();
    }
  });

  it('accepts TLS 1.3', async () => {
    const h = await harness('strict');
    open.push({ stop: h.close });
    const c = opensslClient(h.port, ['-tls1_3', '-servername', 'localhost', '-CAfile', pki.caCert]);
    open.push(c);
    const res = await h.result;
    assert.equal(res.ok && res.socket.getProtocol(), 'TLSv1.3');
    await c.waitForOutput(/Protocol version: TLSv1\.3/);
  });
});

describe('client-initiated renegotiation is refused on the client leg', needs('openssl'), () => {
  const open: { stop(): void }[] = [];
  after(() => open.forEach((o) => o.stop()));

  const cases: [string, ClientPolicyName, (port: number) => OpensslClient][] = [
    ['strict context (TLS 1.2)', 'strict', (p) => tls12(p, 'ECDHE-RSA-AES128-GCM-SHA256')],
    ['modern context (TLS 1.2, CBC)', 'balanced', (p) => tls12(p, 'ECDHE-RSA-AES128-SHA')],
    [
      'legacy context (Windows 7-style TLS 1.0)',
      'auto',
      (p) => win7Client(p, { caFile: pki.caCert, servername: 'localhost' }),
    ],
  ];
  for (const [name, policy, client] of cases) {
    it(`${name}: s_client's R gets no_renegotiation, and no second handshake happens`, async () => {
      const h = await harness(policy);
      open.push({ stop: h.close });
      const c = client(h.port);
      open.push(c);
      const res = await h.result;
      assert.equal(res.ok, true, res.ok ? '' : res.error.message);
      if (!res.ok) return;
      // Node reports 'secure' again when OpenSSL merely processes a renegotiation ClientHello; the Finished message
      // tells a real new handshake (new value) from a refused one (same value).
      const finished = [res.socket.getFinished()?.toString('hex')];
      res.socket.on('secure', () => finished.push(res.socket.getFinished()?.toString('hex')));
      c.send('before\n');
      await c.waitForOutput(/echo:before/);
      c.send('R\n');
      await c.waitForOutput(/no renegotiation/);
      await c.exited;
      assert.ok(finished[0], 'a Finished message was recorded');
      assert.deepEqual(new Set(finished), new Set([finished[0]]), 'the session was never renegotiated');
    });
  }
});
