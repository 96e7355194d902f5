// Runs the real CLI (node bin/mailshield.js ...) as a child process, asynchronously so that servers living in the
// test process keep answering. Shared by the probe and doctor tests.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProbeResult } from '../src/probe/result.js';
import { testPki } from './fixtures/pki.js';
import { tmpDir } from './fixtures/util.js';

/** dist/test/probe-cli.js -> repo root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(REPO, 'bin', 'mailshield.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mailshield ARGS` in an empty folder (so no ./mailshield.yaml is picked up) with no MAILSHIELD_CONFIG. */
export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const env = { ...process.env, ...opts.env };
  delete env.MAILSHIELD_CONFIG;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd ?? tmpDir('mailshield-cli-'), env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `mailshield probe 127.0.0.1:PORT --json` against a test peer (servername mail.test, the test CA), parsed. */
export async function probeJson(
  port: number,
  extra: string[] = [],
): Promise<{ code: number; r: ProbeResult; stderr: string }> {
  const run = await cli([
    'probe',
    `127.0.0.1:${port}`,
    '--servername',
    'mail.test',
    '--ca',
    testPki().caCert,
    '--json',
    '--timeout',
    '5000',
    ...extra,
  ]);
  let r: ProbeResult;
  try {
    r = JSON.parse(run.stdout) as ProbeResult;
  } catch {
    throw new Error(`probe printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
  return { code: run.code, r, stderr: run.stderr };
}
