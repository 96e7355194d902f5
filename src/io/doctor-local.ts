// The local side of `mailshield doctor`: the CA files and their modes, whether each listener port is free (or held
// by this mailshield), and whether clamd answers PING. Each check returns a row; deciding what to print is
// src/probe/doctor.ts's job.
import { stat } from 'node:fs/promises';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import type { AccountConfig } from '../core/config.js';
import { splitHostPort } from '../core/hosts.js';
import { parseClamdAddress } from '../scan/clamd.js';
import { ClamdConnector } from './clamd-connection.js';
import { CA_CERT_FILE, CA_KEY_FILE } from '../store/ca-files.js';
import { plainPhase } from './probe-starttls.js';

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface LocalCheck {
  check: string;
  status: CheckStatus;
  detail: string;
  fix: string | null;
}

const modeOf = (m: number) => `0${(m & 0o777).toString(8)}`;

/** The CA exists, and only its owner can read the key (folder 0700, key 0600). */
export async function checkCa(dataDir: string): Promise<LocalCheck[]> {
  const dir = join(dataDir, 'ca');
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  const st = async (p: string) => stat(p).catch(() => null);
  const [d, c, k] = await Promise.all([st(dir), st(certPath), st(keyPath)]);
  if (!c || !k) {
    return [
      {
        check: 'CA',
        status: 'WARN',
        detail: `no CA in ${dir} yet`,
        fix: 'run `mailshield start` once (it creates the CA), then trust it: `mailshield ca install`',
      },
    ];
  }
  const out: LocalCheck[] = [{ check: 'CA', status: 'OK', detail: `CA certificate ${certPath}`, fix: null }];
  if ((k.mode & 0o077) !== 0) {
    out.push({
      check: 'CA key mode',
      status: 'FAIL',
      detail: `${keyPath} has mode ${modeOf(k.mode)}; other users can read the key that every mail client trusts`,
      fix: `chmod 600 ${keyPath}`,
    });
  } else out.push({ check: 'CA key mode', status: 'OK', detail: `${keyPath} ${modeOf(k.mode)}`, fix: null });
  if (d && (d.mode & 0o077) !== 0) {
    out.push({
      check: 'CA folder mode',
      status: 'WARN',
      detail: `${dir} has mode ${modeOf(d.mode)}`,
      fix: `chmod 700 ${dir}`,
    });
  }
  return out;
}

function canBind(host: string, port: number): Promise<'free' | 'in-use' | string> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE' ? 'in-use' : (e.code ?? e.message)));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve('free')));
  });
}

/**
 * Whether the program on a listener port is this mailshield: it serves a leaf from this install's CA. Implicit TLS
 * is checked directly, STARTTLS after the protocol's dance; a plaintext listener cannot be told apart.
 */
async function servedByOurCa(a: AccountConfig, host: string, port: number, caPem: string): Promise<boolean | null> {
  if (a.clientTls === 'none') return null;
  const sock: Socket = netConnect({ host, port });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    if (a.clientTls === 'starttls') {
      const p = await plainPhase(sock, a.protocol, 3000);
      if (!p.readyForTls) return false;
    }
    return await new Promise<boolean>((resolve) => {
      const t = tlsConnect({
        socket: sock,
        ca: [caPem],
        servername: 'localhost',
        checkServerIdentity: () => undefined,
      });
      const timer = setTimeout(() => {
        t.destroy();
        resolve(false);
      }, 3000);
      t.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(t.authorized);
        t.destroy();
      });
      t.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  } catch {
    return false;
  } finally {
    sock.destroy();
  }
}

export async function checkListener(a: AccountConfig, dataDir: string): Promise<LocalCheck> {
  const { host, port } = splitHostPort(a.listen);
  const check = `listener ${a.name} ${a.listen}`;
  const r = await canBind(host, port);
  if (r === 'free') return { check, status: 'OK', detail: 'port is free', fix: null };
  if (r !== 'in-use') {
    return {
      check,
      status: 'FAIL',
      detail: `cannot listen on ${a.listen}: ${r}`,
      fix: `change accounts.${a.name}.listen`,
    };
  }
  const caPem = await readFile(join(dataDir, 'ca', CA_CERT_FILE), 'utf8').catch(() => null);
  // Without a CA in this dataDir, this install cannot be the one serving TLS there.
  const ours = a.clientTls === 'none' ? null : caPem ? await servedByOurCa(a, host, port, caPem) : false;
  if (ours === true)
    return { check, status: 'OK', detail: 'in use by this mailshield (serves a leaf of its CA)', fix: null };
  if (ours === null) {
    return {
      check,
      status: 'WARN',
      detail: 'port is in use; a plaintext listener cannot be identified as mailshield',
      fix: 'if mailshield is not running, find the program holding it (ss -ltnp) or change the listen address',
    };
  }
  return {
    check,
    status: 'FAIL',
    detail: 'port is in use by another program',
    fix: `stop that program (ss -ltnp shows it) or change accounts.${a.name}.listen`,
  };
}

/** clamd's PING → PONG, with the z (NUL-terminated) command form. */
export async function checkClamd(address: string, timeoutMs: number): Promise<LocalCheck> {
  const check = `clamd ${address}`;
  let a;
  try {
    a = parseClamdAddress(address);
  } catch (e) {
    return { check, status: 'FAIL', detail: (e as Error).message, fix: 'fix scan.clamd.address' };
  }
  let reply: string;
  try {
    reply = await new ClamdConnector(a, timeoutMs).exchange('zPING\0');
  } catch (e) {
    reply = e instanceof Error ? e.message : String(e);
  }
  if (reply.replace(/\0/g, '').trim() === 'PONG') return { check, status: 'OK', detail: 'answers PING', fix: null };
  return {
    check,
    status: 'FAIL',
    detail: `clamd did not answer PONG (${reply.replace(/\0/g, '').trim() || 'empty reply'})`,
    fix: 'start clamd, or fix scan.clamd.address, or remove clamd from scan.engines',
  };
}
