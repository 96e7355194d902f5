// Client-leg TLS policy: the profiles as data, and a pure evaluation of a ClientHello against them. The client leg is
// usually loopback, where anyone who can read the traffic already owns the machine, so legacy TLS there costs almost
// nothing; on any other address the same client crosses a network (DESIGN.md §1, lesson 1).
import type { ClientPolicyName } from '../core/config.js';
import { ShieldError, type ErrorCode } from '../core/errors.js';
import { isLoopbackHost } from '../core/hosts.js';
import type { ClientHelloInfo } from '../core/tls-facts.js';
import { humanProtocol, versionRank, type TlsVersionName } from './names.js';

export type ClientProfileName = 'strict' | 'balanced' | 'legacy';

export interface ClientProfile {
  name: ClientProfileName;
  /** Lowest protocol version the client may negotiate. */
  minVersion: TlsVersionName;
  /**
   * Whether SHA-1 / MD5 handshake signatures are acceptable. A handshake signature only has to resist forgery for
   * the seconds the handshake lasts, a much smaller risk than a SHA-1 certificate signature that lives for years.
   * TLS 1.0/1.1 always sign with MD5+SHA1 (RSA) or SHA1 (ECDSA), so a profile admitting them must allow this too.
   */
  weakHandshakeSignatures: boolean;
  /** Serve only forward-secret AEAD suites (STRICT_SUITES): no CBC, no SHA-1 MAC, no static-RSA key exchange. */
  aeadOnly: boolean;
  meaning: string;
}

/** The profiles, as data. The README and `mailshield doctor` print `meaning`. */
export const CLIENT_PROFILES: Readonly<Record<ClientProfileName, ClientProfile>> = {
  strict: {
    name: 'strict',
    minVersion: 'TLSv1.2',
    weakHandshakeSignatures: false,
    aeadOnly: true,
    meaning:
      'TLS 1.2 or newer with forward-secret AEAD suites only (TLS 1.3, or ECDHE with AES-GCM or ChaCha20-Poly1305), ' +
      'and the client must offer a handshake signature scheme better than SHA-1/MD5 ' +
      '(refuses TLS 1.0/1.1, CBC and static-RSA suites, and clients offering only SHA-1 signature algorithms).',
  },
  balanced: {
    name: 'balanced',
    minVersion: 'TLSv1.2',
    weakHandshakeSignatures: true,
    aeadOnly: false,
    meaning: 'TLS 1.2 or newer; SHA-1 handshake signatures are accepted when they are all the client offers.',
  },
  legacy: {
    name: 'legacy',
    minVersion: 'TLSv1',
    weakHandshakeSignatures: true,
    aeadOnly: false,
    meaning: 'TLS 1.0 or newer with SHA-1/MD5 handshake signatures: Windows 7-era clients (SChannel defaults).',
  },
};

/**
 * `auto` is not a profile of its own: it is `legacy` on a loopback listener (127.0.0.0/8, ::1, localhost), the
 * Windows 7 case of the story, and `balanced` on any other address, which therefore requires TLS 1.2.
 */
export function effectiveClientProfile(policy: ClientPolicyName, listen: string): ClientProfile {
  if (policy === 'auto') return CLIENT_PROFILES[isLoopbackHost(hostOf(listen)) ? 'legacy' : 'balanced'];
  return CLIENT_PROFILES[policy];
}

/** 'strict' serves STRICT_SUITES only; 'modern' Node's defaults; 'legacy' lowers OpenSSL's security level. */
export type ContextKind = 'strict' | 'modern' | 'legacy';

/**
 * A suite the client leg can serve: it is in Node's default cipher list and usable with our RSA or ECDSA leaves
 * (no DSS, and no finite-field DHE because the client leg sets no dhparam). `test/client-tls.test.ts` checks this
 * table against what OpenSSL actually enables, so the pure check and the real SecureContext cannot drift apart.
 * `from` is the lowest version the suite works in; TLS 1.3 suites work only in TLS 1.3, all others only up to 1.2.
 */
export interface ServedSuite {
  code: number;
  openssl: string;
  from: TlsVersionName;
}

