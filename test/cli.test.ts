// A new user's path, through the real executable: start, find the CA, stop cleanly; and the start-up refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, needs, run, tmpDir } from './fixtures/util.js';

const bin = fileURLToPath(new URL('../../bin/mailshield.js', import.meta.url));

function configFile(dir: string, listenPort: number, upstreamPort: number, extra = ''): string {
  const file = join(dir, 'mailshield.yaml');
  writeFileSync(
    file,
    `dataDir: ./data
log: { level: warn, format: json }
shutdownTimeoutMs: 2000
dashboard: { listen: '127.0.0.1:0' }
accounts:
  - name: test-pop
    protocol: pop3
    listen: 127.0.0.1:${listenPort}
    clientTls: implicit
    upstream: 127.0.0.1:${upstreamPort}
    upstreamServername: mail.test
    upstreamTls: implicit
${extra}`,
  );
  return file;
}

function startProcess(
  args: string[],
  cwd: string,
): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stderr: () => err, exited };
}

async function until(fn: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  'start listens, `ca path` prints a certificate openssl can read, SIGTERM exits cleanly',
  needs('openssl'),
  async () => {
    const dir = tmpDir();
    const file = configFile(dir, await freePort(), await freePort());
    const p = startProcess(['--config', file, 'start'], dir);
    await until(() => /listening/.test(p.stderr()), `start (stderr: ${p.stderr()})`);
    const out = spawnSync(process.execPath, [bin, '--config', file, 'ca', 'path'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const caPath = out.stdout.trim();
    assert.match(run('openssl', ['x509', '-in', caPath, '-noout', '-subject']), /subject=.*mailshield/i);
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.stderr());
  },
);

test('a port that is already taken stops the start with a clear error', async () => {
  const dir = tmpDir();
  const blocker = createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  try {
    const file = configFile(dir, port, await freePort());
    const p = startProcess(['--config', file, 'start'], dir);
    assert.equal(await p.exited, 1);
    assert.match(
      p.stderr(),
      new RegExp(`127\\.0\\.0\\.1:${port} \\(account test-pop\\).*already in use.*MS_ERR_LISTEN_IN_USE`),
    );
  } finally {
    blocker.close();
  }
});

test('a bad configuration stops the start naming file, key, expected and found', async () => {
  const dir = tmpDir();
  const file = configFile(dir, 1, 2, 'bogus: true\n');
  const p = startProcess(['--config', file, 'start'], dir);
  assert.equal(await p.exited, 1);
  assert.match(p.stderr(), /mailshield\.yaml: unknown key bogus/);
  assert.match(p.stderr(), /MS_ERR_CONFIG_INVALID/);
});

test('MAILSHIELD_CONFIG is used when --config is absent', () => {
  const dir = tmpDir();
  const file = configFile(dir, 1, 2, 'policy: { upstream: nonsense }\n');
  const out = spawnSync(process.execPath, [bin, 'ca', 'path'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, MAILSHIELD_CONFIG: file },
  });
  assert.equal(out.status, 1);
  assert.match(out.stderr, /policy\.upstream: expected .*found string "nonsense"/);
});

test('init writes a template that start accepts', () => {
  const dir = tmpDir();
  const out = spawnSync(process.execPath, [bin, 'init'], { cwd: dir, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const again = spawnSync(process.execPath, [bin, 'init'], { cwd: dir, encoding: 'utf8' });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already exists/);
});
