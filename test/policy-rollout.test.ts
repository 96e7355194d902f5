// policy.candidate on real traffic (issue 16): a shield with upstream balanced / candidate strict and client auto /
// candidate strict, in front of a real Dovecot directly (modern) and behind the story's ISP-like TLS front (RSA+SHA1
// key exchange), visited by curl (modern) and an `openssl s_client -tls1` Windows 7-style client. Every connection
// works; `mailshield policy report` names the two story peers with the right explanation and count, and nothing else.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { validateConfig } from '../src/core/config.js';
import type { ShieldHandle } from '../src/io/server.js';
import type { PolicyReport } from '../src/probe/policy-report.js';
import { openDb, storePath } from '../src/store/db.js';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { startIspFront, type IspFront } from './fixtures/peers.js';
import { testPki } from './fixtures/pki.js';
import { startTestShield } from './fixtures/shield.js';
import { freePort, needs, tmpDir } from './fixtures/util.js';
import { win7Client } from './fixtures/win7.js';

const requirements = needs('dovecot', 'curl', 'openssl');
const bin = fileURLToPath(new URL('../../bin/mailshield.js', import.meta.url));
const USER = 'carol';
const PASS = 'rollout-Secret';
const MSG = 'From: a@mail.test\r\nSubject: rollout\r\nMessage-ID: <r@mail.test>\r\n\r\nhello\r\n';

function exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

interface Rig {
  shield: ShieldHandle;
  configFile: string;
  dataDir: string;
  ports: { isp: number; modern: number };
}

