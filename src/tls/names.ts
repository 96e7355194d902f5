// Naming tables: wire code points and OIDs to the words `openssl s_client` and `openssl x509 -text` print. Users
// compare our output with theirs, so these strings are a contract (see DESIGN.md §1's table).

/** What a TLS SignatureScheme means, as `s_client` prints it in "Peer signing digest" / "Peer signature type". */
export interface SchemeName {
  /** IANA name, e.g. "rsa_pkcs1_sha1". */
  iana: string;
  /** "SHA256", "SHA1", ... or null for schemes with no separate digest (Ed25519, Ed448): s_client prints none. */
  digest: string | null;
  /** "RSA", "RSA-PSS", "ECDSA", "Ed25519", "Ed448", "DSA". */
  type: string;
}

const SCHEMES: Record<number, SchemeName> = {
  0x0101: { iana: 'rsa_pkcs1_md5', digest: 'MD5', type: 'RSA' },
  0x0201: { iana: 'rsa_pkcs1_sha1', digest: 'SHA1', type: 'RSA' },
  0x0202: { iana: 'dsa_sha1', digest: 'SHA1', type: 'DSA' },
  0x0203: { iana: 'ecdsa_sha1', digest: 'SHA1', type: 'ECDSA' },
  0x0301: { iana: 'rsa_pkcs1_sha224', digest: 'SHA224', type: 'RSA' },
  0x0302: { iana: 'dsa_sha224', digest: 'SHA224', type: 'DSA' },
  0x0303: { iana: 'ecdsa_sha224', digest: 'SHA224', type: 'ECDSA' },
  0x0401: { iana: 'rsa_pkcs1_sha256', digest: 'SHA256', type: 'RSA' },
  0x0402: { iana: 'dsa_sha256', digest: 'SHA256', type: 'DSA' },
  0x0403: { iana: 'ecdsa_secp256r1_sha256', digest: 'SHA256', type: 'ECDSA' },
  0x0501: { iana: 'rsa_pkcs1_sha384', digest: 'SHA384', type: 'RSA' },
  0x0503: { iana: 'ecdsa_secp384r1_sha384', digest: 'SHA384', type: 'ECDSA' },
  0x0601: { iana: 'rsa_pkcs1_sha512', digest: 'SHA512', type: 'RSA' },
  0x0603: { iana: 'ecdsa_secp521r1_sha512', digest: 'SHA512', type: 'ECDSA' },
  0x0804: { iana: 'rsa_pss_rsae_sha256', digest: 'SHA256', type: 'RSA-PSS' },
  0x0805: { iana: 'rsa_pss_rsae_sha384', digest: 'SHA384', type: 'RSA-PSS' },
  0x0806: { iana: 'rsa_pss_rsae_sha512', digest: 'SHA512', type: 'RSA-PSS' },
  0x0807: { iana: 'ed25519', digest: null, type: 'Ed25519' },
  0x0808: { iana: 'ed448', digest: null, type: 'Ed448' },
  0x0809: { iana: 'rsa_pss_pss_sha256', digest: 'SHA256', type: 'RSA-PSS' },
  0x080a: { iana: 'rsa_pss_pss_sha384', digest: 'SHA384', type: 'RSA-PSS' },
  0x080b: { iana: 'rsa_pss_pss_sha512', digest: 'SHA512', type: 'RSA-PSS' },
};

export function schemeName(code: number): SchemeName {
  return SCHEMES[code] ?? { iana: `0x${code.toString(16).padStart(4, '0')}`, digest: null, type: 'unknown' };
}

/**
 * TLS 1.0/1.1 have no signature_algorithms: the scheme follows from the certificate's key. An RSA key signs
 * MD5+SHA1 concatenated, which s_client prints as "MD5-SHA1"; ECDSA and DSA sign SHA-1.
 */
export function legacySignature(authType: 'RSA' | 'ECDSA' | 'DSA'): { digest: string; type: string } {
  return authType === 'RSA' ? { digest: 'MD5-SHA1', type: 'RSA' } : { digest: 'SHA1', type: authType };
}

/** Cipher suites whose ServerKeyExchange an ECDSA or DSA key signs; every other signed key exchange is RSA. */
const ECDSA_SUITES = new Set([0xc006, 0xc007, 0xc008, 0xc009, 0xc00a, 0xc023, 0xc024, 0xc02b, 0xc02c, 0xcca9]);
const DSS_SUITES = new Set([0x0011, 0x0012, 0x0013, 0x0032, 0x0038, 0x0040, 0x006a, 0x00a2, 0x00a3]);

