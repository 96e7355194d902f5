// Upstream TLS profiles as data. The upstream leg crosses the internet, so even the loosest profile verifies
// certificates fully; profiles only differ in what they accept about the *handshake*. evaluateUpstream()
// (upstream-policy.ts) reads these objects and nothing else, so a profile's meaning is exactly what is written here.
import type { UpstreamPolicyName } from '../core/config.js';

export interface UpstreamProfile {
  name: UpstreamPolicyName;
  /** One paragraph for the README, probe and doctor. */
  meaning: string;
  /** Oldest protocol accepted, in Node's getProtocol() names. */
  minProtocol: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  /** TLS 1.2 suites that are CBC (MAC-then-encrypt): accepted, or refused as not AEAD. */
  allowCbc: boolean;
  /** Static-RSA key exchange (no forward secrecy): refused, or accepted with a warning. */
  allowNonForwardSecret: boolean;
  /**
   * A SHA-1 signature over the TLS 1.2 key exchange: 'refuse', or 'warn' (accept it, record a warning). It only
   * has to resist forgery for the seconds the handshake lasts, unlike a certificate signature (DESIGN.md §1).
   */
  sha1HandshakeSignature: 'refuse' | 'warn';
  /** Smallest ephemeral finite-field DH group, in bits. */
  minDhBits: number;
  /** Smallest ephemeral EC group, in security-equivalent bits (X25519 counts as 256). */
  minEcdhBits: number;
}

/** Certificate rules shared by every profile: there is deliberately no per-profile switch for them. */
export const CERT_RULES = {
  minRsaBits: 2048,
  minEcBits: 256,
  minDsaBits: 2048,
  /** Digests refused in any certificate signature except the self-signed trust anchor's own. */
  weakSignatureDigests: ['MD2', 'MD4', 'MD5', 'SHA1'],
} as const;

export const UPSTREAM_PROFILES: Record<UpstreamPolicyName, UpstreamProfile> = {
  strict: {
    name: 'strict',
    meaning:
      'TLS 1.2 or newer with forward-secret AEAD suites only; no SHA-1 or MD5 in any signature, handshake or ' +
      'certificate; RSA and DH at least 2048 bits, EC at least 256 bits.',
    minProtocol: 'TLSv1.2',
    allowCbc: false,
    allowNonForwardSecret: false,
    sha1HandshakeSignature: 'refuse',
    minDhBits: 2048,
    minEcdhBits: 256,
  },
  balanced: {
    name: 'balanced',
    meaning:
      'Like strict, but a SHA-1 signature over the TLS 1.2 key exchange is accepted when it is the best the server ' +
      'offers (recorded as a warning), and TLS 1.2 CBC suites with forward secrecy are allowed. Certificates ' +
      'signed with SHA-1 are still refused.',
    minProtocol: 'TLSv1.2',
    allowCbc: true,
    allowNonForwardSecret: false,
    sha1HandshakeSignature: 'warn',
    minDhBits: 2048,
    minEcdhBits: 256,
  },
  legacy: {
    name: 'legacy',
    meaning:
      'Like balanced, and also TLS 1.0 and 1.1 (whose handshake signatures are MD5+SHA1 or SHA-1 by design) and ' +
      'static-RSA key exchange without forward secrecy (recorded as a warning). Certificates are verified as ' +
      'strictly as in every other profile.',
    minProtocol: 'TLSv1',
    allowCbc: true,
    allowNonForwardSecret: true,
    sha1HandshakeSignature: 'warn',
    minDhBits: 2048,
    minEcdhBits: 256,
  },
};

/**
 * Cipher suites mailshield offers upstream, strongest first. The offer is deliberately wider than strict accepts
 * (CBC suites, and static RSA last for legacy) so that a server which only speaks old TLS completes a handshake
 * and the refusal can name exactly what it chose, instead of a bare "handshake failure". Suites that no profile
 * accepts (RC4, 3DES, NULL, export, anonymous) are never offered.
 */
export const OFFERED_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'DHE-RSA-AES256-SHA256',
  'DHE-RSA-AES128-SHA256',
  'DHE-RSA-AES256-SHA',
  'DHE-RSA-AES128-SHA',
];

/** Static-RSA suites, appended to the offer only when the legacy profile could accept them. */
export const OFFERED_NON_FS_CIPHERS = ['AES256-GCM-SHA384', 'AES128-GCM-SHA256', 'AES256-SHA', 'AES128-SHA'];

/**
 * Handshake signature schemes offered, strongest first and SHA-1 last, so a server only signs with SHA-1 when it
 * can do nothing better. SHA-1 is offered at all so that such a server can be named, not just failed.
 */
export const OFFERED_SIGALGS = [
  'ecdsa_secp256r1_sha256',
  'ecdsa_secp384r1_sha384',
  'ecdsa_secp521r1_sha512',
  'ed25519',
  'ed448',
  'rsa_pss_rsae_sha256',
  'rsa_pss_rsae_sha384',
  'rsa_pss_rsae_sha512',
  'rsa_pss_pss_sha256',
  'rsa_pss_pss_sha384',
  'rsa_pss_pss_sha512',
  'rsa_pkcs1_sha256',
  'rsa_pkcs1_sha384',
  'rsa_pkcs1_sha512',
  'ECDSA+SHA1',
  'RSA+SHA1',
];
