// The shared vocabulary of the sans-I/O protocol sessions (mitmproxy's layers, h11's state machines). A session is
// pure: it takes events and returns commands. `src/io/connection.ts` turns commands into socket, TLS, spool, scan and
// timer work, and feeds the results back as events. No session touches a socket, a timer, a file or the clock.
import type { ShieldError } from './errors.js';
import type { ScanAction } from './scan-contract.js';
import type { UpstreamHandshakeFacts } from './tls-facts.js';

export type Leg = 'client' | 'upstream';

/** How captured bytes are framed when the driver streams them to a peer. */
export type Framing =
  /** POP3 multi-line body: dot-stuff, then "\r\n.\r\n" (the driver adds the status line only if given in `prefix`). */
  | 'pop3-dot'
  /** SMTP DATA: dot-stuff, then "\r\n.\r\n". */
  | 'smtp-dot'
  /** Raw bytes, e.g. an IMAP literal body whose `{n}` header the session already sent. */
  | 'raw';

export type SessionEvent =
  /** Both legs are ready: the client connected (and finished implicit TLS); the upstream socket is connected (and
   * finished implicit TLS). For a STARTTLS upstream, the socket is plain and the session drives STARTTLS itself. */
  | { type: 'start'; upstreamFacts: UpstreamHandshakeFacts | null }
  /** The upstream could not be connected or its implicit TLS failed. The session should greet the client with an
   * explanation it can display and close. */
  | { type: 'upstream-failed'; error: ShieldError }
  | { type: 'data'; from: Leg; data: Buffer }
  | { type: 'tls-ready'; leg: Leg; facts?: UpstreamHandshakeFacts }
  | { type: 'tls-failed'; leg: Leg; error: ShieldError }
  | { type: 'closed'; leg: Leg }
  /** The scan of capture `id` finished. For `release`, the bytes are still in the capture; stream them with
   * `send-capture`. */
  | { type: 'scan-done'; id: number; result: ScanAction }
  /** A capture was abandoned by the driver (spool write failed, size limit hit while spooling). */
  | { type: 'capture-failed'; id: number; error: ShieldError }
  | { type: 'timer'; name: string };

export type SessionCommand =
  | { type: 'send'; to: Leg; data: Buffer }
  /**
   * Start TLS on a leg. Client: the session already sent the go-ahead; `pending` holds bytes that followed the
   * STARTTLS command in the same read when they begin a TLS record (0x16), to be unshifted. Upstream: the session read
   * the full go-ahead reply; the driver discards anything else buffered.
   */
  | { type: 'start-tls'; leg: Leg; pending?: Buffer }
  /** Start collecting the exact message bytes of capture `id` (memory up to the spool threshold, then disk). */
  | { type: 'capture-start'; id: number; direction: 'incoming' | 'outgoing' }
  | { type: 'capture-data'; id: number; data: Buffer }
  /** The capture is complete: scan it. The driver answers with `scan-done`. */
  | { type: 'capture-end'; id: number }
  /** Stream capture `id` (the original, or the bytes a `release` action carried) to a leg with the given framing. */
  | { type: 'send-capture'; id: number; to: Leg; framing: Framing; prefix?: Buffer; suffix?: Buffer }
  /** Drop capture `id` and its spool file once the session no longer needs it. The capture registry
   * (capture-registry.ts) passes the first one on, drops repeats, and sweeps whatever is live when the session ends. */
  | { type: 'capture-discard'; id: number }
  | { type: 'close'; leg: Leg | 'both' }
  | { type: 'set-timer'; name: string; ms: number }
  | { type: 'clear-timer'; name: string }
  /** Logging is a command so transcripts can assert it. Never put credentials in `fields`. */
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };

export interface Session {
  handle(event: SessionEvent): SessionCommand[];
  /**
   * What the client is told, in its own protocol, when the session or the driver fails internally (session-guard.ts
   * sends it, logs, discards every capture and closes). Must not depend on the session's state: it may be broken.
   */
  internalErrorReply(error: ShieldError): string | Buffer;
}

export const send = (to: Leg, data: string | Buffer): SessionCommand => ({
  type: 'send',
  to,
  data: typeof data === 'string' ? Buffer.from(data, 'latin1') : data,
});

export const log = (
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
): SessionCommand => (fields ? { type: 'log', level, msg, fields } : { type: 'log', level, msg });

import type { AccountConfig, Config } from './config.js';
import type { Limits } from './limits.js';

/** What every protocol session is constructed with. */
export interface SessionOptions {
  connId: string;
  account: AccountConfig;
  config: Config;
  limits: Limits;
  /** The client leg is already TLS (implicit) when the session starts. */
  clientSecure: boolean;
}
