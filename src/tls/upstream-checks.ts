// The upstream policy's checks, in the order evaluateUpstream (upstream-policy.ts) runs them: identity and
// verification, certificate strength, protocol, cipher, handshake signature, ephemeral key. Each reads the facts and
// the profile from Ctx and records findings; none decides the verdict.
import type { Relaxation } from '../core/config.js';
import { diagnoseChain } from './chain-diagnosis.js';
import type { CertSummary } from '../core/tls-facts.js';
import { humanProtocol, parseTempKey, versionRank, WEAK_DIGESTS } from './names.js';
import { CERT_RULES } from './profiles.js';
import { certSignatureDigest, classifyCipher, refuse, useException, warn, type Ctx } from './upstream-findings.js';

/** OpenSSL verify results that mean "no trusted path", which a matching upstreamPin replaces. */
const TRUST_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
]);
const DATE_ERRORS = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);

export function checkVerification(c: Ctx): void {
  const { facts, now } = c;
  const v = facts.verification;
  const leaf = facts.chain[0];
  if (!v) {
    refuse(
      c,
      'cert-unverified',
      'MS_ERR_UPSTREAM_CERT_INVALID',
      `upstream ${c.where}: no certificate verification result was recorded, so the connection is refused`,
    );
    return;
  }
  if (!leaf) {
    refuse(c, 'cert-missing', 'MS_ERR_UPSTREAM_CERT_INVALID', `upstream ${c.where} presented no certificate`);
    return;
  }
  const pinMatched = v.expectedPin !== null && v.leafPin === v.expectedPin;
  if (v.expectedPin !== null && !pinMatched) {
    refuse(
      c,
      'pin-mismatch',
      'MS_ERR_UPSTREAM_PIN_MISMATCH',
      `upstream ${c.where} presented key ${v.leafPin ?? '(none)'} (certificate ${leaf.subject}), but upstreamPin is ` +
        `${v.expectedPin}. If the server's key legitimately changed, set upstreamPin: ${v.leafPin ?? '?'}; otherwise ` +
        `someone may be intercepting the connection`,
    );
  }

  // Dates are judged against `now`, cert by cert, so the message can name the certificate and its window.
  let dateFinding = false;
  facts.chain.forEach((cert, i) => {
    const role = i === 0 ? 'certificate' : `chain certificate #${i} (${cert.subject})`;
    if (Date.parse(cert.notAfter) < now.getTime()) {
      dateFinding = true;
      refuse(
        c,
        'cert-expired',
        'MS_ERR_UPSTREAM_CERT_EXPIRED',
        `upstream ${c.where}: ${role} ${i === 0 ? `${cert.subject} ` : ''}expired on ${cert.notAfter} ` +
          `(valid from ${cert.notBefore}); certificates must be within their validity dates in every profile. ` +
          `The server operator must renew it; check this computer's clock if the date looks wrong`,
      );
    } else if (Date.parse(cert.notBefore) > now.getTime()) {
      dateFinding = true;
      refuse(
        c,
        'cert-not-yet-valid',
        'MS_ERR_UPSTREAM_CERT_NOT_YET_VALID',
        `upstream ${c.where}: ${role} ${i === 0 ? `${cert.subject} ` : ''}is not valid before ${cert.notBefore}; ` +
          `check this computer's clock, or wait for the server's certificate to become valid`,
      );
    }
  });

  const err = v.opensslError;
  if (err && !(DATE_ERRORS.has(err) && dateFinding) && !(TRUST_ERRORS.has(err) && pinMatched)) {
    const pinFix =
      `set upstreamPin: ${v.leafPin ?? '?'} on this account to accept exactly this server key ` +
      `(only after checking it out of band)`;
    // A cause OpenSSL's code hides (bad intermediate, wrong purpose, missing intermediate, a mailshield leaf).
    const diagnosis = diagnoseChain(facts.chain, err, c.where);
    if (diagnosis) {
      refuse(c, diagnosis.rule, diagnosis.code, diagnosis.message);
    } else if (err === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
      refuse(
        c,
        'cert-self-signed',
        'MS_ERR_UPSTREAM_CERT_SELF_SIGNED',
        `upstream ${c.where} presented a self-signed certificate (${leaf.subject}, valid ${leaf.notBefore} to ` +
          `${leaf.notAfter}); it is not trusted by the system store or upstreamCa. To trust it, ${pinFix}`,
      );
    } else if (TRUST_ERRORS.has(err)) {
      const top = facts.chain[facts.chain.length - 1]!;
      refuse(
        c,
        'cert-untrusted',
        'MS_ERR_UPSTREAM_CERT_UNTRUSTED',
        `upstream ${c.where}: certificate ${leaf.subject} chains to ${top.issuer}, which is not in the system ` +
          `trust store or upstreamCa (${err}). If that CA is legitimate (e.g. a company CA), set upstreamCa to a ` +
          `file with its certificate; or ${pinFix}`,
      );
    } else if (err === 'CERT_HAS_EXPIRED' || err === 'ERROR_IN_CERT_NOT_AFTER_FIELD') {
      refuse(
        c,
        'cert-expired',
        'MS_ERR_UPSTREAM_CERT_EXPIRED',
        `upstream ${c.where}: a certificate in the chain of ${leaf.subject} has expired (${err}); the server operator must renew it`,
      );
    } else if (err === 'CERT_NOT_YET_VALID' || err === 'ERROR_IN_CERT_NOT_BEFORE_FIELD') {
      refuse(
        c,
        'cert-not-yet-valid',
        'MS_ERR_UPSTREAM_CERT_NOT_YET_VALID',
        `upstream ${c.where}: a certificate in the chain of ${leaf.subject} is not valid yet (${err}); check this computer's clock`,
      );
    } else {
      refuse(
        c,
        'cert-invalid',
        'MS_ERR_UPSTREAM_CERT_INVALID',
        `upstream ${c.where}: the certificate chain of ${leaf.subject} failed verification: ${err}`,
      );
    }
  }

  if (v.hostnameError) {
    refuse(
      c,
      'cert-hostname',
      'MS_ERR_UPSTREAM_CERT_HOSTNAME',
      `upstream ${c.where}: certificate ${leaf.subject} is for ${leaf.sans.join(', ') || '(no subjectAltName)'}, ` +
        `not the configured name '${facts.servername}' (${v.hostnameError}). Set the account's upstream (or ` +
        `upstreamServername) to a name the certificate lists; the name always comes from the configuration, never ` +
        `from an IP address`,
    );
  }
}

