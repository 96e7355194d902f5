// `npm start` must leave no mailshield behind when npm itself gets SIGTERM, as supervisors and `docker stop` send it
// (issue 12 item 8). npm runs a script through `sh -c`; without `exec` the shell stays between npm and node, npm's
// forwarded signal ends only the shell, and node keeps listening as an orphan. The test runs package.json's own start
// script with npm, in a fresh folder (so the demo starts, and its files land there, not in the repository).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needs, tmpDir, waitFor } from './fixtures/util.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every process below `pid`, from the kernel's children lists. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let kids: number[];
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return;
    }
    for (const k of kids) {
      out.push(k);
      visit(k);
    }
  };
  visit(pid);
  return out;
}

/** argv of a process, empty once it is gone. */
const argv = (pid: number): string[] => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
};

/** The node process running mailshield, not the `sh -c "node bin/mailshield.js start"` that may sit above it. */
const isShield = (pid: number): boolean => {
  const a = argv(pid);
  return /(^|\/)node$/.test(a[0] ?? '') && a.some((x) => /mailshield\.js$/.test(x)) && a.includes('start');
};

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
  'SIGTERM to the npm process of `npm start` ends mailshield: the node process is gone and every demo port closes',
  { ...needs('npm'), timeout: 90_000 },
  async () => {
    const dir = tmpDir('mailshield-npm-start-');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
    // The start script exactly as shipped; bin/ links to the build of this checkout.
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'npm-start-test',
        version: '0.0.0',
        type: 'module',
        scripts: { start: pkg.scripts.start },
      }),
    );
    symlinkSync(join(root, 'bin'), join(dir, 'bin'));
    const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' };
    delete env.MAILSHIELD_CONFIG;
    const npm = spawn('npm', ['start'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const npmExited = new Promise<void>((r) => npm.on('exit', () => r()));
    let shield: number | undefined;
    let started: number[] = [];
    try {
      await waitFor(() => /Stop with Ctrl-C\./.test(out), `the demo banner (output: ${out})`, 60_000);
      started = descendants(npm.pid!);
      shield = started.find(isShield);
      assert.ok(
        shield,
        `a node process runs mailshield under npm: ${started.map((p) => argv(p).join(' ')).join(' | ')}`,
      );
      const ports = [
        ...new Set([...out.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])).filter((p) => p > 0)),
      ];
      assert.ok(ports.length >= 6, `the banner lists the shield's and the demo servers' ports: ${ports.join(', ')}`);
      for (const port of ports) assert.equal(await refused(port), false, `port ${port} is open while running`);

      npm.kill('SIGTERM');
      await npmExited;
      const pid = shield;
      await waitFor(() => !existsSync(`/proc/${pid}`), `mailshield (pid ${pid}) to exit after npm got SIGTERM`, 30_000);
      for (const port of ports)
        await waitFor(() => refused(port), `port ${port} to close after npm got SIGTERM`, 15_000);
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      // Only what this test started: the processes it found under its own npm (an orphaned shield among them).
      for (const pid of started) if (isShield(pid) || argv(pid)[0] === 'sh') process.kill(pid, 'SIGKILL');
    }
  },
);
