// The local CA: made once per install inside dataDir, never shipped or shared. It carries critical X.509 name
// constraints, so a stolen key can only vouch for loopback, the listener addresses, ca.extraNames and (in intercept
// mode) exactly intercept.domains, never for any other server. Leaves are minted by leaf-cache.ts; this file owns the CA files and the name rules both use.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  NameConstraints,
  id_ce_nameConstraints,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { splitHostPort, type Config } from '../core/config.js';
import { ShieldError } from '../core/errors.js';

x509.cryptoProvider.set(webcrypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/**
 * RSA-2048 with SHA-256, not EC P-256: the RSA leaf exists for clients without ECC support (Windows 7-era SChannel
 * setups, old embedded mail clients), and such a client must also verify the CA's signature on that leaf. RSA-2048
 * meets OpenSSL security level 2 and, because the name constraints confine the key to local names, a longer key
 * would buy little. It is generated once per install, asynchronously.
 */
export const CA_KEY_ALGORITHM = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
} as const;

/** Ten years: the user trusts the CA by hand in every client, so it should outlive the machine's install. */
const CA_VALIDITY_DAYS = 3650;
/** A day of backdating, so a client whose clock runs behind (or a VM resumed from an old snapshot) accepts it at once. */
const CA_BACKDATE_MS = 24 * 3600 * 1000;
/** Folder 0700 and key 0600: only the installing user may read the key. The certificate is public (0644). */
const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca.key';

/** One permitted subtree: a DNS name (itself and every subdomain) or an IP network. */
export type PermittedName =
  { kind: 'dns'; name: string } | { kind: 'ip'; family: 4 | 6; bytes: Uint8Array; prefix: number };