export function checkCertStrength(c: Ctx): void {
  const { chain } = c.facts;
  chain.forEach((cert: CertSummary, i) => {
    const label = i === 0 ? `certificate ${cert.subject}` : `chain certificate #${i} ${cert.subject}`;
    // The anchor's self-signature proves nothing either way: trust in it comes from the store, not the signature.
    const anchor = cert.selfSigned && i === chain.length - 1;
    const digest = certSignatureDigest(cert.signatureAlgorithm);
    if (!anchor && digest && (CERT_RULES.weakSignatureDigests as readonly string[]).includes(digest)) {
      refuse(
        c,
        'cert-signature-weak',
        'MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE',
        `upstream ${c.where}: ${label} is signed with ${cert.signatureAlgorithm} by ${cert.issuer}; every profile ` +
          `refuses ${digest} in certificate signatures (forgeable for as long as the certificate lives). No ` +
          `exception can admit it: the server operator must get a SHA-256 certificate`,
      );
    }
    const min =
      cert.keyType === 'RSA' || cert.keyType === 'RSA-PSS'
        ? CERT_RULES.minRsaBits
        : cert.keyType === 'EC'
          ? CERT_RULES.minEcBits
          : cert.keyType === 'DSA'
            ? CERT_RULES.minDsaBits
            : 0;
    if (cert.keyBits < min) {
      refuse(
        c,
        'cert-key-weak',
        'MS_ERR_UPSTREAM_WEAK_KEY',
        `upstream ${c.where}: ${label} has a ${cert.keyBits}-bit ${cert.keyType} key; every profile requires ` +
          `${cert.keyType} keys of at least ${min} bits. The server operator must issue a certificate with a ` +
          `larger key`,
      );
    }
  });
}

function isOldProtocol(p: string | null): boolean {
  return p !== null && versionRank(p) < versionRank('TLSv1.2');
}

/** Returns whether a pre-1.2 protocol was accepted (by profile or exception). */
export function checkProtocol(c: Ctx): boolean {
  const { facts, profile } = c;
  const p = facts.protocol;
  if (!p) return false;
  const idx = versionRank(p);
  const min = versionRank(profile.minProtocol);
  if (idx >= min) return idx < versionRank('TLSv1.2');
  const relax: Relaxation | null = p === 'TLSv1' ? 'tls1.0' : p === 'TLSv1.1' ? 'tls1.1' : null;
  const what = `upstream ${c.where} negotiated ${humanProtocol(p)}, the newest version it accepts (mailshield offers up to TLS 1.3)`;
  const ex = relax ? useException(c, relax) : undefined;
  if (ex && relax) {
    warn(
      c,
      'tls-version',
      'MS_ERR_UPSTREAM_TLS_VERSION',
      `${what}; accepted for this host by policy.exceptions {host: ${ex.host}, allow: [${relax}], until: ${ex.until}}`,
    );
    return true;
  }
  refuse(
    c,
    'tls-version',
    'MS_ERR_UPSTREAM_TLS_VERSION',
    `${what}; policy '${profile.name}' requires ${humanProtocol(profile.minProtocol)} or newer` +
      (relax ? ` (policy.upstream: legacy accepts ${humanProtocol(p)} for every server)` : '; no profile accepts it'),
    relax ?? undefined,
  );
  return false;
}

