// Every protocol limit lives here so framers cannot drift apart (imapflow's habit). An explicit 0 means 0, never
// "use the default": defaults are applied only when a value is absent.

export interface Limits {
  /** Longest command or response line, CRLF included. RFC 5321 asks for 512; real servers send far longer. */
  maxLineBytes: number;
  /** Largest IMAP literal a client may send (APPEND). */
  maxLiteralBytes: number;
  /** Largest message captured for scanning, in either direction. */
  maxMessageBytes: number;
  /**
   * IMAP: a message without a verdict whose header, ENVELOPE, BODYSTRUCTURE or size is fetched is scanned first when
   * it is at most this large, so those items already describe the notice if it is replaced. 0 turns scan-ahead off.
   */
  scanAheadMaxBytes: number;
  /** Bytes held in memory per captured message before it spools to disk. */
  spoolThresholdBytes: number;
  /** Time for a client to finish its TLS handshake. */
  clientHandshakeTimeoutMs: number;
  /** Time to connect to and handshake with the upstream. */
  upstreamConnectTimeoutMs: number;
  /**
   * Time from a connected (and, for implicit TLS, handshaken) upstream to the end of its setup: the greeting, and for
   * upstreamTls: starttls also CAPA/EHLO/CAPABILITY, STARTTLS and that handshake. A server that accepts the connection
   * and never greets would otherwise hold the client until idleTimeoutMs.
   */
  upstreamGreetingTimeoutMs: number;
  /** A session with no traffic either way for this long is closed. IMAP IDLE needs at least 30 minutes (RFC 2177). */
  idleTimeoutMs: number;
  /** Interval of keepalives (IMAP `* OK`, POP3 none) sent to a client while a large message is being scanned. */
  scanKeepaliveMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxLineBytes: 64 * 1024,
  maxLiteralBytes: 64 * 1024 * 1024,
  maxMessageBytes: 100 * 1024 * 1024,
  scanAheadMaxBytes: 1024 * 1024,
  spoolThresholdBytes: 4 * 1024 * 1024,
  clientHandshakeTimeoutMs: 15_000,
  upstreamConnectTimeoutMs: 20_000,
  upstreamGreetingTimeoutMs: 30_000,
  idleTimeoutMs: 31 * 60_000,
  scanKeepaliveMs: 10_000,
};

/**
 * Client bytes a session may hold unread: before the greeting, behind STARTTLS, or pipelined ahead of their replies.
 * A pipelining client needs a few lines and a ClientHello a few KB; more is a client that does not wait its turn.
 */
export function heldClientInputBytes(limits: Pick<Limits, 'maxLineBytes'>): number {
  return 4 * limits.maxLineBytes;
}
