// Why a certificate chain failed verification, in words that name the certificate and the cause. OpenSSL folds
// different faults into one code: a CA:FALSE intermediate, a v1 intermediate and a clientAuth-only leaf all read
// INVALID_PURPOSE, and a server that forgot its intermediate reads like an unknown root. Pure: the chain summaries
// (leaf first, as verification built it) and OpenSSL's code in, a finding out (or null: the generic text applies).
import type { ErrorCode } from '../core/errors.js';
import type { CertSummary } from '../core/tls-facts.js';

export interface ChainDiagnosis {
  /** Finding rule id, one per cause. */
  rule: string;
  code: ErrorCode;
  message: string;
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EKU = '2.5.29.37.0';
const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};

/** OpenSSL codes for "the issuer of the last certificate is nowhere": the store lacks it, or the server omitted it. */
const MISSING_ISSUER = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);
/** OpenSSL codes a bad intermediate or a wrong-purpose leaf produce. */
const PURPOSE_OR_CA = new Set(['INVALID_PURPOSE', 'INVALID_CA', 'INVALID_NON_CA', 'INVALID_EXTENSION']);

/**
 * mailshield's own CAs are named "mailshield local CA <host> <random>" with O=mailshield (ca.ts). A leaf they issued,
 * seen on the upstream leg, means the upstream is a mailshield listener: this one (a loop) or another install.
 */
export function isMailshieldCaName(dn: string): boolean {
  return /(^|,\s*)CN=mailshield local CA\b/.test(dn) && /(^|,\s*)O=mailshield(,|$)/.test(dn);
}

/** An issuer name that says it is not a root (the server should have sent it). */
const INTERMEDIATE_NAME = /\b(intermediate|issuing|subordinate|sub[- ]?ca)\b/i;

export function diagnoseChain(
  chain: readonly CertSummary[],
  opensslError: string,
  where: string,
): ChainDiagnosis | null {
  const leaf = chain[0];
  if (!leaf) return null;

  if (isMailshieldCaName(leaf.issuer)) {
    return {
      rule: 'cert-mailshield-loop',
      code: 'MS_ERR_UPSTREAM_CERT_SHIELD_LOOP',
      message:
        `upstream ${where} presented ${leaf.subject}, a certificate made by mailshield's interception CA ` +
        `(${leaf.issuer}): the upstream is this mailshield itself or another mailshield, not the mail server ` +
        `(OpenSSL: ${opensslError}). Set the account's upstream to the real mail server's host and port`,
    };
  }

  if (PURPOSE_OR_CA.has(opensslError)) {
    // The issuers: every certificate above the leaf except a self-signed anchor at the top, which the store vouches
    // for whatever its extensions say.
    for (let i = 1; i < chain.length; i++) {
      const cert = chain[i]!;
      if (cert.selfSigned && i === chain.length - 1) continue;
      const below = chain[i - 1]!.subject;
      if (cert.version === 1) {
        return {
          rule: 'cert-intermediate-v1',
          code: 'MS_ERR_UPSTREAM_CERT_BAD_INTERMEDIATE',
          message:
            `upstream ${where}: chain certificate #${i} (${cert.subject}), which issued ${below}, is an X.509 ` +
            `version 1 certificate: it has no extensions, so nothing marks it as a CA and it may not issue ` +
            `certificates (OpenSSL: ${opensslError}). The server operator must install the issuer's current ` +
            `(version 3) intermediate certificate`,
        };
      }
      if (cert.basicConstraintsCa !== true && cert.version !== undefined) {
        const why =
          cert.basicConstraintsCa === false ? 'basicConstraints says CA:FALSE' : 'it has no basicConstraints CA:TRUE';
        return {
          rule: 'cert-intermediate-not-ca',
          code: 'MS_ERR_UPSTREAM_CERT_BAD_INTERMEDIATE',
          message:
            `upstream ${where}: chain certificate #${i} (${cert.subject}) issued ${below} but is not a CA: ${why} ` +
            `(OpenSSL: ${opensslError}). The server sends the wrong certificate as its intermediate; its operator ` +
            `must send the CA certificate that issued ${below}`,
        };
      }
    }
    const eku = leaf.extKeyUsage;
    if (eku && !eku.includes(SERVER_AUTH) && !eku.includes(ANY_EKU)) {
      const names = eku.map((o) => EKU_NAMES[o] ?? o).join(', ') || 'none';
      return {
        rule: 'cert-purpose',
        code: 'MS_ERR_UPSTREAM_CERT_PURPOSE',
        message:
          `upstream ${where}: certificate ${leaf.subject} is not for a server: its extendedKeyUsage allows ${names}, ` +
          `not serverAuth (OpenSSL: ${opensslError}). The server operator must install a TLS server certificate`,
      };
    }
    return null;
  }

  if (MISSING_ISSUER.has(opensslError)) {
    const top = chain[chain.length - 1]!;
    if (top.selfSigned) return null;
    const url = top.caIssuers?.[0];
    if (!url && !INTERMEDIATE_NAME.test(top.issuer)) return null;
    const sent =
      chain.length === 1
        ? `only its own certificate (${top.subject})`
        : `${chain.length} certificates, the last ${top.subject}`;
    return {
      rule: 'cert-chain-incomplete',
      code: 'MS_ERR_UPSTREAM_CERT_INCOMPLETE_CHAIN',
      message:
        `upstream ${where}: the server did not send its intermediate certificate: it sent ${sent}, issued by ` +
        `${top.issuer}, an intermediate CA (not a root${url ? `; it is published at ${url}` : ''}) that is ` +
        `neither in the chain nor in the trust store (OpenSSL: ${opensslError}). The server operator must ` +
        `configure the full chain (leaf and intermediates, e.g. fullchain.pem). Until then, upstreamCa may name a ` +
        `file holding that intermediate certificate and its root`,
    };
  }
  return null;
}
