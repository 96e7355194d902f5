// Certificate refusals that name the certificate and the specific cause (issue 12 item 9), against real TLS servers
// on 127.0.0.1 serving chains made by test/fixtures/pki.ts: OpenSSL reads the first three all as INVALID_PURPOSE, and
// a missing intermediate like an unknown root. `mailshield probe` explains each the same way (one verification).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { ErrorCode } from '../src/core/errors.js';
import { connectUpstreamTcp, upgradeUpstreamTls, type UpstreamTarget } from '../src/io/upstream.js';
import { loadOrCreateCa } from '../src/store/ca-files.js';
import { generateLeafKeys, issueLeafCert } from '../src/tls/leaf-cache.js';
import { chainPki, testPki, type ChainCase } from './fixtures/pki.js';
import { probeJson } from './probe-cli.js';
import { needs, tmpDir } from './fixtures/util.js';

interface Served {
  port: number;
  close(): void;
}

async function serve(key: string | Buffer, cert: string | Buffer): Promise<Served> {
  const server = tls.createServer({ key, cert }, (s) => {
    s.on('error', () => {});
    s.end();
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

function target(port: number, servername = 'mail.test'): UpstreamTarget {
  return {
    account: 'certs',
    host: '127.0.0.1',
    port,
    servername,
    extraCa: [readFileSync(chainPki().caCert, 'utf8')],
    policy: 'balanced',
    exceptions: [],
    now: new Date(),
    timeoutMs: 5000,
  };
}

async function refusal(t: UpstreamTarget) {
  const res = await upgradeUpstreamTls(await connectUpstreamTcp(t), t);
  if (res.ok) res.socket.destroy();
  assert.equal(res.ok, false, 'refused');
  if (res.ok) throw new Error('unreachable');
  return res;
}

const CASES: { kind: ChainCase; code: ErrorCode; rule: string; text: RegExp }[] = [
  {
    kind: 'notCa',
    code: 'MS_ERR_UPSTREAM_CERT_BAD_INTERMEDIATE',
    rule: 'cert-intermediate-not-ca',
    text: /chain certificate #1 \(CN=Test Intermediate Not A CA\) issued CN=mail\.test but is not a CA: basicConstraints says CA:FALSE \(OpenSSL: INVALID_PURPOSE\)/,
  },
  {
    kind: 'v1',
    code: 'MS_ERR_UPSTREAM_CERT_BAD_INTERMEDIATE',
    rule: 'cert-intermediate-v1',
    text: /chain certificate #1 \(CN=Test Intermediate Version 1\), which issued CN=mail\.test, is an X\.509 version 1 certificate/,
  },
  {
    kind: 'clientAuth',
    code: 'MS_ERR_UPSTREAM_CERT_PURPOSE',
    rule: 'cert-purpose',
    text: /certificate CN=mail\.test is not for a server: its extendedKeyUsage allows clientAuth, not serverAuth/,
  },
  {
    kind: 'incomplete',
    code: 'MS_ERR_UPSTREAM_CERT_INCOMPLETE_CHAIN',
    rule: 'cert-chain-incomplete',
    text: /the server did not send its intermediate certificate: it sent only its own certificate \(CN=mail\.test\), issued by CN=Test Intermediate CA, an intermediate CA \(not a root; it is published at http:\/\/pki\.example\.test\/issuer\.crt\)/,
  },
];

describe('upstream certificate refusals name the certificate and the cause', needs('openssl'), () => {
  const servers = new Map<ChainCase, Served>();
  before(async () => {
    const pki = chainPki();
    for (const [kind, c] of Object.entries(pki.cases) as [ChainCase, { served: string }][])
      servers.set(kind, await serve(readFileSync(pki.key), readFileSync(c.served)));
  });
  after(() => servers.forEach((s) => s.close()));

  test('the complete chain through the intermediate is accepted (the fixture is sound)', async () => {
    const t = target(servers.get('good')!.port);
    const res = await upgradeUpstreamTls(await connectUpstreamTcp(t), t);
    assert.equal(res.ok, true, res.ok ? '' : res.error.message);
    if (res.ok) res.socket.destroy();
  });

  for (const c of CASES) {
    test(`${c.kind}: ${c.code} (${c.rule}), and probe says the same`, async () => {
      const port = servers.get(c.kind)!.port;
      const res = await refusal(target(port));
      assert.equal(res.error.code, c.code, res.error.message);
      assert.match(res.error.message, c.text);
      assert.match(res.error.message, /^upstream 127\.0\.0\.1:\d+: /);
      assert.deepEqual(
        res.facts?.findings.filter((f) => f.level === 'refusal').map((f) => [f.rule, f.code]),
        [[c.rule, c.code]],
      );
      const { code, r } = await probeJson(port);
      assert.equal(code, 1);
      assert.deepEqual(r.verification.codes, [c.code]);
      assert.match(r.verification.errors.join('\n'), c.text);
    });
  }

  test('a truly unknown root (no intermediate expected) keeps the trust-store explanation', async () => {
    const pki = testPki();
    const s = await serve(readFileSync(pki.key.untrusted), readFileSync(pki.crt.untrusted));
    try {
      const res = await refusal(target(s.port));
      assert.equal(res.error.code, 'MS_ERR_UPSTREAM_CERT_UNTRUSTED');
      assert.match(
        res.error.message,
        /chains to CN=Untrusted Test CA, which is not in the system trust store or upstreamCa/,
      );
    } finally {
      s.close();
    }
  });

  test('a leaf from a mailshield interception CA: the upstream is a mailshield (a loop), said so', async () => {
    const now = new Date();
    const ca = await loadOrCreateCa({ dataDir: tmpDir('mailshield-loop-'), permittedNames: ['localhost'], now });
    const keys = await generateLeafKeys();
    const leaf = await issueLeafCert(
      ca,
      keys.ec,
      ['localhost'],
      new Date(now.getTime() - 60_000),
      new Date(now.getTime() + 86_400_000),
    );
    const s = await serve(keys.ec.privateKeyPem, leaf.toString('pem'));
    try {
      const res = await refusal(target(s.port, 'localhost'));
      assert.equal(res.error.code, 'MS_ERR_UPSTREAM_CERT_SHIELD_LOOP', res.error.message);
      assert.match(
        res.error.message,
        new RegExp(
          `presented CN=localhost, O=mailshield, a certificate made by mailshield's interception CA \\(${ca.subject.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): the upstream is this mailshield itself or another mailshield`,
        ),
      );
      assert.match(res.error.message, /Set the account's upstream to the real mail server's host and port/);
    } finally {
      s.close();
    }
  });
});