export interface LocalCa {
  /** `${dataDir}/ca` */
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  cert: x509.X509Certificate;
  /** Signs leaves; not extractable. */
  signingKey: CryptoKey;
  /** Subject DN as a string, e.g. "CN=mailshield local CA host 1a2b3c4d, O=mailshield". */
  subject: string;
  /** SHA-256 fingerprint of the DER certificate, lowercase hex without separators. */
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
  /** The permitted subtrees as read back from the certificate (what leaves are filtered against). */
  permitted: PermittedName[];
  /** Requested names the existing CA does not cover (config changed since it was made): `mailshield ca rotate`. */
  uncovered: string[];
  /** True when this call generated the CA, so the caller can tell the user to trust it. */
  created: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Names

const DNS_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Lowercase, no trailing dot, LDH labels; null when it is not a host name. */
export function normalizeDnsName(s: string): string | null {
  const n = s.trim().toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return null;
  return n.split('.').every((l) => DNS_LABEL.test(l)) ? n : null;
}

/** Parses an IPv4 or IPv6 address (brackets, an IPv4 tail and IPv4-mapped IPv6 allowed) into 4 or 16 bytes. */
export function parseIp(s: string): Uint8Array | null {
  let t = s.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const fam = isIP(t);
  if (fam === 4) return Uint8Array.from(t.split('.').map(Number));
  if (fam !== 6) return null;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (tail) {
    const b = tail[1]!.split('.').map(Number);
    t = t.slice(0, -tail[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [left, right] = t.includes('::') ? t.split('::') : [t, undefined];
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  // An IPv4-mapped address (::ffff:a.b.c.d, what a dual-stack socket reports) is the IPv4 address.
  if (out.subarray(0, 10).every((x) => x === 0) && out[10] === 0xff && out[11] === 0xff) return out.slice(12);
  return out;
}

/** Canonical text of an address: dotted IPv4, RFC 5952 IPv6 (the URL parser compresses it for us). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** Full, uncompressed IPv6 groups: the form @peculiar's IP converter parses reliably. */
function ipForAsn(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIp(bytes);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

function invalidName(s: string, why: string): ShieldError {
  return new ShieldError('MS_ERR_CONFIG_INVALID', `ca name "${s}" is not usable as a name constraint: ${why}`, {
    fix: 'use a host name (it also permits its subdomains), an IP address, or an IP network such as 192.168.1.0/24 in ca.extraNames',
  });
}

/** Parses one permitted-name string: "localhost", "mail.lan", "127.0.0.0/8", "::1", "192.168.1.5". */
export function parsePermittedName(s: string): PermittedName {
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const bytes = parseIp(addr);
  if (bytes) {
    const max = bytes.length * 8;
    const prefix = slash >= 0 ? Number(s.slice(slash + 1)) : max;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw invalidName(s, `prefix must be 0..${max}`);
    return { kind: 'ip', family: bytes.length === 4 ? 4 : 6, bytes: maskBytes(bytes, prefix), prefix };
  }
  if (slash >= 0) throw invalidName(s, 'a prefix needs an IP address');
  if (s.includes('*') || s.startsWith('.'))
    throw invalidName(s, 'write the parent name without a wildcard; a name constraint permits every subdomain');
  const dns = normalizeDnsName(s);
  if (!dns) throw invalidName(s, 'not a host name or IP address');
  return { kind: 'dns', name: dns };
}

export function formatPermittedName(p: PermittedName): string {
  if (p.kind === 'dns') return p.name;
  return p.prefix === p.bytes.length * 8 ? formatIp(p.bytes) : `${formatIp(p.bytes)}/${p.prefix}`;
}

/**
 * Whether a requested leaf name (DNS name or IP) falls inside one of the permitted subtrees, by the same rules a
 * verifier applies (RFC 5280 §4.2.1.10): a DNS name equal to or below a permitted name; an IP inside a network.
 * Returns the canonical form of the name when it does, else null.
 */
export function permittedForm(name: string, permitted: readonly PermittedName[]): string | null {
  const ip = parseIp(name);
  if (ip) {
    const ok = permitted.some(
      (p) =>
        p.kind === 'ip' && p.bytes.length === ip.length && maskBytes(ip, p.prefix).every((b, i) => b === p.bytes[i]),
    );
    return ok ? formatIp(ip) : null;
  }
  const dns = normalizeDnsName(name);
  if (!dns) return null;
  const ok = permitted.some((p) => p.kind === 'dns' && (dns === p.name || dns.endsWith(`.${p.name}`)));
  return ok ? dns : null;
}

/** True when `p` is already inside one of `others` (so it need not be listed separately). */
function coveredBy(p: PermittedName, others: readonly PermittedName[]): boolean {
  if (p.kind === 'dns') return permittedForm(p.name, others) !== null;
  return others.some(
    (o) =>
      o.kind === 'ip' &&
      o.bytes.length === p.bytes.length &&
      o.prefix <= p.prefix &&
      maskBytes(p.bytes, o.prefix).every((b, i) => b === o.bytes[i]),
  );
}

/** Parses, canonicalizes and drops names already covered by an earlier (or broader) entry. */
export function normalizePermittedNames(names: readonly string[]): PermittedName[] {
  let out: PermittedName[] = [];
  for (const p of names.map(parsePermittedName)) {
    if (coveredBy(p, out)) continue;
    out = [...out.filter((q) => !coveredBy(q, [p])), p];
  }
  return out;
}

/** Unspecified listen addresses (0.0.0.0, ::) name no host a client could verify; LAN names go in ca.extraNames. */
function isUnspecified(host: string): boolean {
  const b = parseIp(host);
  return b !== null && b.every((x) => x === 0);
}

/**
 * The names the CA may issue for: loopback (localhost, 127.0.0.0/8, ::1), each account's listen host, the
 * intercept listener and intercept.domains when intercept mode is on, and ca.extraNames.
 * Canonical strings, duplicates and covered names dropped.
 */
export function caPermittedNames(config: Config): string[] {
  const names = ['localhost', '127.0.0.0/8', '::1'];
  for (const a of config.accounts) {
    const { host } = splitHostPort(a.listen);
    if (!isUnspecified(host)) names.push(host);
  }
  // Intercepted clients verify the real server's name, so the leaves carry it: exactly the listed domains.
  if (config.intercept.enabled) {
    const { host } = splitHostPort(config.intercept.listen);
    if (!isUnspecified(host)) names.push(host);
    names.push(...config.intercept.domains);
  }
  names.push(...config.ca.extraNames);
  return normalizePermittedNames(names).map(formatPermittedName);
}

/**
 * How a CA's permitted subtrees differ from what the configuration asks for now. `missing`: names leaves need but
 * the CA cannot vouch for. `extra`: names the CA still vouches for although the configuration dropped them (a domain
 * removed from intercept.domains stays interceptable by whoever holds the key). Either means `mailshield ca rotate`.
 */
export function caNamesDrift(permitted: readonly PermittedName[], requested: readonly string[]) {
  const want = normalizePermittedNames(requested);
  return {
    missing: want.filter((p) => !coveredBy(p, permitted)).map(formatPermittedName),
    extra: permitted.filter((p) => !coveredBy(p, want)).map(formatPermittedName),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The NameConstraints extension (2.5.29.30). @peculiar/x509 has no class for it, so it is encoded with
// @peculiar/asn1-x509's schema: dNSName for names, iPAddress as address followed by mask bytes (RFC 5280).

export function nameConstraintsExtension(permitted: readonly PermittedName[]): x509.Extension {
  const subtrees = permitted.map(
    (p) =>
      new GeneralSubtree({
        base: new GeneralName(
          p.kind === 'dns' ? { dNSName: p.name } : { iPAddress: `${ipForAsn(p.bytes)}/${p.prefix}` },
        ),
      }),
  );
  const nc = new NameConstraints({ permittedSubtrees: new GeneralSubtrees(subtrees) });
  // Critical: a verifier that cannot enforce the constraints must reject the CA rather than trust it unconstrained.
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(nc));
}

/** Reads the permitted subtrees back from a certificate; empty when it has no name constraints. */
export function readPermitted(cert: x509.X509Certificate): PermittedName[] {
  const ext = cert.getExtension(id_ce_nameConstraints);
  if (!ext) return [];
  const nc = AsnConvert.parse(ext.value, NameConstraints);
  const out: PermittedName[] = [];
  for (const st of nc.permittedSubtrees ?? []) {
    if (st.base.dNSName !== undefined) out.push({ kind: 'dns', name: st.base.dNSName.toLowerCase() });
    else if (st.base.iPAddress !== undefined) out.push(parsePermittedName(st.base.iPAddress));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Files

function hex(buf: ArrayBuffer | Uint8Array): string {
  return Buffer.from(buf instanceof Uint8Array ? buf : new Uint8Array(buf)).toString('hex');
}

/** A positive serial with 127 random bits (RFC 5280 allows 20 octets; CA/B asks for ≥ 64 bits of entropy). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

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
  const keys = (await webcrypto.subtle.generateKey(CA_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  // Unique per install, so users can tell two machines' CAs apart in a trust store and never mistake one for another.
  const cn = `mailshield local CA ${hostname().slice(0, 32)} ${randomBytes(4).toString('hex')}`;
  const name: x509.JsonName = [{ CN: [cn] }, { O: ['mailshield'] }];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    notBefore: new Date(now.getTime() - CA_BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * 24 * 3600 * 1000),
    signingAlgorithm: CA_KEY_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      // pathLen 0: this CA signs leaves only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      nameConstraintsExtension(permitted),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  await ensureDir(dir);
  // Key first: a certificate on disk always has its key beside it.
  await writeAtomic(join(dir, CA_KEY_FILE), x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), KEY_MODE);
  await writeAtomic(join(dir, CA_CERT_FILE), cert.toString('pem') + '\n', CERT_MODE);
}

async function readCa(dir: string, requested: PermittedName[], now: Date, created: boolean): Promise<LocalCa> {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  const fail = (what: string, cause?: unknown) =>
    new ShieldError('MS_ERR_CA', `local CA in ${dir}: ${what}`, {
      fix: 'run `mailshield ca rotate` to make a new CA (then trust it again), or restore the files from a backup',
      cause,
    });
  // Keep the modes right even if someone copied or restored the folder.
  await chmod(dir, DIR_MODE);
  await chmod(keyPath, KEY_MODE);
  let certPem: string;
  let keyPem: string;
  let cert: x509.X509Certificate;
  let signingKey: CryptoKey;
  try {
    [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    cert = new x509.X509Certificate(certPem);
    signingKey = await webcrypto.subtle.importKey(
      'pkcs8',
      x509.PemConverter.decodeFirst(keyPem),
      CA_KEY_ALGORITHM,
      false,
      ['sign'],
    );
  } catch (e) {
    throw fail(`cannot read ${certPath} and ${keyPath}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const certSpki = Buffer.from(cert.publicKey.rawData);
  const keySpki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  if (!certSpki.equals(keySpki)) throw fail(`${keyPath} is not the key of ${certPath}`);
  const permitted = readPermitted(cert);
  if (permitted.length === 0) throw fail(`${certPath} has no name constraints, so mailshield will not use it`);
  if (now.getTime() > cert.notAfter.getTime()) throw fail(`the CA expired on ${cert.notAfter.toISOString()}`);
  const fp = await cert.getThumbprint('SHA-256');
  return {
    dir,
    certPath,
    keyPath,
    certPem,
    cert,
    signingKey,
    subject: cert.subject,
    fingerprint256: hex(fp),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    permitted,
    uncovered: requested.filter((p) => !coveredBy(p, permitted)).map(formatPermittedName),
    created,
  };
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
