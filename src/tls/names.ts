// Naming tables: wire code points and OIDs to the words `openssl s_client` and `openssl x509 -text` print. Users
// compare our output with theirs, so these strings are a contract (see DESIGN.md §1's table).

/** "0x002f": how a code point without a name is shown, here and by `openssl s_client`. */
export function hex4(code: number): string {
  return '0x' + code.toString(16).padStart(4, '0');
}

/** What a TLS SignatureScheme means, as `s_client` prints it in "Peer signing digest" / "Peer signature type". */
export interface SchemeName {
  /** IANA name, e.g. "rsa_pkcs1_sha1". */
  iana: string;
  /** "SHA256", "SHA1", ... or null for schemes with no separate digest (Ed25519, Ed448): s_client prints none. */
  digest: string | null;
  /** "RSA", "RSA-PSS", "ECDSA", "Ed25519", "Ed448", "DSA". */
  type: string;
}

/**
 * IANA SignatureScheme names. The TLS 1.2 code points (hash byte, signature byte) that TLS 1.3 never named (MD5,
 * SHA-224, DSA) get the same naming pattern so a policy can read the hash from the name.
 */
const SCHEMES: Record<number, SchemeName> = {
  0x0101: { iana: 'rsa_pkcs1_md5', digest: 'MD5', type: 'RSA' },
  0x0102: { iana: 'dsa_md5', digest: 'MD5', type: 'DSA' },
  0x0103: { iana: 'ecdsa_md5', digest: 'MD5', type: 'ECDSA' },
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
  0x0502: { iana: 'dsa_sha384', digest: 'SHA384', type: 'DSA' },
  0x0503: { iana: 'ecdsa_secp384r1_sha384', digest: 'SHA384', type: 'ECDSA' },
  0x0601: { iana: 'rsa_pkcs1_sha512', digest: 'SHA512', type: 'RSA' },
  0x0602: { iana: 'dsa_sha512', digest: 'SHA512', type: 'DSA' },
  0x0603: { iana: 'ecdsa_secp521r1_sha512', digest: 'SHA512', type: 'ECDSA' },
  0x0804: { iana: 'rsa_pss_rsae_sha256', digest: 'SHA256', type: 'RSA-PSS' },
  0x0805: { iana: 'rsa_pss_rsae_sha384', digest: 'SHA384', type: 'RSA-PSS' },
  0x0806: { iana: 'rsa_pss_rsae_sha512', digest: 'SHA512', type: 'RSA-PSS' },
  0x0807: { iana: 'ed25519', digest: null, type: 'Ed25519' },
  0x0808: { iana: 'ed448', digest: null, type: 'Ed448' },
  0x0809: { iana: 'rsa_pss_pss_sha256', digest: 'SHA256', type: 'RSA-PSS' },
  0x080a: { iana: 'rsa_pss_pss_sha384', digest: 'SHA384', type: 'RSA-PSS' },
  0x080b: { iana: 'rsa_pss_pss_sha512', digest: 'SHA512', type: 'RSA-PSS' },
  0x081a: { iana: 'ecdsa_brainpoolP256r1tls13_sha256', digest: 'SHA256', type: 'ECDSA' },
  0x081b: { iana: 'ecdsa_brainpoolP384r1tls13_sha384', digest: 'SHA384', type: 'ECDSA' },
  0x081c: { iana: 'ecdsa_brainpoolP512r1tls13_sha512', digest: 'SHA512', type: 'ECDSA' },
};

export function schemeName(code: number): SchemeName {
  return SCHEMES[code] ?? { iana: hex4(code), digest: null, type: 'unknown' };
}

