// What we record about a TLS handshake on either leg. Names follow what `openssl s_client` prints, because that is
// what users and the story compare against: SHA1/SHA256, RSA/RSA-PSS/ECDSA, "X25519, 253 bits",
// "ECDH, prime256v1, 256 bits".

/** A summary of one certificate in a chain, leaf first. */
export interface CertSummary {
  subject: string;
  issuer: string;
  /** e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA256", "sha1WithRSAEncryption" (OpenSSL's long names). */
  signatureAlgorithm: string;
  /** "RSA" | "EC" | "Ed25519" | ... */
  keyType: string;
  keyBits: number;
  /** For EC keys: the curve, e.g. "prime256v1". */
  curve?: string;
  notBefore: string;
  notAfter: string;
  sans: string[];
  selfSigned: boolean;
  fingerprint256: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo, the form upstreamPin uses (without the "sha256/" prefix). */
  spkiSha256: string;
  /** X.509 version (1 or 3); optional facts explain a refused chain (cert-check.ts diagnoseChain). */
  version?: number;
  /** basicConstraints cA, or null when the extension is absent. */
  basicConstraintsCa?: boolean | null;
  /** extendedKeyUsage OIDs, or null when the extension is absent (any purpose). */
  extKeyUsage?: string[] | null;
  /** authorityInfoAccess caIssuers URLs: where the issuer's certificate is published. */
  caIssuers?: string[];
}

export type FindingLevel = 'warning' | 'refusal';

/** One rule a handshake broke or came close to breaking, with the user-facing explanation. */
export interface PolicyFinding {
  level: FindingLevel;
  /** Stable rule id, e.g. "handshake-signature-sha1", "tls-version", "cert-signature-sha1". */
  rule: string;
  /** Error code used when this finding refuses the connection. */
  code: string;
  /** Full sentence: what the peer offered, what the policy requires, the setting that changes it. */
  message: string;
  /** The exception (policy.exceptions entry) that would admit it, when one exists. */
  exceptionHint?: { host: string; allow: string; until: string };
}

/** Facts about one upstream handshake. */
export interface UpstreamHandshakeFacts {
  host: string;
  port: number;
  servername: string;
  /** "TLSv1.3", "TLSv1.2", ... */
  protocol: string | null;
  /** OpenSSL cipher name, e.g. "TLS_AES_256_GCM_SHA384" or "ECDHE-RSA-AES256-GCM-SHA384". */
  cipher: string | null;
  /** "SHA256", "SHA1", ... or null when it could not be observed. */
  peerSigningDigest: string | null;
  /** "RSA", "RSA-PSS", "ECDSA", "Ed25519". */
  peerSignatureType: string | null;
  /** "X25519, 253 bits", "ECDH, prime256v1, 256 bits", "DH, 2048 bits". */
  serverTempKey: string | null;
  chain: CertSummary[];
  /**
   * Certificate verification as OpenSSL and mailshield's own checks saw it. evaluateUpstream() refuses facts that
   * lack it (fail closed). Optional only so older recorded facts still type-check.
   */
  verification?: CertVerification;
  policy: string;
  verdict: 'ok' | 'warn' | 'refused';
  findings: PolicyFinding[];
  /** Exceptions that applied, and ones that matched the host but had expired. */
  exceptionsApplied: string[];
  exceptionsExpired: string[];
  /** Set when policy.candidate would have refused this accepted handshake (shadow-policy.ts). */
  wouldRefuse?: WouldRefuse;
}

/** Inputs to the certificate rules that only a live handshake can give (the rest derive from `chain`). */
export interface CertVerification {
  /** OpenSSL's verify result for the chain against system roots + upstreamCa ("CERT_HAS_EXPIRED", ...), or null. */
  opensslError: string | null;
  /** Why the leaf does not match the configured server name, or null when it matches. */
  hostnameError: string | null;
  /** 'sha256/BASE64' of the leaf's SubjectPublicKeyInfo, the value upstreamPin takes. */
  leafPin: string | null;
  /** The configured upstreamPin, if any. */
  expectedPin: string | null;
}

/** What a client offered in its ClientHello, read before TLS starts. */
export interface ClientHelloInfo {
  /** The record-layer legacy version and client_version as "TLSv1", "TLSv1.2", ... */
  legacyVersion: string;
  /** Every version the client will speak, highest first (supported_versions, or legacyVersion and below). */
  versions: string[];
  cipherSuites: number[];
  /** IANA names where known, hex otherwise. */
  cipherSuiteNames: string[];
  /** signature_algorithms as IANA scheme names (rsa_pkcs1_sha1, ecdsa_secp256r1_sha256, ...); empty if absent. */
  signatureAlgorithms: string[];
  groups: string[];
  sni: string | null;
  alpn: string[];
}

/** Leaf certificates for the client leg: one RSA and one ECDSA, so OpenSSL picks per client (Windows 7 needs RSA). */
export interface LeafPair {
  /** PEM private keys, [rsa, ec]. */
  keys: string[];
  /** PEM certificate chains (leaf first), [rsa, ec]. */
  certs: string[];
}

/** Where the client leg gets its leaves; `names` are DNS names or IPs wanted (listener address, SNI, localhost). */
export interface LeafSource {
  get(names: string[]): Promise<LeafPair>;
}

export type Leg = 'client' | 'upstream';

/** One handshake the candidate would have refused. */
export interface WouldRefuse {
  leg: Leg;
  /** Groups repeat visits: a client's offer fingerprint, or the upstream's host:port. */
  peer: string;
  /** The peer in words: what the client offered (versions, suites, sigalgs), or host:port and server name. */
  peerLabel: string;
  /** The effective profile that accepted the handshake (auto resolved for the client leg). */
  policy: string;
  /** The candidate as configured (client `auto` stays `auto`). */
  candidate: string;
  code: string;
  rule: string;
  /** The whole refusal as the peer would have read it: offered, required, and the setting that admits it. */
  explanation: string;
  /** The setting or the policy.exceptions entry that would admit it under the candidate. */
  admit: string | null;
}