describe('policy.candidate judged on real traffic', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let isp: IspFront;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    dovecot.deliver(USER, MSG);
    isp = await startIspFront(dovecot.pop3Port);
  });
  after(async () => {
    await isp?.close();
    await dovecot?.stop();
  });

  async function rig(candidate: Record<string, string> | undefined): Promise<Rig> {
    const dataDir = tmpDir('mailshield-rollout-');
    const ports = { isp: await freePort(), modern: await freePort() };
    const base = {
      protocol: 'pop3',
      clientTls: 'implicit',
      upstreamTls: 'implicit',
      upstreamServername: 'mail.test',
      upstreamCa: testPki().caCert,
    };
    const raw = {
      dataDir,
      policy: { client: 'auto', upstream: 'balanced', ...(candidate && { candidate }) },
      accounts: [
        { ...base, name: 'isp', listen: `127.0.0.1:${ports.isp}`, upstream: `127.0.0.1:${isp.port}` },
        { ...base, name: 'modern', listen: `127.0.0.1:${ports.modern}`, upstream: `127.0.0.1:${dovecot.pop3sPort}` },
      ],
    };
    const configFile = join(dataDir, 'mailshield.yaml');
    writeFileSync(configFile, stringify(raw));
    const shield = await startTestShield(validateConfig(raw, configFile));
    return { shield, configFile, dataDir, ports };
  }

  async function modernClient(r: Rig, port: number): Promise<void> {
    const got = await exec('curl', [
      '-sS',
      '--max-time',
      '20',
      '-u',
      `${USER}:${PASS}`,
      '--cacert',
      r.shield.ca.certPath,
      `pop3s://127.0.0.1:${port}/1`,
    ]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, MSG);
  }

  async function windows7Client(r: Rig, port: number): Promise<void> {
    const c = win7Client(port, { caFile: r.shield.ca.certPath, servername: 'localhost' });
    try {
      await c.waitForOutput(/\+OK/);
      assert.match(c.output(), /Protocol version: TLSv1\b/);
      c.send(`USER ${USER}\r\nPASS ${PASS}\r\nRETR 1\r\n`);
      await c.waitForOutput(/hello\r?\n\.\r?\n/, 15_000);
      c.send('QUIT\r\n');
      await c.exited;
    } finally {
      c.stop();
    }
  }

  /** The story's traffic: the ISP account read twice by a modern client, the modern account by both clients. */
  async function traffic(r: Rig): Promise<void> {
    await modernClient(r, r.ports.isp);
    await modernClient(r, r.ports.isp);
    await modernClient(r, r.ports.modern);
    await windows7Client(r, r.ports.modern);
  }

  it('every peer works, and policy report names the Windows 7 client and the ISP with explanation and count', async () => {
    const r = await rig({ client: 'strict', upstream: 'strict' });
    try {
      await traffic(r);
    } finally {
      await r.shield.stop();
    }
    const out = await exec(process.execPath, [bin, '--config', r.configFile, 'policy', 'report', '--json']);
    assert.equal(out.code, 1, `exit 1: the candidate would refuse something (${out.stderr})`);
    const report = JSON.parse(out.stdout) as PolicyReport;
    assert.deepEqual(report.candidate, { client: 'strict', upstream: 'strict' });
    assert.equal(report.peers.length, 2, `only the two story peers: ${JSON.stringify(report.peers, null, 1)}`);

    const up = report.peers.find((p) => p.leg === 'upstream')!;
    assert.equal(up.peer, `127.0.0.1:${isp.port}`);
    assert.equal(up.count, 2);
    assert.deepEqual(up.accounts, ['isp']);
    assert.equal(up.policy, 'balanced');
    assert.equal(up.code, 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE');
    assert.match(
      up.explanation,
      new RegExp(
        `^upstream 127\\.0\\.0\\.1:${isp.port} signed its key exchange with RSA\\+SHA1; policy 'strict' requires SHA-256 or better`,
      ),
    );
    assert.match(
      up.admit ?? '',
      /^policy\.exceptions: \{host: mail\.test, allow: \[sha1-handshake-signature\], until: \d{4}-\d{2}-\d{2}\}$/,
    );

    const cl = report.peers.find((p) => p.leg === 'client')!;
    assert.equal(cl.count, 1);
    assert.deepEqual(cl.accounts, ['modern']);
    assert.equal(cl.policy, 'legacy', 'auto on loopback');
    assert.equal(cl.code, 'MS_ERR_CLIENT_TLS_VERSION');
    assert.match(cl.label, /^versions TLS 1\.0; cipher suites .*AES_256_CBC_SHA/);
    assert.match(
      cl.explanation,
      new RegExp(
        `^client offered only TLS 1\\.0; listener 127\\.0\\.0\\.1:${r.ports.modern} requires TLS 1\\.2 \\(policy\\.client: strict\\)`,
      ),
    );
    assert.match(cl.admit ?? '', /set policy\.client: legacy or auto/);

    const human = await exec(process.execPath, [bin, '--config', r.configFile, 'policy', 'report', '--since', '1d']);
    assert.match(human.stdout, /WOULD REFUSE upstream 127\.0\.0\.1:\d+ \(mail\.test\)\n\s+2 handshakes on isp/);
    assert.match(human.stdout, /WOULD REFUSE client [0-9a-f]{16}: versions TLS 1\.0/);

    const doctor = await exec(process.execPath, [bin, '--config', r.configFile, 'doctor', '--timeout', '5000']);
    assert.match(doctor.stdout, /Seen in real traffic under the candidate since/);
    assert.match(doctor.stdout, /1 handshake on modern/);
    assert.match(doctor.stdout, /2 handshakes on isp/);
  });

  it('the same handshakes under no candidate store no such events', async () => {
    const r = await rig(undefined);
    try {
      await traffic(r);
    } finally {
      await r.shield.stop();
    }
    const db = openDb(storePath(r.dataDir));
    try {
      const n = db.prepare('SELECT COUNT(*) AS n FROM would_refuse').get() as { n: number };
      assert.equal(n.n, 0);
      const hs = db.prepare("SELECT COUNT(*) AS n FROM handshakes WHERE leg = 'upstream'").get() as { n: number };
      assert.equal(hs.n, 4, 'the handshakes themselves were recorded');
    } finally {
      db.close();
    }
    const out = await exec(process.execPath, [bin, '--config', r.configFile, 'policy', 'report', '--json']);
    assert.equal(out.code, 0);
    assert.deepEqual((JSON.parse(out.stdout) as PolicyReport).peers, []);
  });
});