export const SERVED_SUITES: readonly ServedSuite[] = [
  { code: 0x1302, openssl: 'TLS_AES_256_GCM_SHA384', from: 'TLSv1.3' },
  { code: 0x1303, openssl: 'TLS_CHACHA20_POLY1305_SHA256', from: 'TLSv1.3' },
  { code: 0x1301, openssl: 'TLS_AES_128_GCM_SHA256', from: 'TLSv1.3' },
  { code: 0xc02f, openssl: 'ECDHE-RSA-AES128-GCM-SHA256', from: 'TLSv1.2' },
  { code: 0xc02b, openssl: 'ECDHE-ECDSA-AES128-GCM-SHA256', from: 'TLSv1.2' },
  { code: 0xc030, openssl: 'ECDHE-RSA-AES256-GCM-SHA384', from: 'TLSv1.2' },
  { code: 0xc02c, openssl: 'ECDHE-ECDSA-AES256-GCM-SHA384', from: 'TLSv1.2' },
  { code: 0xc027, openssl: 'ECDHE-RSA-AES128-SHA256', from: 'TLSv1.2' },
  { code: 0xc028, openssl: 'ECDHE-RSA-AES256-SHA384', from: 'TLSv1.2' },
  { code: 0xcca9, openssl: 'ECDHE-ECDSA-CHACHA20-POLY1305', from: 'TLSv1.2' },
  { code: 0xcca8, openssl: 'ECDHE-RSA-CHACHA20-POLY1305', from: 'TLSv1.2' },
  { code: 0xc0af, openssl: 'ECDHE-ECDSA-AES256-CCM8', from: 'TLSv1.2' },
  { code: 0xc0ad, openssl: 'ECDHE-ECDSA-AES256-CCM', from: 'TLSv1.2' },
  { code: 0xc0ae, openssl: 'ECDHE-ECDSA-AES128-CCM8', from: 'TLSv1.2' },
  { code: 0xc0ac, openssl: 'ECDHE-ECDSA-AES128-CCM', from: 'TLSv1.2' },
  { code: 0xc05d, openssl: 'ECDHE-ECDSA-ARIA256-GCM-SHA384', from: 'TLSv1.2' },
  { code: 0xc061, openssl: 'ECDHE-ARIA256-GCM-SHA384', from: 'TLSv1.2' },
  { code: 0xc05c, openssl: 'ECDHE-ECDSA-ARIA128-GCM-SHA256', from: 'TLSv1.2' },
  { code: 0xc060, openssl: 'ECDHE-ARIA128-GCM-SHA256', from: 'TLSv1.2' },
  { code: 0xc024, openssl: 'ECDHE-ECDSA-AES256-SHA384', from: 'TLSv1.2' },
  { code: 0xc023, openssl: 'ECDHE-ECDSA-AES128-SHA256', from: 'TLSv1.2' },
  { code: 0xc00a, openssl: 'ECDHE-ECDSA-AES256-SHA', from: 'TLSv1' },
  { code: 0xc014, openssl: 'ECDHE-RSA-AES256-SHA', from: 'TLSv1' },
  { code: 0xc009, openssl: 'ECDHE-ECDSA-AES128-SHA', from: 'TLSv1' },
  { code: 0xc013, openssl: 'ECDHE-RSA-AES128-SHA', from: 'TLSv1' },
  { code: 0x009d, openssl: 'AES256-GCM-SHA384', from: 'TLSv1.2' },
  { code: 0xc0a1, openssl: 'AES256-CCM8', from: 'TLSv1.2' },
  { code: 0xc09d, openssl: 'AES256-CCM', from: 'TLSv1.2' },
  { code: 0xc051, openssl: 'ARIA256-GCM-SHA384', from: 'TLSv1.2' },
  { code: 0x009c, openssl: 'AES128-GCM-SHA256', from: 'TLSv1.2' },
  { code: 0xc0a0, openssl: 'AES128-CCM8', from: 'TLSv1.2' },
  { code: 0xc09c, openssl: 'AES128-CCM', from: 'TLSv1.2' },
  { code: 0xc050, openssl: 'ARIA128-GCM-SHA256', from: 'TLSv1.2' },
  { code: 0x003d, openssl: 'AES256-SHA256', from: 'TLSv1.2' },
  { code: 0x003c, openssl: 'AES128-SHA256', from: 'TLSv1.2' },
  { code: 0x0035, openssl: 'AES256-SHA', from: 'TLSv1' },
  { code: 0x002f, openssl: 'AES128-SHA', from: 'TLSv1' },
];

