// `mailshield start` serves the dashboard and prints its URL; `mailshield dashboard url` prints the same URL, and its
// token logs in; `mailshield dashboard hash-password` makes a hash the configuration accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../src/core/config.js';
import { verifyPassword } from '../src/dashboard/auth.js';
import { http, sameOrigin } from './fixtures/dashboard.js';
import { freePort, tmpDir, waitFor } from './fixtures/util.js';

const bin = fileURLToPath(new URL('../../bin/mailshield.js', import.meta.url));

test('start prints the dashboard URL, `dashboard url` prints the same one, and its token logs in', async () => {
  const dir = tmpDir();
  const file = join(dir, 'mailshield.yaml');
  writeFileSync(
    file,
    `dataDir: ./data
log: { level: warn, format: json }
shutdownTimeoutMs: 1000
dashboard: { listen: '127.0.0.1:0' }
accounts:
  - { name: a, protocol: pop3, listen: '127.0.0.1:${await freePort()}', clientTls: implicit, upstream: '127.0.0.1:${await freePort()}', upstreamServername: mail.test, upstreamTls: implicit }
`,
  );
  const child = spawn(process.execPath, [bin, '--config', file, 'start'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  try {
    const printed = await waitFor(
      () => /dashboard: (http:\/\/\S+)/.exec(err)?.[1],
      `the dashboard line (${err})`,
      30_000,
    );
    const out = spawnSync(process.execPath, [bin, '--config', file, 'dashboard', 'url'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout.trim(), printed);
    const url = new URL(printed);
    const token = url.hash.replace(/^#token=/, '');
    const base = `${url.protocol}//${url.host}`;
    const r = await http(base, '/api/login', {
      method: 'POST',
      headers: sameOrigin(base),
      body: JSON.stringify({ token }),
    });
    assert.equal(r.status, 204);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('hash-password prints a scrypt hash that verifies and that dashboard.passwordHash accepts', () => {
  const out = spawnSync(process.execPath, [bin, 'dashboard', 'hash-password'], {
    input: 'correct horse battery\n',
    encoding: 'utf8',
  });
  assert.equal(out.status, 0, out.stderr);
  const hash = out.stdout.trim();
  assert.ok(verifyPassword('correct horse battery', hash));
  assert.ok(!verifyPassword('correct horse batter', hash));
  assert.doesNotThrow(() => validateConfig({ dashboard: { listen: '0.0.0.0:8025', passwordHash: hash } }, 'f'));
  const short = spawnSync(process.execPath, [bin, 'dashboard', 'hash-password'], {
    input: 'short\n',
    encoding: 'utf8',
  });
  assert.equal(short.status, 2);
});
