import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { needs, run, tmpDir } from '../../test/fixtures/util.js';
import { registerCaCommands, type CaCommandIo } from './ca-commands.js';

interface Result {
  out: string;
  outBytes: Buffer;
  err: string;
  updates: number;
}

function setup(yaml = 'dataDir: ./data\n'): { dir: string; config: string; storeDir: string } {
  const dir = tmpDir();
  const config = join(dir, 'mailshield.yaml');
  writeFileSync(config, yaml);
  const storeDir = join(dir, 'store');
  run('mkdir', [storeDir]);
  return { dir, config, storeDir };
}

/** Runs `mailshield -c CONFIG ca ...` through commander, as main.ts wires it, capturing what it prints. */
async function ca(
  env: { config: string; storeDir: string },
  args: string[],
  updateResult: { status: number; output: string } | null = { status: 0, output: '1 added, 0 removed; done.' },
): Promise<Result> {
  const chunks: Buffer[] = [];
  const res: Result = { out: '', outBytes: Buffer.alloc(0), err: '', updates: 0 };
  const io: CaCommandIo = {
    out: (s) => void chunks.push(Buffer.from(s)),
    err: (s) => void (res.err += s),
    now: () => new Date(),
    linuxStoreDir: env.storeDir,
    updateCaCertificates: () => {
      res.updates++;
      return updateResult;
    },
  };
  const program = new Command('mailshield').exitOverride().option('-c, --config <file>', 'configuration file');
  registerCaCommands(program, io);
  await program.parseAsync(['-c', env.config, 'ca', ...args], { from: 'user' });
  res.outBytes = Buffer.concat(chunks);
  res.out = res.outBytes.toString('utf8');
  return res;
}

test('ca path makes the CA on first use and prints a file openssl x509 reads', needs('openssl'), async () => {
  const env = setup();
  const first = await ca(env, ['path']);
  const path = first.out.trim();
  assert.equal(path, join(env.dir, 'data', 'ca', 'ca.pem'));
  assert.match(first.err, /made a new local CA/);
  assert.match(run('openssl', ['x509', '-in', path, '-noout', '-subject']), /subject=CN = mailshield local CA /);
  const again = await ca(env, ['path']);
  assert.equal(again.out.trim(), path);
  assert.equal(again.err, '', 'the second run reuses the CA silently');
});

test('ca export: PEM to stdout, DER to a file or stdout', needs('openssl'), async () => {
  const env = setup();
  const path = (await ca(env, ['path'])).out.trim();
  const pem = readFileSync(path, 'utf8');
  assert.equal((await ca(env, ['export'])).out, pem);

  const der = join(env.dir, 'ca.der');
  const r = await ca(env, ['export', '--der', '--out', der]);
  assert.match(r.err, /wrote DER CA certificate to/);
  const fpDer = run('openssl', ['x509', '-inform', 'DER', '-in', der, '-noout', '-fingerprint', '-sha256']);
  const fpPem = run('openssl', ['x509', '-in', path, '-noout', '-fingerprint', '-sha256']);
  assert.equal(fpDer, fpPem);
  assert.deepEqual((await ca(env, ['export', '--der'])).outBytes, readFileSync(der));
});

test('ca install writes the Linux store file, runs update-ca-certificates, prints the other stores', async () => {
  const env = setup();
  const r = await ca(env, ['install']);
  const files = readdirSync(env.storeDir);
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^mailshield-[0-9a-f]{16}\.crt$/);
  const certPath = join(env.dir, 'data', 'ca', 'ca.pem');
  const pem = readFileSync(certPath, 'utf8');
  assert.equal(readFileSync(join(env.storeDir, files[0]!), 'utf8'), pem);
  const fp = new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
  assert.equal(files[0], `mailshield-${fp.slice(0, 16)}.crt`);
  assert.equal(r.updates, 1);
  assert.match(r.out, new RegExp(`SHA-256 fingerprint: ${fp}`));
  assert.match(r.out, new RegExp(`Wrote ${join(env.storeDir, files[0]!)}\\.`));
  assert.match(r.out, /Ran update-ca-certificates: 1 added, 0 removed; done\./);
  assert.ok(r.out.includes(`certutil -addstore -user Root ${certPath}`), r.out);
  assert.ok(
    r.out.includes(`security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db ${certPath}`),
  );
  assert.ok(
    r.out.includes(`certutil -d sql:PROFILE -A -t "C,," -n "mailshield local CA ${fp.slice(0, 16)}" -i ${certPath}`),
  );

  const again = await ca(env, ['install', '--no-update']);
  assert.match(again.out, /is already there\./);
  assert.match(again.out, /Skipped update-ca-certificates/);
  assert.equal(again.updates, 0);

  const missing = await ca({ ...env, storeDir: join(env.dir, 'no-such-dir') }, ['install'], null);
  assert.match(missing.out, /Could not write .*no-such-dir.*\n\s+sudo cp /);
  const noTool = await ca({ ...env, storeDir: tmpDir() }, ['install'], null);
  assert.match(noTool.out, /update-ca-certificates is not installed/);
});

test(
  'ca rotate: a new CA at the same path, what to re-trust, and how to remove the old one',
  needs('openssl'),
  async () => {
    const env = setup();
    const path = (await ca(env, ['path'])).out.trim();
    const oldPem = readFileSync(path, 'utf8');
    const old = new X509Certificate(oldPem);
    const r = await ca(env, ['rotate']);
    const nu = new X509Certificate(readFileSync(path, 'utf8'));
    assert.notEqual(nu.fingerprint256, old.fingerprint256);
    const retired = readdirSync(join(env.dir, 'data', 'ca')).filter((f) => f.startsWith('ca.pem.retired-'));
    assert.equal(retired.length, 1);
    assert.equal(readFileSync(join(env.dir, 'data', 'ca', retired[0]!), 'utf8'), oldPem);
    assert.match(r.out, new RegExp(`SHA-256 fingerprint: ${nu.fingerprint256.replace(/:/g, '').toLowerCase()}`));
    assert.match(r.out, /Restart mailshield/);
    assert.match(r.out, /Name constraints: localhost, 127\.0\.0\.0\/8, ::1\n/);
    assert.ok(r.out.includes(`certutil -addstore -user Root ${path}`));
    const sha1 = run('openssl', [
      'x509',
      '-in',
      join(env.dir, 'data', 'ca', retired[0]!),
      '-noout',
      '-fingerprint',
      '-sha1',
    ])
      .trim()
      .replace(/^.*=/, '')
      .replace(/:/g, '');
    assert.ok(r.out.includes(`security delete-certificate -Z ${sha1} `), r.out);
    assert.ok(r.out.includes(`certutil -delstore -user Root ${old.serialNumber.toLowerCase()}`), r.out);
    const oldShort = old.fingerprint256.replace(/:/g, '').toLowerCase().slice(0, 16);
    assert.ok(r.out.includes(`rm -f ${join(env.storeDir, `mailshield-${oldShort}.crt`)}`));
  },
);

test('a listener added after the CA was made is reported as not covered', async () => {
  const env = setup();
  await ca(env, ['path']);
  writeFileSync(
    env.config,
    [
      'dataDir: ./data',
      'accounts:',
      '  - {name: lan, protocol: pop3, listen: "192.168.1.5:1995", clientTls: implicit, upstream: "pop.example.jp:995", upstreamTls: implicit}',
      '',
    ].join('\n'),
  );
  const r = await ca(env, ['path']);
  assert.match(r.err, /does not cover 192\.168\.1\.5 .*mailshield ca rotate/);
});
