// The local CA: made once per install inside dataDir, never shipped or shared. It carries critical X.509 name
// constraints, so a stolen key can only vouch for loopback, the listener addresses, ca.extraNames and (in intercept
// mode) exactly intercept.domains, never for any other server. Leaves are minted by leaf-cache.ts; the name rules
// both use are in ca-names.ts. This file makes and checks the CA as PEM text; src/store/ca-files.ts keeps the files.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { hostname } from 'node:os';
import * as x509 from '@peculiar/x509';
import { ShieldError } from '../core/errors.js';
import {
  coveredBy,
  formatPermittedName,
  nameConstraintsExtension,
  readPermitted,
  type PermittedName,
} from './ca-names.js';

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

function hex(buf: ArrayBuffer | Uint8Array): string {
  return Buffer.from(buf instanceof Uint8Array ? buf : new Uint8Array(buf)).toString('hex');
}

/** A positive serial with 127 random bits (RFC 5280 allows 20 octets; CA/B asks for ≥ 64 bits of entropy). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

/** A new CA for `permitted` as PEM text: the PKCS#8 key and the self-signed certificate. */
export async function generateCaPem(
  permitted: PermittedName[],
  now: Date,
): Promise<{ keyPem: string; certPem: string }> {
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
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), certPem: cert.toString('pem') + '\n' };
}

/** Where a CA was read from and what it was read as; the PEM is absent when reading the files failed. */
export interface CaSource {
  dir: string;
  certPath: string;
  keyPath: string;
  pem: { certPem: string; keyPem: string } | { error: unknown };
}

/** The error for a CA that cannot be used, with the way out. */
export function caError(dir: string, what: string, cause?: unknown): ShieldError {
  return new ShieldError('MS_ERR_CA', `local CA in ${dir}: ${what}`, {
    fix: 'run `mailshield ca rotate` to make a new CA (then trust it again), or restore the files from a backup',
    cause,
  });
}

/**
 * Checks a CA read from its files and makes it usable: the key matches the certificate, name constraints present,
 * not expired. `requested` names it does not cover are listed in `uncovered`.
 */
export async function openCa(src: CaSource, requested: PermittedName[], now: Date, created: boolean): Promise<LocalCa> {
  const { dir, certPath, keyPath } = src;
  const fail = (what: string, cause?: unknown) => caError(dir, what, cause);
  let certPem: string;
  let keyPem: string;
  let cert: x509.X509Certificate;
  let signingKey: CryptoKey;
  try {
    if ('error' in src.pem) throw src.pem.error;
    ({ certPem, keyPem } = src.pem);
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
