// The demo's own test PKI: a CA that exists only to vouch for the two demo upstreams, made at first run in
// dataDir/demo/ and reused afterwards. It is not the shield's local CA (that one signs what mail clients see); the
// shield trusts this one as an account's `upstreamCa`, exactly as it would trust a company's private CA.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Names the demo servers answer to. `.test` is reserved (RFC 6761), so they can never be real hosts. */
export const DEMO_MAIL_HOST = 'mail.demo.test';
export const DEMO_ISP_HOST = 'pop.isp.test';

const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
} as const;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

const DAY_MS = 24 * 3600 * 1000;
/** Two years: long enough never to bother a user trying the demo; renewed at start when less than a week is left. */
const VALIDITY_DAYS = 730;
const RENEW_BEFORE_MS = 7 * DAY_MS;

export interface DemoCert {
  certPem: string;
  keyPem: string;
}

export interface DemoPki {
  dir: string;
  /** The demo CA certificate: the accounts' `upstreamCa`, and `--ca` for `mailshield probe`. */
  caPath: string;
  /** The modern demo mail server: ECDSA P-256 leaf, TLS 1.3. */
  mail: DemoCert;
  /** The ISP-like server: RSA-2048 leaf signed with SHA-256 (the story's ISP had a fine certificate). */
  isp: DemoCert;
  created: boolean;
}

const FILES = {
  caCert: 'demo-ca.pem',
  caKey: 'demo-ca.key',
  mailCert: 'mail.demo.test.pem',
  mailKey: 'mail.demo.test.key',
  ispCert: 'pop.isp.test.pem',
  ispKey: 'pop.isp.test.key',
} as const;

const serial = () => {
  const b = randomBytes(16);
  b[0]! &= 0x7f; // a positive INTEGER
  return b.toString('hex');
};

async function pemKey(pair: CryptoKeyPair): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey), 'PRIVATE KEY');
}

async function leaf(
  ca: { cert: x509.X509Certificate; key: CryptoKeyPair },
  alg: typeof RSA | typeof EC,
  host: string,
  now: Date,
): Promise<DemoCert> {
  const pair = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const usages =
    alg.name === 'ECDSA'
      ? x509.KeyUsageFlags.digitalSignature
      : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [host] }, { O: ['mailshield demo'] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: RSA,
    publicKey: pair.publicKey,
    signingKey: ca.key.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // 127.0.0.1 too, so `openssl s_client -connect 127.0.0.1:PORT -verify_ip 127.0.0.1` works for the curious.
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: host },
        { type: 'ip', value: '127.0.0.1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(pair.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await pemKey(pair) };
}

async function generate(dir: string, now: Date): Promise<void> {
  const key = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  const name: x509.JsonName = [
    { CN: [`mailshield demo test CA ${randomBytes(4).toString('hex')}`] },
    { O: ['mailshield demo'] },
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: name,
    issuer: name,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: RSA,
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(key.publicKey),
    ],
  });
  const ca = { cert, key };
  const [mail, isp] = await Promise.all([leaf(ca, EC, DEMO_MAIL_HOST, now), leaf(ca, RSA, DEMO_ISP_HOST, now)]);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Keys 0600 like every key mailshield writes; they only guard demo servers, but habits should not vary.
  const write = (f: string, text: string, mode: number) =>
    writeFile(join(dir, f), text, { mode }).then(() => chmod(join(dir, f), mode));
  await write(FILES.caKey, await pemKey(key), 0o600);
  await write(FILES.mailKey, mail.keyPem, 0o600);
  await write(FILES.ispKey, isp.keyPem, 0o600);
  await write(FILES.mailCert, mail.certPem, 0o644);
  await write(FILES.ispCert, isp.certPem, 0o644);
  // The CA certificate last: its presence means the set is complete.
  await write(FILES.caCert, cert.toString('pem') + '\n', 0o644);
}

async function read(dir: string, now: Date): Promise<Omit<DemoPki, 'created'> | null> {
  try {
    const r = (f: string) => readFile(join(dir, f), 'utf8');
    const [caPem, mailCert, mailKey, ispCert, ispKey] = await Promise.all([
      r(FILES.caCert),
      r(FILES.mailCert),
      r(FILES.mailKey),
      r(FILES.ispCert),
      r(FILES.ispKey),
    ]);
    const soon = now.getTime() + RENEW_BEFORE_MS;
    for (const pem of [caPem, mailCert, ispCert]) {
      const c = new x509.X509Certificate(pem);
      if (c.notAfter.getTime() < soon || c.notBefore.getTime() > now.getTime()) return null;
    }
    return {
      dir,
      caPath: join(dir, FILES.caCert),
      mail: { certPem: mailCert, keyPem: mailKey },
      isp: { certPem: ispCert, keyPem: ispKey },
    };
  } catch {
    // Missing, half-written or unreadable: the demo PKI is disposable, so make a new one.
    return null;
  }
}

/** Loads the demo PKI from `dir`, or makes it (again) when it is missing, broken or about to expire. */
export async function loadOrCreateDemoPki(dir: string, now: Date): Promise<DemoPki> {
  const existing = await read(dir, now);
  if (existing) return { ...existing, created: false };
  await generate(dir, now);
  const made = await read(dir, now);
  if (!made) throw new Error(`demo PKI in ${dir} could not be read back after it was made`);
  return { ...made, created: true };
}