/** The IANA name alone, as a ClientHello's signature_algorithms list is recorded. */
export function signatureSchemeName(code: number): string {
  return schemeName(code).iana;
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

/** A wire version as Node's getProtocol() names it ("TLSv1.2"); unknown ones as hex. */
export function versionName(code: number): string {
  return TLS_VERSION_NAMES[code] ?? hex4(code);
}

/** The TLS versions Node can be asked for (minVersion/maxVersion), oldest first. */
export const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersionName = (typeof TLS_VERSIONS)[number];

/** The version names Node's getProtocol() returns, oldest first, so an index comparison orders them. */
const PROTOCOL_ORDER = ['SSLv3', ...TLS_VERSIONS] as const;

/** Position in PROTOCOL_ORDER (newer is larger), or -1 for a name that is not a version. */
export function versionRank(name: string): number {
  return (PROTOCOL_ORDER as readonly string[]).indexOf(name);
}

/** Human form used in explanations: "TLS 1.0" for Node's "TLSv1", "TLS 1.2" for "TLSv1.2". */
export function humanProtocol(p: string): string {
  if (p === 'TLSv1') return 'TLS 1.0';
  return p.replace(/^TLSv/, 'TLS ');
}

/** IANA names of the suites mail clients of the last 15 years offer; anything else is shown as hex. */
const CIPHER_NAMES: Record<number, string> = {
  0x0004: 'TLS_RSA_WITH_RC4_128_MD5',
  0x0005: 'TLS_RSA_WITH_RC4_128_SHA',
  0x000a: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  0x0013: 'TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA',
  0x0016: 'TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA',
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA',
  0x0032: 'TLS_DHE_DSS_WITH_AES_128_CBC_SHA',
  0x0033: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA',
  0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  0x0038: 'TLS_DHE_DSS_WITH_AES_256_CBC_SHA',
  0x0039: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA',
  0x003c: 'TLS_RSA_WITH_AES_128_CBC_SHA256',
  0x003d: 'TLS_RSA_WITH_AES_256_CBC_SHA256',
  0x0040: 'TLS_DHE_DSS_WITH_AES_128_CBC_SHA256',
  0x0067: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256',
  0x006a: 'TLS_DHE_DSS_WITH_AES_256_CBC_SHA256',
  0x006b: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256',
  0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0x009e: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256',
  0x009f: 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
  0x00a2: 'TLS_DHE_DSS_WITH_AES_128_GCM_SHA256',
  0x00a3: 'TLS_DHE_DSS_WITH_AES_256_GCM_SHA384',
  0x00ff: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  0x1301: 'TLS_AES_128_GCM_SHA256',
  0x1302: 'TLS_AES_256_GCM_SHA384',
  0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
  0x5600: 'TLS_FALLBACK_SCSV',
  0xc007: 'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA',
  0xc008: 'TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA',
  0xc009: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  0xc00a: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  0xc011: 'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
  0xc012: 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0xc023: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  0xc024: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
  0xc027: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  0xc028: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xc09c: 'TLS_RSA_WITH_AES_128_CCM',
  0xc09d: 'TLS_RSA_WITH_AES_256_CCM',
  0xc09e: 'TLS_DHE_RSA_WITH_AES_128_CCM',
  0xc09f: 'TLS_DHE_RSA_WITH_AES_256_CCM',
  0xc0a0: 'TLS_RSA_WITH_AES_128_CCM_8',
  0xc0a1: 'TLS_RSA_WITH_AES_256_CCM_8',
  0xc0a2: 'TLS_DHE_RSA_WITH_AES_128_CCM_8',
  0xc0a3: 'TLS_DHE_RSA_WITH_AES_256_CCM_8',
  0xc0ac: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM',
  0xc0ad: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM',
  0xc0ae: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8',
  0xc0af: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0xccaa: 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
};

export function cipherSuiteName(code: number): string {
  return CIPHER_NAMES[code] ?? hex4(code);
}

const CIPHER_CODES = new Map(Object.entries(CIPHER_NAMES).map(([code, name]) => [name, Number(code)]));

/** Cipher suite code point from its name (IANA name, or "0x1234" for unknown ones); null when neither. */
export function cipherSuiteCode(name: string): number | null {
  if (/^0x[0-9a-f]{1,4}$/i.test(name)) return parseInt(name, 16);
  return CIPHER_CODES.get(name) ?? null;
}

/** Names as `openssl s_client` prints them for "Server Temp Key" and `-groups`. */
const GROUP_NAMES: Record<number, string> = {
  0x0015: 'secp224r1',
  0x0017: 'secp256r1',
  0x0018: 'secp384r1',
  0x0019: 'secp521r1',
  0x001a: 'brainpoolP256r1',
  0x001b: 'brainpoolP384r1',
  0x001c: 'brainpoolP512r1',
  0x001d: 'x25519',
  0x001e: 'x448',
  0x0100: 'ffdhe2048',
  0x0101: 'ffdhe3072',
  0x0102: 'ffdhe4096',
  0x0103: 'ffdhe6144',
  0x0104: 'ffdhe8192',
  0x11ec: 'X25519MLKEM768',
  0x6399: 'X25519Kyber768Draft00',
};

export function groupName(code: number): string {
  return GROUP_NAMES[code] ?? hex4(code);
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