/**
 * What `strict` serves: forward-secret AEAD only. Every TLS 1.3 suite is (its key exchange is always ephemeral);
 * for TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305. Finite-field DHE would qualify but needs a dhparam the
 * client leg does not set, and CCM (with its 8-byte-tag variants) and ARIA are left out as no mail client needs them.
 * `test/client-tls.test.ts` checks this list against what OpenSSL enables for it.
 */
export const STRICT_SUITES = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
] as const;

const STRICT_SET: ReadonlySet<string> = new Set(STRICT_SUITES);

/**
 * The CBC-SHA suites Windows 7 SChannel offers over TLS 1.0. Node's default list already contains them (via HIGH);
 * the legacy context names them explicitly so a change of Node's defaults cannot silently drop the story's client.
 * 3DES (Sweet32) stays off: every Windows 7 client also offers AES-CBC.
 */
export const LEGACY_EXTRA_SUITES = [
  'ECDHE-RSA-AES256-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-ECDSA-AES128-SHA',
  'AES256-SHA',
  'AES128-SHA',
] as const;

export interface ClientPolicyDecision {
  ok: boolean;
  /** Which SecureContext to serve: 'legacy' lowers OpenSSL's security level to 0 (DESIGN.md §3). */
  context: ContextKind;
  /** The effective profile: strict | balanced | legacy (auto resolved by listener address). */
  policy: string;
  /** The lowest version the chosen context accepts (the profile's minimum). */
  minVersion: TlsVersionName;
  /** Accepted, but worth recording on the connection (e.g. a SHA-1-only handshake under balanced). */
  warnings: string[];
  refusal?: ShieldError;
}

/** MD5 and SHA-1 schemes, including TLS 1.2's implicit defaults; the names come from client-hello.ts. */
export function isWeakSignatureScheme(name: string): boolean {
  return /(^|_)(sha1|md5)$/.test(name);
}

/** Is this scheme one OpenSSL can use with a strong hash? Unknown (hex) schemes count as neither. */
function isStrongSignatureScheme(name: string): boolean {
  return !name.startsWith('0x') && !isWeakSignatureScheme(name);
}

function hostOf(listen: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(listen);
  if (bracketed) return bracketed[1]!;
  const i = listen.lastIndexOf(':');
  // A bare IPv6 address has several colons and no port.
  return i > 0 && listen.indexOf(':') === i ? listen.slice(0, i) : listen;
}

/** One line summarising a hello, for `offered:` in errors and for logs. */
export function describeHello(info: ClientHelloInfo): string {
  const parts = [
    `versions ${info.versions.map(humanProtocol).join(', ')}`,
    `cipher suites ${info.cipherSuiteNames.join(', ') || 'none'}`,
    info.signatureAlgorithms.length
      ? `signature algorithms ${info.signatureAlgorithms.join(', ')}`
      : 'no signature_algorithms extension',
  ];
  if (info.sni) parts.push(`SNI ${info.sni}`);
  return parts.join('; ');
}

/** The exact setting that would admit the client, worded for where the listener is. */
function fixFor(listen: string, need: 'legacy' | 'balanced'): string {
  if (need === 'balanced') return 'to accept it, set policy.client: balanced, legacy or auto';
  const where = isLoopbackHost(hostOf(listen)) ? ' or auto' : ', or auto on a loopback listener';
  return `to accept it, set policy.client: legacy${where}; or enable TLS 1.2 in the mail client`;
}

