// The dashboard's files in dataDir/dashboard (folder 0700): the access token (0600, made on first start) and the
// address it is bound to, so `mailshield dashboard url` can print the URL of a running dashboard (port 0 included).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newToken } from './auth.js';

export const dashboardDir = (dataDir: string) => join(dataDir, 'dashboard');

export function loadOrCreateToken(dataDir: string): string {
  const dir = dashboardDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = join(dir, 'token');
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length >= 16) return t;
  }
  const t = newToken();
  writeFileSync(file, t + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return t;
}

export function readToken(dataDir: string): string | null {
  const file = join(dashboardDir(dataDir), 'token');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

export function writeBoundAddress(dataDir: string, host: string, port: number): void {
  writeFileSync(join(dashboardDir(dataDir), 'address'), `${host}:${port}\n`, { mode: 0o600 });
}

export function readBoundAddress(dataDir: string): string | null {
  const file = join(dashboardDir(dataDir), 'address');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

/** The URL that logs in: the token rides in the fragment, which browsers never send to a server or a Referer. */
export function dashboardUrl(hostPort: string, token: string): string {
  const [host, port] = hostPort.startsWith('[')
    ? [hostPort.slice(0, hostPort.indexOf(']') + 1), hostPort.slice(hostPort.indexOf(']') + 2)]
    : [hostPort.slice(0, hostPort.lastIndexOf(':')), hostPort.slice(hostPort.lastIndexOf(':') + 1)];
  const shown = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
  return `http://${shown}:${port}/#token=${token}`;
}
