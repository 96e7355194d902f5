// A new user's first run (issue 9): `npm start` (node bin/mailshield.js start) in a folder with no configuration
// starts the embedded demo and prints a banner. The test runs the banner's own commands, exactly as printed, and
// checks what they show: the EICAR message comes back as a notice, the quarantine holds the original byte for byte,
// the probe of the ISP-like server reports a SHA-1 handshake signature. Then SIGTERM, and a clean exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { demoMessages, EICAR_MESSAGE_NUMBER } from '../src/demo/mailbox.js';
import { freePort, needs, tmpDir } from './fixtures/util.js';

const exec = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/mailshield.js', import.meta.url));

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startIn(cwd: string, args: string[] = []): Started {
  const env = { ...process.env };
  delete env.MAILSHIELD_CONFIG;
  const child = spawn(process.execPath, [bin, ...args, 'start'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until(fn: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs one banner command line in a shell, as a user pasting it would. */
async function sh(cmd: string, cwd: string): Promise<Buffer> {
  const { stdout } = await exec('sh', ['-c', cmd], { cwd, encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });

test(
  'npm start with no configuration: the demo runs, the banner commands show the shield at work, SIGTERM exits 0',
  { ...needs('curl'), timeout: 120_000 },
  async () => {
    const dir = tmpDir();
    const p = startIn(dir);
    try {
      await until(
        () => /Stop with Ctrl-C\./.test(p.stdout()),
        `the banner (stdout: ${p.stdout()}, stderr: ${p.stderr()})`,
      );
      const banner = p
        .stdout()
        .split('\n')
        .filter((l) => !l.startsWith('{')); // JSON log lines share stdout when it is not a terminal
      const commands = banner.map((l) => /^\s+\$ (.+)$/.exec(l)?.[1]).filter((c): c is string => c !== undefined);
      const find = (re: RegExp, what: string) => {
        const c = commands.find((x) => re.test(x));
        assert.ok(c, `the banner has a ${what} command: ${commands.join('\n')}`);
        return c;
      };
      const curlEicar = find(/^curl .*pop3s:\/\/127\.0\.0\.1:\d+\/3$/, 'curl download');
      const quarantineList = find(/ quarantine list$/, 'quarantine list');
      const probe = find(/ probe 127\.0\.0\.1:\d+ --servername \S+ --ca /, 'probe');
      const curlSend = find(/smtp:\/\/127\.0\.0\.1:\d+$/, 'SMTP send');
      assert.match(banner.join('\n'), / init\n/, 'the banner says how to write a real config');
      const caPath = /mailshield's CA[^:]*: (.+)$/m.exec(banner.join('\n'))?.[1];
      assert.ok(caPath && existsSync(caPath), `the banner names the CA file (${caPath})`);
      assert.ok(existsSync(join(dir, '.mailshield', 'demo', 'mailshield.demo.yaml')));
      // The dashboard's login URL (8025, or any free port when 8025 is taken) answers.
      const dash = /^\s+(http:\/\/127\.0\.0\.1:\d+)\/#token=\S+$/m.exec(banner.join('\n'))?.[1];
      assert.ok(dash, 'the banner prints the dashboard URL with its token');
      assert.equal((await fetch(`${dash}/healthz`)).status, 200);
      // A new user's path (issue 2): `mailshield ca path` in the same folder names the CA, and openssl reads it.
      const cli = quarantineList.replace(/ quarantine list$/, '');
      const printed = (await sh(`${cli} ca path`, dir)).toString('utf8').trim();
      assert.equal(printed, caPath);
      assert.match(
        (await sh(`openssl x509 -in '${printed}' -noout -subject`, dir)).toString(),
        /subject=.*mailshield/i,
      );
      const msgs = demoMessages();

      // 1. The EICAR message through the shield: a notice, not the message.
      const notice = (await sh(curlEicar, dir)).toString('utf8');
      const headers = notice.split('\r\n\r\n')[0]!;
      assert.match(headers, /^Subject: \[virus removed\] Invoice attached$/m);
      const verdict = /^X-MailShield-Verdict: (.+)$/m.exec(headers)?.[1];
      assert.match(verdict ?? '', /^infected; .*signature=EICAR-Test-File; quarantine=(\w+)/);
      const qid = /quarantine=(\w+)/.exec(verdict!)![1]!;
      assert.ok(!notice.includes('EICAR-STANDARD'), 'nothing of the original body reaches the client');

      // 2. The quarantine holds the original, byte for byte.
      const list = JSON.parse((await sh(`${quarantineList} --json`, dir)).toString('utf8')) as {
        id: string;
        account: string;
        verdict: string;
      }[];
      assert.equal(list.length, 1);
      assert.equal(list[0]!.id, qid);
      assert.equal(list[0]!.account, 'demo-pop3');
      const exportCmd = quarantineList.replace(/ quarantine list$/, ` quarantine export ${qid}`);
      const original = await sh(exportCmd, dir);
      assert.ok(original.equals(msgs[EICAR_MESSAGE_NUMBER - 1]!.bytes), 'the quarantined original is the demo message');

      // 3. The probe of the ISP-like server: a SHA-1 key exchange signature, accepted with a warning by balanced.
      const probeOut = JSON.parse((await sh(`${probe} --json`, dir)).toString('utf8')) as {
        tls: { peerSigningDigest: string | null; protocol: string | null };
        profiles: Record<string, { verdict: string }>;
        acceptable: boolean;
      };
      assert.equal(probeOut.tls.peerSigningDigest, 'SHA1');
      assert.equal(probeOut.tls.protocol, 'TLSv1.2');
      assert.equal(probeOut.profiles.balanced?.verdict, 'warn');
      assert.equal(probeOut.profiles.strict?.verdict, 'refused');
      assert.equal(probeOut.acceptable, true);

      // The clean messages come through byte-identical (dots included), from the ISP-like server too: the
      // shield's balanced policy accepts what OpenSSL's defaults would refuse.
      const clean = curlEicar.replace(/\/3$/, '/2');
      assert.equal((await sh(clean, dir)).toString('latin1'), msgs[1]!.bytes.toString('latin1'));
      const ispPort = /pop3s\s+127\.0\.0\.1:(\d+)\s+→ pop\.isp\.test/.exec(banner.join('\n'))?.[1];
      assert.ok(ispPort, 'the banner lists the shield account in front of the ISP-like server');
      const viaIsp = clean.replace(/:\d+\/2$/, `:${ispPort}/1`);
      assert.equal((await sh(viaIsp, dir)).toString('latin1'), msgs[0]!.bytes.toString('latin1'));

      // 4. Mail sent through the SMTP shield lands in the demo mailbox as message 4.
      await sh(curlSend, dir);
      const listing = (await sh(curlEicar.replace(/\/3$/, '/'), dir)).toString('latin1');
      assert.equal(listing.trim().split('\r\n').length, 4, listing);
      assert.match((await sh(curlEicar.replace(/\/3$/, '/4'), dir)).toString('utf8'), /Sent through mailshield\./);

      // 5. SIGTERM: a clean exit, and the demo servers are gone with it.
      const ports = [...banner.join('\n').matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, p.stderr());
      for (const port of new Set(ports)) assert.ok(await refused(port), `port ${port} is closed after exit`);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  },
);

test('with a configuration file, start runs that configuration and nothing of the demo', async () => {
  const dir = tmpDir();
  const listen = await freePort();
  writeFileSync(
    join(dir, 'mailshield.yaml'),
    `dataDir: ./data
log: { level: warn, format: json }
shutdownTimeoutMs: 1000
dashboard: { enabled: false }
accounts:
  - name: mine
    protocol: pop3
    listen: 127.0.0.1:${listen}
    clientTls: implicit
    upstream: 127.0.0.1:${await freePort()}
    upstreamServername: mail.test
    upstreamTls: implicit
`,
  );
  const p = startIn(dir);
  try {
    await until(() => /listening/.test(p.stderr()), `start (stderr: ${p.stderr()})`);
    assert.match(p.stderr(), new RegExp(`mine \\(pop3\\) on 127\\.0\\.0\\.1:${listen}`));
    assert.doesNotMatch(p.stdout(), /demo/);
    assert.ok(!existsSync(join(dir, 'data', 'demo')), 'no demo files');
    assert.ok(!existsSync(join(dir, '.mailshield')), 'nothing in the default dataDir');
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.stderr());
  } finally {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
});
