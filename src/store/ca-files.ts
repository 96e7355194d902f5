// The local CA's files in `${dataDir}/ca/`: made once, reused, rotated aside, with their modes kept right. What a CA
// is and how it is checked is src/tls/ca.ts; this file only reads and writes it.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCaPem, openCa, type LocalCa } from '../tls/ca.js';
import { normalizePermittedNames, type PermittedName } from '../tls/ca-names.js';

/** Folder 0700 and key 0600: only the installing user may read the key. The certificate is public (0644). */
const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca.key';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Write to a temporary name, set the mode, then rename: a crash never leaves a half-written key or certificate. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, data, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  // mkdir leaves an existing folder's mode alone, and the umask can only remove bits: set it explicitly.
  await chmod(dir, DIR_MODE);
}

function stamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Moves the current CA files aside as `ca.pem.retired-20260101T120000Z` (the key keeps its 0600 mode). */
async function retireFiles(dir: string, now: Date): Promise<string[]> {
  const moved: string[] = [];
  for (const f of [CA_CERT_FILE, CA_KEY_FILE]) {
    const p = join(dir, f);
    if (!(await exists(p))) continue;
    let dest = `${p}.retired-${stamp(now)}`;
    if (await exists(dest)) dest += `-${randomBytes(3).toString('hex')}`;
    await rename(p, dest);
    moved.push(dest);
  }
  return moved;
}

async function generateCa(dir: string, permitted: PermittedName[], now: Date): Promise<void> {
  const { keyPem, certPem } = await generateCaPem(permitted, now);
  await ensureDir(dir);
  // Key first: a certificate on disk always has its key beside it.
  await writeAtomic(join(dir, CA_KEY_FILE), keyPem, KEY_MODE);
  await writeAtomic(join(dir, CA_CERT_FILE), certPem, CERT_MODE);
}

async function readCa(dir: string, requested: PermittedName[], now: Date, created: boolean): Promise<LocalCa> {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  // Keep the modes right even if someone copied or restored the folder.
  await chmod(dir, DIR_MODE);
  await chmod(keyPath, KEY_MODE);
  const pem = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]).then(
    ([certPem, keyPem]) => ({ certPem, keyPem }),
    (error: unknown) => ({ error }),
  );
  return openCa({ dir, certPath, keyPath, pem }, requested, now, created);
}

export interface CaOptions {
  dataDir: string;
  /** Strings as caPermittedNames returns them. */
  permittedNames: string[];
  now: Date;
}

/**
 * Reuses `${dataDir}/ca/` when both files are there; otherwise makes the CA (folder 0700, key 0600, cert 0644).
 * A CA made for fewer names is still reused, with `uncovered` listing what it lacks: replacing a CA silently would
 * break every client that trusts the old one.
 */
export async function loadOrCreateCa(opts: CaOptions): Promise<LocalCa> {
  const dir = join(opts.dataDir, 'ca');
  const requested = normalizePermittedNames(opts.permittedNames);
  const haveCert = await exists(join(dir, CA_CERT_FILE));
  const haveKey = await exists(join(dir, CA_KEY_FILE));
  if (haveCert && haveKey) return readCa(dir, requested, opts.now, false);
  // Half a CA (a crash between the two writes, or a deleted file) cannot sign anything: keep it aside, make anew.
  if (haveCert || haveKey) await retireFiles(dir, opts.now);
  await generateCa(dir, requested, opts.now);
  return readCa(dir, requested, opts.now, true);
}

/** Makes a new CA; the old files stay beside it with a `.retired-<timestamp>` suffix. */
export async function rotateCa(opts: CaOptions): Promise<LocalCa & { retired: string[] }> {
  const dir = join(opts.dataDir, 'ca');
  const requested = normalizePermittedNames(opts.permittedNames);
  await ensureDir(dir);
  const retired = await retireFiles(dir, opts.now);
  await generateCa(dir, requested, opts.now);
  return { ...(await readCa(dir, requested, opts.now, true)), retired };
}
