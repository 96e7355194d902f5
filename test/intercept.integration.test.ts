// Intercept mode end to end, in a network namespace the test creates: real Dovecot on 127.0.0.2 (995, 143) and real
// Postfix on 127.0.0.3 (587) stand in for an ISP's servers, the shield runs as root with its nftables rules inside
// the namespace, and unmodified clients (curl, Python) run as `nobody` against the servers' real names. Nothing
// leaves 127.0.0.0/8 of the namespace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { originalDestination, viaConntrack, viaGetsockopt } from '../src/io/intercept/original-dst.js';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { enterNetns, netnsUnavailable, type Netns } from './fixtures/netns.js';
import { testLeaf, testPki } from './fixtures/pki.js';
import { startPostfix, type PostfixServer } from './fixtures/postfix.js';
import { eicar, needs, tmpDir, waitFor } from './fixtures/util.js';

const skip = netnsUnavailable() || needs('dovecot', 'postfix', 'curl', 'setpriv', '/usr/bin/python3').skip;
const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'mailshield.js');
const HOSTS = '127.0.0.1 localhost\n127.0.0.2 pop.isp.test imap.isp.test mail.other.test\n127.0.0.3 smtp.isp.test\n';
const NOBODY = '65534';

const infected = (subject: string) =>
  [
    'From: sender@isp.test',
    'To: user@example.test',
    `Subject: ${subject}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b2"',
    '',
    '--b2',
    'Content-Type: text/plain',
    '',
    'See the attachment.',
    '--b2',
    'Content-Type: text/plain; name="eicar.com"',
    'Content-Disposition: attachment; filename="eicar.com"',
    '',
    eicar(),
    '--b2--',
    '',
  ].join('\r\n');

describe('intercept mode (nftables redirect in a test namespace)', { skip, timeout: 300_000 }, () => {
  let ns: Netns;
  let dovecot: Dovecot;
  let postfix: PostfixServer;
  let dir: string;
  let configFile: string;
  let shieldCa: string;
  let shield: { child: ChildProcess; out: () => string; exited: Promise<void> } | null = null;

  /** Runs a command as nobody inside the namespace (ip netns exec gives it the namespace's /etc/hosts). */
  const asNobody = (cmd: string, args: string[], input?: string) => {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns.name, 'setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args],
      { encoding: 'utf8', input, timeout: 60_000, cwd: dir },
    );
    return { status: r.status, out: r.stdout, err: r.stderr };
  };
  const cli = (...args: string[]) =>
    spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, BIN, ...args, '--config', configFile], {
      encoding: 'utf8',
      timeout: 30_000,
    });
  const table = () => spawnSync('nft', ['list', 'table', 'ip', 'mailshield'], { encoding: 'utf8' });

  async function startShieldProcess(): Promise<NonNullable<typeof shield>> {
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, BIN, 'start', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`shield exited: ${out}`);
      return /intercept mode on 127\.0\.0\.1:\d+ \(rules installed\)/.test(out);
    }, 'the shield to install its rules');
    return { child, out: () => out, exited };
  }

  async function stopShield(signal: NodeJS.Signals): Promise<void> {
    if (!shield) return;
    shield.child.kill(signal);
    await shield.exited;
    shield = null;
  }

  before(async () => {
    ns = enterNetns(HOSTS, ['127.0.0.2', '127.0.0.3']);
    try {
      dir = tmpDir('mailshield-intercept-');
      const pop = testLeaf(['pop.isp.test', 'imap.isp.test', 'mail.other.test']);
      dovecot = await startDovecot({
        users: [{ user: 'alice', pass: 'secret' }],
        certPath: pop.cert,
        keyPath: pop.key,
        address: '127.0.0.2',
        ports: [110, 995, 143, 993],
      });
      dovecot.deliver('alice', infected('intercepted infection'));
      const smtp = testLeaf(['smtp.isp.test']);
      postfix = await startPostfix({
        address: '127.0.0.3',
        submissionPort: 587,
        certPath: smtp.cert,
        keyPath: smtp.key,
      });
      configFile = join(dir, 'mailshield.yaml');
      writeFileSync(
        configFile,
        [
          `dataDir: ${join(dir, 'data')}`,
          'accounts: []',
          'log: {level: debug, format: json}',
          'intercept:',
          '  enabled: true',
          '  ports: [995, 143, 587]',
          '  domains: [isp.test]',
          "  hosts: {'127.0.0.2': pop.isp.test}",
          `  upstreamCa: ${testPki().caCert}`,
          '  listen: 127.0.0.1:0',
          '',
        ].join('\n'),
      );
      shield = await startShieldProcess();
      // The clients run as nobody: give them the shield's CA (and the real servers' CA) in a readable place.
      shieldCa = join(dir, 'shield-ca.pem');
      copyFileSync(join(dir, 'data', 'ca', 'ca.pem'), shieldCa);
      copyFileSync(testPki().caCert, join(dir, 'isp-ca.pem'));
      for (const f of [shieldCa, join(dir, 'isp-ca.pem')]) chmodSync(f, 0o644);
    } catch (e) {
      await stopShield('SIGKILL');
      ns.leave();
      throw e;
    }
  });

  after(async () => {
    try {
      await stopShield('SIGKILL');
      await dovecot?.stop();
      await postfix?.stop();
    } finally {
      ns.leave();
    }
  });

  test('POP3 on 995: curl as another uid is intercepted, verifies the shield leaf for pop.isp.test, gets the notice', () => {
    const r = asNobody('curl', [
      '-sS',
      '--cacert',
      shieldCa,
      '--resolve',
      'pop.isp.test:995:127.0.0.2',
      '-u',
      'alice:secret',
      'pop3s://pop.isp.test:995/1',
    ]);
    assert.equal(r.status, 0, `curl failed: ${r.err}\n${shield?.out().slice(-3000)}`);
    assert.match(r.out, /Subject: \[virus removed\] intercepted infection/);
    assert.ok(!r.out.includes(eicar()), 'the virus never reaches the client');
  });

  test('IMAP on 143 with STARTTLS: the plaintext dialogue is relayed, TLS is intercepted for imap.isp.test', () => {
    const r = asNobody('curl', [
      '-sS',
      '--ssl-reqd',
      '--cacert',
      shieldCa,
      '--resolve',
      'imap.isp.test:143:127.0.0.2',
      '-u',
      'alice:secret',
      'imap://imap.isp.test:143/INBOX;UID=1',
    ]);
    assert.equal(r.status, 0, `curl failed: ${r.err}\n${shield?.out().slice(-3000)}`);
    assert.match(r.out, /Subject: \[virus removed\] intercepted infection/);
    assert.ok(!r.out.includes(eicar()));
  });

  const SMTP_CLIENT = [
    'import json, smtplib, ssl, sys',
    'ctx = ssl.create_default_context(cafile=sys.argv[1])',
    "s = smtplib.SMTP('smtp.isp.test', 587, timeout=30)",
    's.starttls(context=ctx)',
    "s.login('user@example.test', 'password')",
    'try:',
    "    s.sendmail('sender@isp.test', ['user@example.test'], sys.stdin.read().encode())",
    "    print(json.dumps({'ok': True}))",
    'except smtplib.SMTPDataError as e:',
    "    print(json.dumps({'ok': False, 'code': e.smtp_code, 'msg': e.smtp_error.decode()}))",
    's.quit()',
  ].join('\n');

  test('SMTP on 587: an infected send gets 554, a clean one reaches Postfix through the shield', async () => {
    const bad = asNobody('/usr/bin/python3', ['-c', SMTP_CLIENT, shieldCa], infected('outgoing infection'));
    assert.equal(bad.status, 0, `python failed: ${bad.err}\n${shield?.out().slice(-3000)}`);
    const res = JSON.parse(bad.out) as { ok: boolean; code?: number; msg?: string };
    assert.equal(res.ok, false);
    assert.equal(res.code, 554);
    const clean = 'From: sender@isp.test\r\nTo: user@example.test\r\nSubject: clean via intercept\r\n\r\nhello\r\n';
    const good = asNobody('/usr/bin/python3', ['-c', SMTP_CLIENT, shieldCa], clean);
    assert.deepEqual(JSON.parse(good.out), { ok: true }, good.err);
    await waitFor(
      () => postfix.delivered().some((m) => m.toString('latin1').includes('Subject: clean via intercept')),
      'delivery by Postfix',
      20_000,
    );
    assert.ok(!postfix.delivered().some((m) => m.toString('latin1').includes('outgoing infection')));
  });

  test("the shield's own upstream sockets pass the rules (marked), so nothing loops", () => {
    const t = table().stdout;
    const exempt = /meta mark 0x00004d53 counter packets (\d+)/.exec(t);
    const redirected = /tcp dport \{ 143, 587, 995 \} counter packets (\d+)/.exec(t);
    assert.ok(exempt && Number(exempt[1]) > 0, `marked upstream packets counted:\n${t}`);
    assert.ok(redirected && Number(redirected[1]) > 0, t);
  });

  test('a server name outside domains is relayed untouched: the client verifies the real server certificate', () => {
    const r = asNobody('curl', [
      '-sS',
      '--cacert',
      join(dir, 'isp-ca.pem'),
      '--resolve',
      'mail.other.test:995:127.0.0.2',
      '-u',
      'alice:secret',
      'pop3s://mail.other.test:995/',
    ]);
    assert.equal(r.status, 0, `curl failed: ${r.err}`);
    assert.match(r.out, /^1 \d+/m, 'the real server listed the message');
  });

  test('a client without SNI and without a hosts entry gets the explained refusal in POP3', () => {
    const py = [
      'import socket, ssl',
      'ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)',
      'ctx.check_hostname = False',
      'ctx.verify_mode = ssl.CERT_NONE',
      "s = ctx.wrap_socket(socket.create_connection(('127.0.0.3', 995), timeout=20))",
      'print(s.recv(4096).decode())',
    ].join('\n');
    const r = asNobody('/usr/bin/python3', ['-c', py]);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /^-ERR .*no server name \(SNI\).*intercept\.hosts: \{127\.0\.0\.3: .*MS_ERR_INTERCEPT_NO_NAME/);
  });

  test('a client without SNI is intercepted under the intercept.hosts name, and gets a leaf for that name', () => {
    const py = [
      'import socket, ssl, sys',
      'ctx = ssl.create_default_context(cafile=sys.argv[1])',
      'ctx.check_hostname = False',
      "s = ctx.wrap_socket(socket.create_connection(('127.0.0.2', 995), timeout=20))",
      "names = [v for k, v in s.getpeercert()['subjectAltName'] if k == 'DNS']",
      "print(' '.join(names))",
      'print(s.recv(4096).decode())',
    ].join('\n');
    const r = asNobody('/usr/bin/python3', ['-c', py, shieldCa]);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /\bpop\.isp\.test\b/, 'the shield leaf names the hosts entry');
    assert.match(r.out, /^\+OK/m, 'the real server greets through the shield');
  });

  test('IPv6: a name that does not resolve to the destination [::1]:995 is refused with the explanation', () => {
    const py = [
      'import socket, ssl',
      'ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)',
      'ctx.check_hostname = False',
      'ctx.verify_mode = ssl.CERT_NONE',
      "raw = socket.create_connection(('::1', 995), timeout=20)",
      "s = ctx.wrap_socket(raw, server_hostname='imap.isp.test')",
      'print(s.recv(4096).decode())',
    ].join('\n');
    const r = asNobody('/usr/bin/python3', ['-c', py]);
    assert.equal(r.status, 0, r.err);
    assert.match(
      r.out,
      /^-ERR .*\[::1\]:995 for imap\.isp\.test, but imap\.isp\.test resolves to 127\.0\.0\.2.*MS_ERR_INTERCEPT_DESTINATION/,
    );
  });

  test('STARTTLS to a server outside domains: the whole dialogue, TLS included, passes untouched', () => {
    const r = asNobody('curl', [
      '-sS',
      '--ssl-reqd',
      '--cacert',
      join(dir, 'isp-ca.pem'),
      '--resolve',
      'mail.other.test:143:127.0.0.2',
      '-u',
      'alice:secret',
      'imap://mail.other.test:143/INBOX;UID=1',
    ]);
    assert.equal(r.status, 0, `curl failed: ${r.err}`);
    // Untouched: the original message, not the shield's notice.
    assert.match(r.out, /^Subject: intercepted infection/m);
  });

  test("SMTP client sending MAIL before STARTTLS gets mailshield's 530 with the reason instead of a relay", () => {
    const py = [
      'import smtplib',
      "s = smtplib.SMTP('smtp.isp.test', 587, timeout=30)",
      's.ehlo()',
      "code, msg = s.mail('sender@isp.test')",
      'print(code, msg.decode())',
    ].join('\n');
    const r = asNobody('/usr/bin/python3', ['-c', py]);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /^530 5\.7\.0 .*only after STARTTLS.*sent MAIL in clear.*MS_ERR_INTERCEPT_PLAINTEXT/);
  });

  for (const [family, listenOn, dialled] of [
    ['ip', '127.0.0.1', '127.0.0.4'],
    ['ip6', '::1', '::1'],
  ] as const) {
    const title = `original destination (${family}): SO_ORIGINAL_DST via koffi and the conntrack fallback agree`;
    test(title, { timeout: 20_000 }, async () => {
      const server = net.createServer();
      await new Promise<void>((r) => server.listen(0, listenOn, () => r()));
      const port = (server.address() as net.AddressInfo).port;
      const rules = `table ${family} mstest {\n chain out {\n  type nat hook output priority -100; policy accept;\n  tcp dport 1143 redirect to :${port}\n }\n}\n`;
      assert.equal(spawnSync('nft', ['-f', '-'], { input: rules }).status, 0);
      const sockets: net.Socket[] = [];
      try {
        const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
        sockets.push(net.connect(1143, dialled));
        const sock = await accepted;
        sockets.push(sock);
        assert.deepEqual(viaGetsockopt(sock), { ip: dialled, port: 1143 }, 'getsockopt');
        assert.deepEqual(await viaConntrack(sock), { ip: dialled, port: 1143 }, 'conntrack');
        assert.deepEqual(await originalDestination(sock), { ip: dialled, port: 1143 });
      } finally {
        for (const x of sockets) x.destroy();
        spawnSync('nft', ['delete', 'table', family, 'mstest']);
        server.close();
      }
    });
  }

  test('intercept status shows the rules and the decisions with original destination and name', () => {
    const r = cli('intercept', 'status');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /table ip mailshield: installed/);
    assert.match(r.stdout, /-> 127\.0\.0\.2:995 pop3\/implicit intercept as pop\.isp\.test \(sni\)/);
    assert.match(r.stdout, /-> 127\.0\.0\.2:143 imap\/starttls intercept as imap\.isp\.test \(sni\)/);
    assert.match(r.stdout, /-> 127\.0\.0\.2:995 pop3\/implicit passthrough as mail\.other\.test/);
    assert.match(r.stdout, /-> 127\.0\.0\.3:995 pop3\/implicit refuse: .*no server name/);
    assert.match(r.stdout, /-> 127\.0\.0\.2:995 pop3\/implicit intercept as pop\.isp\.test \(hosts\)/);
    assert.match(
      r.stdout,
      /-> \[::1\]:995 pop3\/implicit refuse as imap\.isp\.test \(sni\): .*resolves to 127\.0\.0\.2/,
    );
    assert.match(r.stdout, /-> 127\.0\.0\.2:143 imap\/starttls passthrough as mail\.other\.test/);
    // A loop would have brought the shield's own upstream connection back as a decision for 127.0.0.1.
    assert.doesNotMatch(r.stdout, /^ {2}\S+ 127\.0\.0\.\d+:\d+ -> 127\.0\.0\.1:/m);
    const ca = cli('ca', 'path');
    assert.equal(ca.stdout.trim(), join(dir, 'data', 'ca', 'ca.pem'), ca.stderr);
  });

  test('stopping removes the rules; after SIGKILL the next start replaces them and its stop removes them', async () => {
    await stopShield('SIGTERM');
    assert.notEqual(table().status, 0, 'no mailshield table after a clean stop');
    shield = await startShieldProcess();
    const firstPort = /intercept mode on 127\.0\.0\.1:(\d+)/.exec(shield.out())![1];
    await stopShield('SIGKILL');
    assert.match(table().stdout, new RegExp(`redirect to :${firstPort}`), 'a killed shield leaves its rules');
    shield = await startShieldProcess();
    const port = /intercept mode on 127\.0\.0\.1:(\d+)/.exec(shield.out())![1];
    const t = table().stdout;
    assert.equal([...t.matchAll(/redirect to :/g)].length, 1, t);
    assert.match(t, new RegExp(`redirect to :${port}`));
    const r = asNobody('curl', [
      '-sS',
      '--cacert',
      shieldCa,
      '--resolve',
      'pop.isp.test:995:127.0.0.2',
      '-u',
      'alice:secret',
      'pop3s://pop.isp.test:995/',
    ]);
    assert.equal(r.status, 0, r.err);
    await stopShield('SIGTERM');
    assert.notEqual(table().status, 0, 'no mailshield table after the second stop');
    assert.ok(readFileSync(configFile, 'utf8').includes('intercept'));
  });
});