export function suiteAuthType(suite: number): 'RSA' | 'ECDSA' | 'DSA' {
  if (ECDSA_SUITES.has(suite)) return 'ECDSA';
  if (DSS_SUITES.has(suite)) return 'DSA';
  return 'RSA';
}

export const TLS_VERSION_NAMES: Record<number, string> = {
  0x0300: 'SSLv3',
  0x0301: 'TLSv1',
  0x0302: 'TLSv1.1',
  0x0303: 'TLSv1.2',
  0x0304: 'TLSv1.3',
};

/** The version names Node's getProtocol() returns, oldest first, so an index comparison orders them. */
export const PROTOCOL_ORDER = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

/** Human form used in explanations: "TLS 1.0" for Node's "TLSv1". */
export function humanProtocol(p: string): string {
  if (p === 'TLSv1') return 'TLS 1.0';
  return p.replace(/^TLSv/, 'TLS ');
}

/**
 * OpenSSL's long names for certificate signature algorithms, as `openssl x509 -text` prints them, with the digest
 * that decides whether the signature is weak. RSASSA-PSS carries its digest in parameters, so it is resolved apart.
 */
export const CERT_SIGNATURE_OIDS: Record<string, { name: string; digest: string | null }> = {
  '1.2.840.113549.1.1.2': { name: 'md2WithRSAEncryption', digest: 'MD2' },
  '1.2.840.113549.1.1.4': { name: 'md5WithRSAEncryption', digest: 'MD5' },
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', digest: 'SHA1' },
  '1.3.14.3.2.29': { name: 'shaWithRSASignature', digest: 'SHA1' },
  '1.2.840.113549.1.1.14': { name: 'sha224WithRSAEncryption', digest: 'SHA224' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', digest: 'SHA256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', digest: 'SHA384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', digest: 'SHA512' },
  '1.2.840.113549.1.1.10': { name: 'rsassaPss', digest: null },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', digest: 'SHA1' },
  '1.2.840.10045.4.3.1': { name: 'ecdsa-with-SHA224', digest: 'SHA224' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', digest: 'SHA256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', digest: 'SHA384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', digest: 'SHA512' },
  '1.2.840.10040.4.3': { name: 'dsaWithSHA1', digest: 'SHA1' },
  '2.16.840.1.101.3.4.3.1': { name: 'dsa_with_SHA224', digest: 'SHA224' },
  '2.16.840.1.101.3.4.3.2': { name: 'dsa_with_SHA256', digest: 'SHA256' },
  '1.3.101.112': { name: 'ED25519', digest: null },
  '1.3.101.113': { name: 'ED448', digest: null },
};

/** Digests too weak to sign anything that must resist forgery for long (certificates) or at all (MD5). */
export const WEAK_DIGESTS = new Set(['MD2', 'MD4', 'MD5', 'SHA1', 'MD5-SHA1']);

/** Bits of an EC public key by curve name (Node's namedCurve, OpenSSL's short names). */
export const CURVE_BITS: Record<string, number> = {
  prime192v1: 192,
  secp224r1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  brainpoolP256r1: 256,
  brainpoolP384r1: 384,
  brainpoolP512r1: 512,
};

/**
 * Node's getEphemeralKeyInfo() formatted exactly like s_client's "Server Temp Key": "X25519, 253 bits",
 * "ECDH, prime256v1, 256 bits", "DH, 2048 bits".
 */
export function formatTempKey(info: { type?: string; name?: string; size?: number } | null | undefined): string | null {
  if (!info || !info.type) return null;
  const size = info.size ?? 0;
  if (info.type === 'DH') return `DH, ${size} bits`;
  if (info.type === 'ECDH') {
    if (info.name === 'X25519' || info.name === 'X448') return `${info.name}, ${size} bits`;
    return `ECDH, ${info.name ?? 'unknown'}, ${size} bits`;
  }
  return `${info.type}, ${size} bits`;
}

/**
 * Security strength in "EC bits" terms of a parsed Server Temp Key, so one threshold covers NIST curves and the
 * Montgomery curves: X25519 is nominally 253 bits but as strong as P-256.
 */
export function parseTempKey(s: string): { kind: 'DH' | 'ECDH'; name: string | null; bits: number } | null {
  let m = /^DH, (\d+) bits$/.exec(s);
  if (m) return { kind: 'DH', name: null, bits: Number(m[1]) };
  m = /^(X25519|X448), (\d+) bits$/.exec(s);
  if (m) return { kind: 'ECDH', name: m[1]!, bits: m[1] === 'X25519' ? 256 : 448 };
  m = /^ECDH, ([^,]+), (\d+) bits$/.exec(s);
  if (m) return { kind: 'ECDH', name: m[1]!, bits: Number(m[2]) };
  return null;
}
