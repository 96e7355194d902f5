// What every scan engine implements. The pipeline runs engines in configured order and combines their verdicts.
import type { MessageSource } from './source.js';
import type { Verdict } from './types.js';

export interface ScanInput {
  source: MessageSource;
  size: number;
  connId?: string;
}

/**
 * One message scanned while it arrives (issue 15: the verdict is ready a few ms after the last byte, not a whole scan
 * later). Chunks come in order; `end` follows the last one with the complete, spooled message, which an engine that
 * could not scan live (clamd without a free connection) scans whole instead.
 */
export interface LiveScan {
  /** The caller never changes `chunk` afterwards (session and socket buffers are not reused): no copy needed. */
  write(chunk: Buffer): void;
  /** Bytes written but not yet taken by the engine: the driver holds the sending leg while it is too large. */
  readonly backlog: number;
  /** Resolves once the backlog is below `limit`, or the scan is over. */
  whenBelow(limit: number): Promise<void>;
  /** All bytes were written. Never rejects: a failure is an `error` verdict. */
  end(input: ScanInput): Promise<Verdict>;
  /** The capture was abandoned: stop, and free what the scan holds (a worker's attention, a clamd socket). */
  abort(): void;
}

export interface Engine {
  readonly name: string;
  /** Never throws: a failure to scan is an `error` verdict that says why. */
  scan(input: ScanInput): Promise<Verdict>;
  /** A scan fed as the message arrives; engines without it get the whole message at the end. */
  begin?(meta: { connId?: string }): LiveScan;
  close?(): Promise<void>;
}
