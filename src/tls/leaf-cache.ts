// Leaves for the client leg, minted on demand from the local CA. Like mitmproxy's certificate store: one key per
// type for every leaf (made once, asynchronously), an in-memory cache with a cap, short validity, and backdating.
// Each leaf names only what the CA's name constraints permit, so no client ever sees a leaf that fails them.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { ShieldError } from '../core/errors.js';
import { CA_KEY_ALGORITHM, randomSerial, type LocalCa } from './ca.js';
import { formatPermittedName, parseIp, permittedForm } from './ca-names.js';
import type { LeafPair, LeafSource } from '../core/tls-facts.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** RSA-2048 for clients without ECC (Windows 7-era SChannel setups); 2048 bits meets OpenSSL security level 2. */
const RSA_LEAF_ALGORITHM = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
} as const;
/** ECDSA P-256: what every modern client prefers, and the smallest curve at security level 2+. */
const EC_LEAF_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * 1000 entries: a leaf is ~1.3 KB of PEM per type, so the cache stays under ~3 MB, while a desktop proxy sees a
 * handful of name sets (listener address × SNI) in practice. The cap only matters against a client that sends
 * random SNI values to grow memory.
 */
export const DEFAULT_MAX_LEAVES = 1000;
/**
 * 7 days: leaves are re-minted for free, so a short life limits how long a copied leaf (its key is in this
 * process's memory only) stays useful, yet outlasts any session and a laptop's sleep.
 */
export const DEFAULT_LEAF_VALIDITY_HOURS = 7 * 24;
/**
 * 1 hour of backdating: a client on another machine (a LAN listener) or a VM resumed from sleep may run behind our
 * clock, and a leaf that is "not yet valid" fails the handshake with an error that names nothing useful.
 */
const LEAF_BACKDATE_MS = 3600 * 1000;
/** Re-mint a cached leaf with less than a day left, so a leaf handed out never expires in the middle of a session. */
const RENEW_BEFORE_MS = 24 * 3600 * 1000;

export type LeafKeyType = 'rsa' | 'ec';

export interface LeafKey {
  type: LeafKeyType;
  publicKey: CryptoKey;
  /** PKCS#8 PEM, what tls.createSecureContext takes. */
  privateKeyPem: string;
}

/** Both leaf keys, generated concurrently off the event loop (WebCrypto runs RSA generation in the thread pool). */
export async function generateLeafKeys(): Promise<{ rsa: LeafKey; ec: LeafKey }> {
  const gen = async (type: LeafKeyType): Promise<LeafKey> => {
    const alg = type === 'rsa' ? RSA_LEAF_ALGORITHM : EC_LEAF_ALGORITHM;
    const pair = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', pair.privateKey);
    return { type, publicKey: pair.publicKey, privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
  };
  const [rsa, ec] = await Promise.all([gen('rsa'), gen('ec')]);
  return { rsa, ec };
}

/**
 * The requested names that fall inside the CA's permitted subtrees, canonical (lowercase DNS, compressed IPv6,
 * IPv4-mapped addresses as IPv4), de-duplicated, in the order given.
 */
export function leafNames(ca: Pick<LocalCa, 'permitted'>, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    const f = permittedForm(n, ca.permitted);
    if (f !== null && !out.includes(f)) out.push(f);
  }
  return out;
}

/**
 * The common name. OpenSSL checks a leaf's CN against DNS name constraints when the leaf has no DNS SAN, and a
 * dotted IP like "127.0.0.1" looks like a host name to it, so an IP-only leaf with the IP as CN would fail the
 * constraints. Prefer the first DNS name; for IP-only leaves use a CN without dots, which is never taken as a name.
 */
function commonName(sans: readonly string[]): string {
  return sans.find((n) => parseIp(n) === null) ?? 'mailshield leaf';
}

/**
 * Signs one leaf for exactly `sans`, unfiltered. LeafCache filters first; tests call this directly to show that a
 * verifier rejects a leaf outside the name constraints.
 */
