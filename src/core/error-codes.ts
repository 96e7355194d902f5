// The registry of every failure mailshield can report. Codes are a stable contract: tests, the README table, logs
// and mail-client replies all use them. Never rename a code; add a new one, next to its relatives. The error type
// that carries a code is in errors.ts.

/** Who caused the failure. */
export type Side = 'client' | 'upstream' | 'local';

/**
 * What kind of failure, after rustls: a peer that is *incompatible* with policy is a different problem from a peer
 * that *misbehaved* (broke the protocol), and both differ from a local fault.
 */
export type Kind = 'incompatible' | 'misbehaved' | 'unavailable' | 'config' | 'internal';

export interface ErrorSpec {
  side: Side;
  kind: Kind;
  /** A temporary failure: the mail stays where it is and a retry may work. */
  temporary: boolean;
  /** One line for the README table. */
  summary: string;
}

export const ERROR_CODES = {
  MS_ERR_CONFIG_NOT_FOUND: { side: 'local', kind: 'config', temporary: false, summary: 'No configuration file found.' },
  MS_ERR_CONFIG_INVALID: {
    side: 'local',
    kind: 'config',
    temporary: false,
    summary: 'The configuration file has an unknown key or a bad value.',
  },
  MS_ERR_LISTEN_IN_USE: {
    side: 'local',
    kind: 'config',
    temporary: false,
    summary: 'A listener port is already taken.',
  },
  MS_ERR_LISTEN_FAILED: { side: 'local', kind: 'config', temporary: false, summary: 'A listener could not be opened.' },
  MS_ERR_INTERCEPT_RULES: {
    side: 'local',
    kind: 'unavailable',
    temporary: false,
    summary: 'Intercept mode could not install, list or remove its nftables rules.',
  },
  MS_ERR_INTERCEPT_ORIGINAL_DST: {
    side: 'local',
    kind: 'internal',
    temporary: true,
    summary: 'Intercept mode could not read where a redirected connection was going (SO_ORIGINAL_DST, conntrack).',
  },
  MS_ERR_INTERCEPT_NOT_REDIRECTED: {
    side: 'local',
    kind: 'config',
    temporary: false,
    summary: 'A connection reached the intercept listener without a redirect, or was headed for mailshield itself.',
  },
  MS_ERR_INTERCEPT_NO_NAME: {
    side: 'client',
    kind: 'incompatible',
    temporary: false,
    summary: 'An intercepted client sent no server name (SNI) and intercept.hosts has no name for its destination.',
  },
  MS_ERR_INTERCEPT_DESTINATION: {
    side: 'client',
    kind: 'incompatible',
    temporary: false,
    summary: 'An intercepted client named a server that does not resolve to the address it connected to.',
  },
  MS_ERR_INTERCEPT_PLAINTEXT: {
    side: 'client',
    kind: 'incompatible',
    temporary: false,
    summary: 'An intercepted client sent a command other than capability queries before STARTTLS.',
  },
  MS_ERR_CA: {
    side: 'local',
    kind: 'internal',
    temporary: false,
    summary: 'The local CA could not be created or read.',
  },

  MS_ERR_CLIENT_TLS_VERSION: {
    side: 'client',
    kind: 'incompatible',
    temporary: false,
    summary: 'The client offered only TLS versions the client policy refuses.',
  },
  MS_ERR_CLIENT_TLS_SIGALGS: {
    side: 'client',
    kind: 'incompatible',
    temporary: false,
    summary: 'The client offered only handshake signature algorithms the client policy refuses (SHA-1, MD5).',
  },
  MS_ERR_CLIENT_TLS_CIPHERS: {
    side: 'client',
    kind: 'incompatible',
    temporary: false,
    summary: 'The client offered no cipher suite the client policy allows.',
  },
  MS_ERR_CLIENT_TLS_HANDSHAKE: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The client TLS handshake failed.',
  },
  MS_ERR_CLIENT_TLS_TIMEOUT: {
    side: 'client',
    kind: 'misbehaved',
    temporary: true,
    summary: 'The client did not finish its TLS handshake in time.',
  },
  MS_ERR_CLIENT_NOT_TLS: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The client sent plaintext to an implicit-TLS listener.',
  },
  MS_ERR_CLIENT_STARTTLS_INJECTION: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The client sent plaintext after STARTTLS and before its handshake (discarded).',
  },
  MS_ERR_CLIENT_PROTOCOL: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The client sent a malformed command.',
  },
  MS_ERR_CLIENT_LINE_TOO_LONG: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The client sent a line longer than limits allow.',
  },
  MS_ERR_CLIENT_BARE_LINE_ENDING: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'A bare LF, bare CR or NUL in SMTP message data (normalized, or refused under smtp.bareLineEndings).',
  },
  MS_ERR_CLIENT_LITERAL_TOO_LARGE: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The client announced a literal larger than limits allow.',
  },
  MS_ERR_CLIENT_MESSAGE_TOO_LARGE: {
    side: 'client',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The client sent a message larger than the size limit.',
  },
  MS_ERR_CLIENT_TLS_REQUIRED: {
    side: 'client',
    kind: 'incompatible',
    temporary: false,
    summary: 'The client tried to authenticate before STARTTLS on a STARTTLS listener.',
  },
  MS_ERR_CLIENT_VANISHED: {
    side: 'client',
    kind: 'misbehaved',
    temporary: true,
    summary: 'The client closed the connection in the middle of a transfer.',
  },

  MS_ERR_UPSTREAM_CONNECT: {
    side: 'upstream',
    kind: 'unavailable',
    temporary: true,
    summary: 'The mail server could not be reached.',
  },
  MS_ERR_UPSTREAM_TIMEOUT: {
    side: 'upstream',
    kind: 'unavailable',
    temporary: true,
    summary: 'The mail server did not answer in time.',
  },
  MS_ERR_UPSTREAM_GREETING_TIMEOUT: {
    side: 'upstream',
    kind: 'unavailable',
    temporary: true,
    summary: 'The mail server did not greet, or did not finish the setup (CAPA/EHLO/CAPABILITY, STARTTLS), in time.',
  },
  MS_ERR_UPSTREAM_TLS_VERSION: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The mail server speaks only TLS versions the upstream policy refuses.',
  },
  MS_ERR_UPSTREAM_TLS_CIPHER: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The mail server chose a cipher suite the upstream policy refuses.',
  },
  MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The mail server signed its key exchange with SHA-1 or MD5.',
  },
  MS_ERR_UPSTREAM_WEAK_KEY: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'A certificate key of the mail server is too small.',
  },
  MS_ERR_UPSTREAM_WEAK_EPHEMERAL_KEY: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The mail server used a too-small ephemeral key (DH/ECDH group).',
  },
  MS_ERR_UPSTREAM_TLS_HANDSHAKE: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The TLS handshake with the mail server failed.',
  },
  MS_ERR_UPSTREAM_CERT_EXPIRED: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: "The mail server's certificate has expired.",
  },
  MS_ERR_UPSTREAM_CERT_NOT_YET_VALID: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: "The mail server's certificate is not valid yet.",
  },
  MS_ERR_UPSTREAM_CERT_HOSTNAME: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: "The mail server's certificate is for another host name.",
  },
  MS_ERR_UPSTREAM_CERT_SELF_SIGNED: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The mail server presented a self-signed certificate (use upstreamPin to accept exactly it).',
  },
  MS_ERR_UPSTREAM_CERT_UNTRUSTED: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: "The mail server's certificate chains to no trusted CA.",
  },
  MS_ERR_UPSTREAM_CERT_WEAK_SIGNATURE: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'A certificate in the chain is signed with SHA-1 or MD5.',
  },
  MS_ERR_UPSTREAM_CERT_INCOMPLETE_CHAIN: {
    side: 'upstream',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The mail server did not send the intermediate certificate its certificate needs.',
  },
  MS_ERR_UPSTREAM_CERT_BAD_INTERMEDIATE: {
    side: 'upstream',
    kind: 'misbehaved',
    temporary: false,
    summary: 'A certificate in the chain issued another but is not a CA (CA:FALSE, or X.509 v1).',
  },
  MS_ERR_UPSTREAM_CERT_PURPOSE: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: "The mail server's certificate is not for servers (extendedKeyUsage lacks serverAuth).",
  },
  MS_ERR_UPSTREAM_CERT_SHIELD_LOOP: {
    side: 'upstream',
    kind: 'config',
    temporary: false,
    summary: 'The upstream presented a mailshield certificate: it is this shield or another one (a loop).',
  },
  MS_ERR_UPSTREAM_CERT_INVALID: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: "The mail server's certificate chain failed verification.",
  },
  MS_ERR_UPSTREAM_PIN_MISMATCH: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: "The mail server's key does not match upstreamPin.",
  },
  MS_ERR_UPSTREAM_STARTTLS_MISSING: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The mail server did not offer STARTTLS (possible downgrade); mailshield never falls back to plaintext.',
  },
  MS_ERR_UPSTREAM_STARTTLS_REFUSED: {
    side: 'upstream',
    kind: 'incompatible',
    temporary: false,
    summary: 'The mail server refused STARTTLS; mailshield never falls back to plaintext.',
  },
  MS_ERR_UPSTREAM_STARTTLS_INJECTION: {
    side: 'upstream',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The mail server sent extra data after the STARTTLS go-ahead (discarded).',
  },
  MS_ERR_UPSTREAM_PREAUTH_DOWNGRADE: {
    side: 'upstream',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The IMAP server greeted with PREAUTH on a STARTTLS upstream, which would skip TLS.',
  },
  MS_ERR_UPSTREAM_PROTOCOL: {
    side: 'upstream',
    kind: 'misbehaved',
    temporary: false,
    summary: 'The mail server sent a response mailshield cannot frame.',
  },
  MS_ERR_UPSTREAM_CLOSED: {
    side: 'upstream',
    kind: 'misbehaved',
    temporary: true,
    summary: 'The mail server closed the connection in the middle of a transfer.',
  },

  MS_ERR_SCAN_ENGINE: { side: 'local', kind: 'unavailable', temporary: true, summary: 'A scan engine failed.' },
  MS_ERR_MESSAGE_UNSCANNABLE: {
    side: 'local',
    kind: 'incompatible',
    temporary: false,
    summary: 'A message is over a MIME limit (parts, depth, header) or unparseable: blocked, never retried.',
  },
  MS_ERR_CLAMD_UNAVAILABLE: {
    side: 'local',
    kind: 'unavailable',
    temporary: true,
    summary: 'clamd could not be reached.',
  },
  MS_ERR_CLAMD_TIMEOUT: {
    side: 'local',
    kind: 'unavailable',
    temporary: true,
    summary: 'clamd did not answer in time.',
  },
  MS_ERR_QUARANTINE_WRITE: {
    side: 'local',
    kind: 'internal',
    temporary: true,
    summary: 'The original could not be written to quarantine.',
  },
  MS_ERR_QUARANTINE_NOT_FOUND: {
    side: 'local',
    kind: 'config',
    temporary: false,
    summary: 'No quarantine entry has that id.',
  },
  MS_ERR_INTERNAL: { side: 'local', kind: 'internal', temporary: true, summary: 'An internal error.' },
} as const satisfies Record<`MS_ERR_${string}`, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;
