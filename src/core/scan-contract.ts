// The vocabulary between the protocols and the scan pipeline: part of the session contract, so it lives in core and
// both sides import it from here (src/scan/types.ts re-exports it for scan's own modules).
import type { ErrorCode } from './errors.js';
import type { UpstreamHandshakeFacts } from './tls-facts.js';

export type Direction = 'incoming' | 'outgoing';

/** The message being scanned. Bytes are exact: what the server sent (incoming) or the client submitted (outgoing). */
export interface CapturedMessage {
  account: string;
  protocol: 'pop3' | 'imap' | 'smtp';
  direction: Direction;
  /** The message bytes. Large messages arrive spooled: `path` set and `bytes` absent. */
  bytes?: Buffer;
  path?: string;
  size: number;
  /** Connection id, for logs. */
  connId?: string;
  /** How the upstream leg was protected, for actions.addTlsTraceHeader. */
  upstreamTls?: UpstreamHandshakeFacts;
}

export type Verdict =
  | { kind: 'clean' }
  | { kind: 'infected'; engine: string; signature: string; part: string }
  /** `code` is set when the block has an error code of its own (MS_ERR_MESSAGE_UNSCANNABLE). */
  | { kind: 'blocked'; engine: string; rule: string; part: string; detail?: string; code?: ErrorCode }
  | { kind: 'error'; engine: string; reason: string };

/**
 * What the protocol must do with the message.
 * - release: pass `bytes` (or the original when absent) unchanged, or with an added header (`bytes` then set).
 * - replace: incoming; send `notice` instead of the original, which is already in quarantine.
 * - refuse: outgoing; refuse with `reply`, original already in quarantine.
 * - tempfail: scanner error; temporary protocol error with `reason`; the mail stays where it was.
 */
export type ScanAction =
  | { action: 'release'; verdict: Verdict; bytes?: Buffer }
  | { action: 'replace'; verdict: Verdict; notice: Buffer; quarantineId: string }
  | { action: 'refuse'; verdict: Verdict; reply: string; quarantineId: string }
  | { action: 'tempfail'; verdict: Verdict; reason: string };

/** What is known of a message when its capture starts. */
export type CaptureMeta = Pick<CapturedMessage, 'account' | 'protocol' | 'direction' | 'connId'>;

/**
 * A message scanned while it is captured (issue 15). The driver writes each captured chunk as it arrives, then calls
 * `finish` with the complete capture; the action comes only from `finish`, after the last byte, so nothing is released
 * before its verdict (store and forward, as with `scan`).
 */
export interface LiveCapture {
  /** The chunk the capture also keeps; the caller never changes it afterwards. */
  write(chunk: Buffer): void;
  /** Bytes written but not yet taken by the slowest engine: the driver holds the sending leg while it is too large. */
  readonly backlog: number;
  /** Resolves once the backlog is below `limit`, or the scan is over. */
  whenBelow(limit: number): Promise<void>;
  /** The capture is complete: the same action `scan` would give for it. Called at most once. */
  finish(msg: CapturedMessage): Promise<ScanAction>;
  /** The capture was abandoned (failed, discarded, connection gone): frees the engines. No-op after `finish`. */
  abort(): void;
}

/** The pipeline as the protocols see it. */
export interface Scanner {
  scan(msg: CapturedMessage): Promise<ScanAction>;
  /** Starts a live scan of a capture; a scanner without it is given the complete capture through `scan`. */
  begin?(meta: CaptureMeta): LiveCapture;
}