export async function issueLeafCert(
  ca: LocalCa,
  key: Pick<LeafKey, 'type' | 'publicKey'>,
  sans: readonly string[],
  notBefore: Date,
  notAfter: Date,
): Promise<x509.X509Certificate> {
  const usages =
    key.type === 'rsa'
      ? // keyEncipherment: old clients may pick TLS_RSA_* suites, which encrypt the premaster secret to this key.
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : x509.KeyUsageFlags.digitalSignature;
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [commonName(sans)] }, { O: ['mailshield'] }],
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: CA_KEY_ALGORITHM,
    publicKey: key.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        sans.map((n) => ({ type: parseIp(n) ? ('ip' as const) : ('dns' as const), value: n })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(key.publicKey),
    ],
  });
}

interface Entry {
  pair: LeafPair;
  notAfter: Date;
}

export interface LeafCacheOptions {
  max?: number;
  validityHours?: number;
  now?: () => Date;
}

export class LeafCache implements LeafSource {
  /** Name set (sorted, joined) → the leaf pair being minted or minted. Map order is the LRU order. */
  private readonly entries = new Map<string, Promise<Entry>>();
  private readonly max: number;
  private readonly validityMs: number;
  private readonly now: () => Date;
  /** Leaves minted so far (both types count once), for logs and tests. */
  minted = 0;

  private constructor(
    readonly ca: LocalCa,
    readonly keys: { rsa: LeafKey; ec: LeafKey },
    opts: LeafCacheOptions,
  ) {
    this.max = Math.max(1, opts.max ?? DEFAULT_MAX_LEAVES);
    this.validityMs = (opts.validityHours ?? DEFAULT_LEAF_VALIDITY_HOURS) * 3600 * 1000;
    this.now = opts.now ?? (() => new Date());
  }

  /** Generates the two shared leaf keys (asynchronously, once) and returns an empty cache. */
  static async create(ca: LocalCa, opts: LeafCacheOptions = {}): Promise<LeafCache> {
    return new LeafCache(ca, await generateLeafKeys(), opts);
  }

  get size(): number {
    return this.entries.size;
  }

  /** An RSA and an ECDSA leaf for the names the CA permits among `names`; cached by that name set. */
  async get(names: string[]): Promise<LeafPair> {
    const sans = leafNames(this.ca, names);
    if (sans.length === 0)
      throw new ShieldError(
        'MS_ERR_CA',
        `the local CA may not issue a certificate for ${names.join(', ') || '(no name)'}`,
        {
          offered: names.join(', '),
          required: `a name inside the CA's name constraints: ${this.ca.permitted.map(formatPermittedName).join(', ')}`,
          fix: 'add the name clients use to ca.extraNames, then run `mailshield ca rotate` and trust the new CA',
        },
      );
    const key = [...sans].sort().join(',');
    const now = this.now();
    const cached = this.entries.get(key);
    if (cached) {
      const e = await cached.catch(() => null);
      // Another caller may have replaced the entry while we waited; only judge the one we looked at.
      if (e && e.notAfter.getTime() - now.getTime() > Math.min(RENEW_BEFORE_MS, this.validityMs / 2)) {
        if (this.entries.get(key) === cached) {
          this.entries.delete(key);
          this.entries.set(key, cached);
        }
        return e.pair;
      }
      if (this.entries.get(key) === cached) this.entries.delete(key);
    }
    const minting = this.mint(sans, now);
    this.entries.set(key, minting);
    // A failed mint must not stay cached; the next caller tries again.
    minting.catch(() => {
      if (this.entries.get(key) === minting) this.entries.delete(key);
    });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return (await minting).pair;
  }

  private async mint(sans: string[], now: Date): Promise<Entry> {
    const notBefore = new Date(Math.max(now.getTime() - LEAF_BACKDATE_MS, this.ca.notBefore.getTime()));
    // A leaf never outlives its CA: verifiers would reject the chain at the CA's expiry anyway.
    const notAfter = new Date(Math.min(now.getTime() + this.validityMs, this.ca.notAfter.getTime()));
    const [rsa, ec] = await Promise.all([
      issueLeafCert(this.ca, this.keys.rsa, sans, notBefore, notAfter),
      issueLeafCert(this.ca, this.keys.ec, sans, notBefore, notAfter),
    ]);
    this.minted++;
    return {
      notAfter,
      pair: {
        keys: [this.keys.rsa.privateKeyPem, this.keys.ec.privateKeyPem],
        certs: [rsa.toString('pem') + '\n', ec.toString('pem') + '\n'],
      },
    };
  }
}