export function checkCipher(c: Ctx): void {
  const { facts, profile } = c;
  if (!facts.cipher) return;
  const k = classifyCipher(facts.cipher);
  const what = `upstream ${c.where} chose cipher suite ${facts.cipher}`;
  if (k.broken) {
    refuse(
      c,
      'cipher-broken',
      'MS_ERR_UPSTREAM_TLS_CIPHER',
      `${what}, which no profile accepts (broken or unauthenticated)`,
    );
    return;
  }
  if (!k.forwardSecret) {
    if (profile.allowNonForwardSecret) {
      warn(
        c,
        'cipher-no-forward-secrecy',
        'MS_ERR_UPSTREAM_TLS_CIPHER',
        `${what} without forward secrecy (static RSA key exchange); accepted by policy '${profile.name}'`,
      );
    } else {
      refuse(
        c,
        'cipher-no-forward-secrecy',
        'MS_ERR_UPSTREAM_TLS_CIPHER',
        `${what}, which has no forward secrecy (static RSA key exchange); policy '${profile.name}' requires ECDHE or DHE. ` +
          `policy.upstream: legacy accepts it`,
      );
      return;
    }
  }
  // CBC is the only choice below TLS 1.2, so the version rule (profile or exception) decides it there.
  if (!k.aead && !profile.allowCbc && !isOldProtocol(facts.protocol)) {
    refuse(
      c,
      'cipher-not-aead',
      'MS_ERR_UPSTREAM_TLS_CIPHER',
      `${what}, a CBC suite; policy '${profile.name}' requires AEAD suites (AES-GCM, ChaCha20-Poly1305). ` +
        `policy.upstream: balanced accepts CBC suites with forward secrecy`,
    );
  }
}

export function checkHandshakeSignature(c: Ctx, oldProtocolAccepted: boolean): void {
  const { facts, profile } = c;
  const digest = facts.peerSigningDigest;
  const type = facts.peerSignatureType;
  const signedKx = facts.cipher ? classifyCipher(facts.cipher).forwardSecret : false;
  if (!type) {
    if (!signedKx) return;
    const msg = `upstream ${c.where}: the signature over the key exchange could not be observed`;
    if (profile.sha1HandshakeSignature === 'refuse') {
      refuse(
        c,
        'handshake-signature-unknown',
        'MS_ERR_UPSTREAM_TLS_HANDSHAKE',
        `${msg}; policy '${profile.name}' must see it to rule out SHA-1. Run mailshield probe on this server`,
      );
    } else {
      warn(
        c,
        'handshake-signature-unknown',
        'MS_ERR_UPSTREAM_TLS_HANDSHAKE',
        `${msg}; accepted by policy '${profile.name}'`,
      );
    }
    return;
  }
  if (!digest || !WEAK_DIGESTS.has(digest)) return;
  const scheme = `${type}+${digest}`;
  // Below TLS 1.2 the version fixes the scheme (MD5+SHA1 or SHA-1), so the version rule already decided.
  if (isOldProtocol(facts.protocol)) {
    if (!oldProtocolAccepted) return;
    warn(
      c,
      'handshake-signature-legacy',
      'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      `upstream ${c.where} signed its key exchange with ${scheme}, as ${humanProtocol(facts.protocol ?? '')} requires`,
    );
    return;
  }
  if (digest !== 'SHA1') {
    refuse(
      c,
      'handshake-signature-weak',
      'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      `upstream ${c.where} signed its key exchange with ${scheme}; no profile accepts ${digest} handshake signatures in TLS 1.2 or newer`,
    );
    return;
  }
  const what = `upstream ${c.where} signed its key exchange with ${scheme}`;
  const ex = useException(c, 'sha1-handshake-signature');
  if (ex) {
    warn(
      c,
      'handshake-signature-sha1',
      'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      `${what}; accepted for this host by policy.exceptions {host: ${ex.host}, allow: [sha1-handshake-signature], until: ${ex.until}}`,
    );
  } else if (profile.sha1HandshakeSignature === 'warn') {
    warn(
      c,
      'handshake-signature-sha1',
      'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      `${what}, the best it offers; accepted by policy '${profile.name}' because a handshake signature only has to ` +
        `resist forgery for the seconds of the handshake (its certificate signature is checked separately). ` +
        `policy 'strict' would refuse it; the server operator should enable SHA-256 signatures`,
    );
  } else {
    refuse(
      c,
      'handshake-signature-sha1',
      'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      `${what}; policy '${profile.name}' requires SHA-256 or better (policy.upstream: balanced accepts it with a warning)`,
      'sha1-handshake-signature',
    );
  }
}

export function checkEphemeral(c: Ctx): void {
  const { facts, profile } = c;
  if (!facts.serverTempKey) return;
  const k = parseTempKey(facts.serverTempKey);
  if (!k) return;
  const min = k.kind === 'DH' ? profile.minDhBits : profile.minEcdhBits;
  if (k.bits < min) {
    refuse(
      c,
      'ephemeral-key-weak',
      'MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY',
      `upstream ${c.where} used ephemeral key ${facts.serverTempKey}; policy '${profile.name}' requires ` +
        `${k.kind === 'DH' ? `DH groups of at least ${min} bits` : `EC groups of at least ${min} bits (P-256, X25519 or larger)`}. ` +
        `The server operator must configure a larger group`,
    );
  }
}
