// Certificate chain summaries and the pieces of certificate checking OpenSSL no longer does for us: the upstream
// handshake runs at @SECLEVEL=0 (so that a SHA-1 *handshake* signature can be judged by policy instead of failing
// outright), and at that level OpenSSL accepts SHA-1-signed certificates and 1024-bit keys (DESIGN.md §3).
// The rules themselves live in upstream-policy.ts; this file turns DER into the facts they read.
import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CertSummary } from '../core/tls-facts.js';
import { CERT_SIGNATURE_OIDS, CURVE_BITS } from './names.js';

// Node's webcrypto is the Crypto @peculiar/x509 expects; the DOM type is simply not in this project's lib.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Node's X509Certificate lacks the signature algorithm; @peculiar/x509's ASN.1 view has its OID. */
class PeculiarCert extends x509.X509Certificate {
  get signatureOid(): string {
    return this.asn.signatureAlgorithm.algorithm;
  }
  /** 1 or 3 (ASN.1 stores it as 0 or 2); a v1 certificate has no extensions, so nothing marks it as a CA. */
  get x509Version(): number {
    return (this.asn.tbsCertificate.version ?? 0) + 1;
  }
}

const PSS_OID = '1.2.840.113549.1.1.10';

/** OpenSSL's long name for a certificate's signature algorithm, e.g. "sha1WithRSAEncryption". */
function signatureName(c: PeculiarCert): string {
  const oid = c.signatureOid;
  const known = CERT_SIGNATURE_OIDS[oid];
  if (oid === PSS_OID) {
    // The digest sits in the PSS parameters; keep it in the name so the policy can judge it from the summary.
    let hash = 'unknown';
    try {
      hash = c.signatureAlgorithm.hash.name.replace('-', '').toLowerCase();
    } catch {
      /* unparseable parameters: left as unknown, which the policy treats as not-weak-by-name */
    }
    return `rsassaPss (${hash})`;
  }
  return known ? known.name : oid;
}

function keyFacts(cert: NodeX509): { keyType: string; keyBits: number; curve?: string } {
  const k = cert.publicKey;
  const d = k.asymmetricKeyDetails ?? {};
  switch (k.asymmetricKeyType) {
    case 'rsa':
      return { keyType: 'RSA', keyBits: d.modulusLength ?? 0 };
    case 'rsa-pss':
      return { keyType: 'RSA-PSS', keyBits: d.modulusLength ?? 0 };
    case 'dsa':
      return { keyType: 'DSA', keyBits: d.modulusLength ?? 0 };
    case 'ec': {
      const curve = d.namedCurve ?? 'unknown';
      return { keyType: 'EC', keyBits: CURVE_BITS[curve] ?? 0, curve };
    }
    // EVP_PKEY_get_bits() values, which is what `openssl x509 -text` prints.
    case 'ed25519':
      return { keyType: 'Ed25519', keyBits: 253 };
    case 'ed448':
      return { keyType: 'Ed448', keyBits: 456 };
    default:
      return { keyType: k.asymmetricKeyType ?? 'unknown', keyBits: 0 };
  }
}

/** 'sha256/BASE64' of the SubjectPublicKeyInfo: the form upstreamPin takes (as in HPKP and curl --pinnedpubkey). */
export function spkiPin(der: Buffer): string {
  return `sha256/${spkiSha256(new NodeX509(der))}`;
}

function spkiSha256(cert: NodeX509): string {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

function sansOf(c: PeculiarCert): string[] {
  const ext = c.getExtension(x509.SubjectAlternativeNameExtension);
  if (!ext) return [];
  return ext.names.items.map((n) => {
    if (n.type === 'dns') return `DNS:${n.value}`;
    if (n.type === 'ip') return `IP:${n.value}`;
    if (n.type === 'email') return `email:${n.value}`;
    if (n.type === 'url') return `URI:${n.value}`;
    return `${n.type}:${n.value}`;
  });
}

function isSelfSigned(cert: NodeX509): boolean {
  if (cert.subject !== cert.issuer) return false;
  try {
    return cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

/**
 * Summaries by DER. Parsing with @peculiar/x509 costs ~2 ms of event loop per chain (bench W5), and an upstream
 * presents the same chain on every connection; a summary is a pure function of the bytes, so it is cached.
 */
const summaries = new Map<string, CertSummary>();
const MAX_SUMMARIES = 256;

/** Summarises one DER certificate (a fresh copy per call: callers may keep or change it). */
export function summarizeCert(der: Buffer): CertSummary {
  const key = der.toString('base64');
  let s = summaries.get(key);
  if (!s) {
    s = parseSummary(der);
    if (summaries.size >= MAX_SUMMARIES) summaries.delete(summaries.keys().next().value as string);
    summaries.set(key, s);
  }
  return { ...s, sans: [...s.sans] };
}

function parseSummary(der: Buffer): CertSummary {
  const node = new NodeX509(der);
  const pec = new PeculiarCert(der);
  return {
    subject: pec.subject,
    issuer: pec.issuer,
    signatureAlgorithm: signatureName(pec),
    ...keyFacts(node),
    notBefore: pec.notBefore.toISOString(),
    notAfter: pec.notAfter.toISOString(),
    sans: sansOf(pec),
    selfSigned: isSelfSigned(node),
    fingerprint256: node.fingerprint256,
    spkiSha256: spkiSha256(node),
    version: pec.x509Version,
    basicConstraintsCa: pec.getExtension(x509.BasicConstraintsExtension)?.ca ?? null,
    extKeyUsage: pec.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? null,
    caIssuers: (pec.getExtension(x509.AuthorityInfoAccessExtension)?.caIssuers ?? [])
      .filter((n) => n.type === 'url')
      .map((n) => n.value),
  };
}

/** Summaries of a chain, leaf first, in the order given. */
export function summarizeChain(ders: Buffer[]): CertSummary[] {
  return ders.map(summarizeCert);
}

/**
 * Checks the leaf against the configured name (never an address the name resolved to). Done here rather than by
 * Node's checkServerIdentity, which Node skips on resumed sessions. Returns why it fails, or null.
 */
export function hostnameMismatch(leafDer: Buffer, name: string): string | null {
  const cert = new NodeX509(leafDer);
  const isIp = /^[0-9.]+$/.test(name) || name.includes(':');
  const ok = isIp ? cert.checkIP(name.replace(/^\[|\]$/g, '')) : cert.checkHost(name, { subject: 'default' });
  return ok ? null : `certificate does not name ${isIp ? 'IP address' : 'host'} ${name}`;
}