/** Evaluates what a client offered against the client policy for the listener it connected to. */
export function evaluateClientHello(
  info: ClientHelloInfo,
  policy: ClientPolicyName,
  listen: string,
): ClientPolicyDecision {
  const profile = effectiveClientProfile(policy, listen);
  const setting =
    policy === 'auto' ? `policy.client: auto, which is ${profile.name} on ${listen}` : `policy.client: ${policy}`;
  const min = versionRank(profile.minVersion);
  const base = { policy: profile.name, minVersion: profile.minVersion, warnings: [] as string[] };
  const refuse = (code: ErrorCode, what: string, required: string, fix: string): ClientPolicyDecision => ({
    ...base,
    ok: false,
    context: 'modern',
    refusal: new ShieldError(code, what, { offered: describeHello(info), required, fix }),
  });

  const usable = info.versions.filter((v) => versionRank(v) >= min);
  if (usable.length === 0) {
    const offered = info.versions.map(humanProtocol).join(', ');
    return refuse(
      'MS_ERR_CLIENT_TLS_VERSION',
      `client offered only ${offered}; listener ${listen} requires ${humanProtocol(profile.minVersion)} (${setting})`,
      `${humanProtocol(profile.minVersion)} or newer`,
      fixFor(listen, 'legacy'),
    );
  }
  const best = usable[0]!;
  const modernVersion = versionRank(best) >= versionRank('TLSv1.2');

  // TLS 1.2 without signature_algorithms means {sha1} (RFC 5246 §7.4.1.4.1); TLS 1.3 requires the extension.
  const strongSig = info.signatureAlgorithms.some(isStrongSignatureScheme);
  const needsWeakSig = !modernVersion || !strongSig;
  if (needsWeakSig && !profile.weakHandshakeSignatures) {
    const offered = info.signatureAlgorithms.length
      ? info.signatureAlgorithms.join(', ')
      : 'no signature_algorithms, which means SHA-1 in TLS 1.2';
    return refuse(
      'MS_ERR_CLIENT_TLS_SIGALGS',
      `client offered only SHA-1/MD5 handshake signature algorithms (${offered}); listener ${listen} requires ` +
        `SHA-256 or better (${setting})`,
      'a handshake signature scheme with SHA-256 or better (rsa_pss_rsae_sha256, rsa_pkcs1_sha256, ecdsa_secp256r1_sha256, ...)',
      fixFor(listen, 'balanced'),
    );
  }

  const usableVersions = new Set(usable);
  const served = SERVED_SUITES.filter(
    (s) =>
      info.cipherSuites.includes(s.code) &&
      (!profile.aeadOnly || STRICT_SET.has(s.openssl)) &&
      (s.from === 'TLSv1.3'
        ? usableVersions.has('TLSv1.3')
        : usable.some((v) => v !== 'TLSv1.3' && versionRank(v) >= versionRank(s.from))),
  );
  if (served.length === 0 && profile.aeadOnly) {
    return refuse(
      'MS_ERR_CLIENT_TLS_CIPHERS',
      `client offered no forward-secret AEAD cipher suite; listener ${listen} serves only TLS 1.3 suites and ECDHE ` +
        `with AES-GCM or ChaCha20-Poly1305 (${setting})`,
      'a forward-secret AEAD suite (TLS_AES_128_GCM_SHA256, ECDHE-RSA-AES128-GCM-SHA256, ECDHE-ECDSA-CHACHA20-POLY1305, ...)',
      'enable TLS 1.3 or ECDHE-GCM suites in the mail client; or, to accept CBC and static-RSA suites, set policy.client: balanced',
    );
  }
  if (served.length === 0) {
    return refuse(
      'MS_ERR_CLIENT_TLS_CIPHERS',
      `client offered no cipher suite listener ${listen} serves for ${usable.map(humanProtocol).join(', ')} (${setting})`,
      'an AES-GCM, ChaCha20-Poly1305 or AES-CBC suite with ECDHE or RSA key exchange',
      'enable AES cipher suites in the mail client (RC4, 3DES and DHE-only clients are not served)',
    );
  }

  const context: ContextKind = needsWeakSig ? 'legacy' : profile.aeadOnly ? 'strict' : 'modern';
  if (needsWeakSig) {
    base.warnings.push(
      modernVersion
        ? `client offered only SHA-1/MD5 handshake signatures; accepted under policy ${profile.name}`
        : `client speaks ${humanProtocol(best)} with MD5+SHA1/SHA-1 handshake signatures; accepted under policy ${profile.name}`,
    );
  }
  return { ...base, ok: true, context };
}
