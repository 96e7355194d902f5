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
  /**
   * Most MIME entities in one message, the message itself and every nested part counted (parts of encoded
   * message/rfc822 attachments included). A message over it is blocked as unscannable and quarantined, never retried.
   */
  maxMimeParts: number;
  /** Deepest MIME nesting (a part inside a part); the top-level message is depth 0. Over it: blocked as unscannable. */
  maxMimeDepth: number;
  /**
   * Largest header block of one MIME entity, in bytes as the MIME parser counts them (each header line at least 64).
   * Over it: blocked as unscannable.
   */
  maxHeaderBytes: number;
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
  // mailparser's own defaults for parts and header size. Depth: Postfix's mime_nesting_limit; mailparser's text
  // walk is recursive and overflows the stack somewhere past 2000 levels, so the schema caps it at 1000.
  maxMimeParts: 1000,
  maxMimeDepth: 100,
  maxHeaderBytes: 1024 * 1024,
};

/**
 * Client bytes a session may hold unread: before the greeting, behind STARTTLS, or pipelined ahead of their replies.
 * A pipelining client needs a few lines and a ClientHello a few KB; more is a client that does not wait its turn.
 */
export function heldClientInputBytes(limits: Pick<Limits, 'maxLineBytes'>): number {
  return 4 * limits.maxLineBytes;
}
