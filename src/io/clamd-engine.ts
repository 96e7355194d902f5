// The clamd engine: the raw message is streamed to the ClamAV daemon with INSTREAM (clamd decodes MIME itself).
// A clamd that is down, slow or refuses the size is an `error` verdict with the reason, plus one log line. It lives at
// the edge: it owns a socket (clamd-connection.ts) and a timer (the wait for a free slot). Mail being received is fed
// to clamd live (begin): the INSTREAM connection opens with the capture and each chunk goes out as it arrives.
import type { ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { formatClamdAddress, parseClamdAddress, parseClamdReply, type ClamdAddress } from '../scan/clamd.js';
import type { Engine, LiveScan, ScanInput } from '../scan/engine.js';
import { ChunkFeed, feedScan } from '../scan/live.js';
import { openSource } from '../scan/source.js';
import type { Verdict } from '../scan/types.js';
import { ClamdConnector, ClamdFailure } from './clamd-connection.js';

export interface ClamdOptions {
  address: string;
  timeoutMs: number;
  /** Must not exceed clamd.conf's StreamMaxLength (clamd default 25 MB); larger messages are an error verdict. */
  streamMaxLength: number;
  /** Concurrent INSTREAM sessions; more scans wait for a slot. */
  poolSize: number;
  log: Logger;
}

const ENGINE = 'clamd';
/**
 * zINSTREAM closes the connection after its one reply, so connections cannot be reused without IDSESSION, whose
 * error recovery is fragile (one bad reply poisons the session). The "pool" is therefore a bound on concurrent
 * sessions: clamd's own thread pool (MaxThreads) is small, and queueing here keeps a burst of fetched mail from
 * overrunning it and timing out.
 */
class Slots {
  private busy = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly size: number) {}

  /** A slot now, or none: a live scan does not wait for one (see ClamdEngine.begin). */
  tryAcquire(): boolean {
    if (this.busy >= this.size) return false;
    this.busy++;
    return true;
  }

  acquire(timeoutMs: number): Promise<boolean> {
    if (this.busy < this.size) {
      this.busy++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        clearTimeout(timer);
        this.busy++;
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(grant);
    });
  }

  release(): void {
    this.busy--;
    this.waiters.shift()?.();
  }
}

export class ClamdEngine implements Engine {
  readonly name = ENGINE;
  private readonly address: ClamdAddress;
  private readonly slots: Slots;
  private readonly connector: ClamdConnector;

  constructor(private readonly opts: ClamdOptions) {
    this.address = parseClamdAddress(opts.address);
    this.slots = new Slots(opts.poolSize);
    this.connector = new ClamdConnector(this.address, opts.timeoutMs);
  }

  private fail(code: ErrorCode, reason: string, input: { connId?: string }): Verdict {
    this.opts.log.warn(
      { code, engine: ENGINE, address: formatClamdAddress(this.address), connId: input.connId },
      reason,
    );
    return { kind: 'error', engine: ENGINE, reason: `${reason} (${code})` };
  }

  private tooLarge(size: number, input: { connId?: string }): Verdict {
    return this.fail(
      'MS_ERR_SCAN_ENGINE',
      `the message is ${size} bytes, more than clamd accepts (scan.clamd.streamMaxLength = ${this.opts.streamMaxLength}); raise StreamMaxLength in clamd.conf and scan.clamd.streamMaxLength together`,
      input,
    );
  }

  async scan(input: ScanInput): Promise<Verdict> {
    if (input.size > this.opts.streamMaxLength) return this.tooLarge(input.size, input);
    if (!(await this.slots.acquire(this.opts.timeoutMs)))
      return this.fail(
        'MS_ERR_CLAMD_TIMEOUT',
        `clamd at ${formatClamdAddress(this.address)}: no free connection within ${this.opts.timeoutMs} ms (all ${this.opts.poolSize} busy)`,
        input,
      );
    try {
      return await this.exchange(openSource(input.source) as AsyncIterable<Buffer>, input);
    } finally {
      this.slots.release();
    }
  }

  /**
   * INSTREAM fed while the message arrives. The connection needs a free slot now: a capture does not wait for one (a
   * slot is held for as long as the message takes to arrive, and waiting could outlast the timeout), it is scanned
   * whole at the end instead, as before. Past streamMaxLength nothing more is sent; the verdict is the same error as
   * for a whole message that is too large.
   */
  begin(meta: { connId?: string }): LiveScan {
    if (!this.slots.tryAcquire()) {
      return {
        write: () => {},
        backlog: 0,
        whenBelow: () => Promise.resolve(),
        end: (input) => this.scan(input),
        abort: () => {},
      };
    }
    const feed = new ChunkFeed();
    const dropped = new AbortController();
    let seen = 0;
    const verdict = this.exchange(feed, meta, dropped.signal).finally(() => this.slots.release());
    const live = feedScan(feed, verdict);
    return {
      write: (chunk) => {
        seen += chunk.length;
        if (seen > this.opts.streamMaxLength) feed.abort();
        else live.write(chunk);
      },
      get backlog() {
        return live.backlog;
      },
      whenBelow: (limit) => live.whenBelow(limit),
      end: (input) => (input.size > this.opts.streamMaxLength ? this.dropWith(live, dropped, input) : live.end(input)),
      abort: () => {
        live.abort();
        dropped.abort();
      },
    };
  }

  /** Ends a live scan that went over streamMaxLength: its socket goes, the verdict is the size error. */
  private async dropWith(live: LiveScan, dropped: AbortController, input: ScanInput): Promise<Verdict> {
    live.abort();
    dropped.abort();
    return this.tooLarge(input.size, input);
  }

  /** One INSTREAM exchange and its verdict; never rejects. */
  private async exchange(body: AsyncIterable<Buffer>, input: { connId?: string }, signal?: AbortSignal) {
    const where = formatClamdAddress(this.address);
    try {
      const reply = parseClamdReply(await this.connector.exchange('zINSTREAM\0', body, signal));
      if (reply.kind === 'ok') return { kind: 'clean' } as const;
      if (reply.kind === 'found')
        return { kind: 'infected', engine: ENGINE, signature: reply.signature, part: 'the message' } as const;
      const hint = /size limit/i.test(reply.message)
        ? '; raise StreamMaxLength in clamd.conf or lower scan.clamd.streamMaxLength to match it'
        : '';
      return this.fail(
        'MS_ERR_SCAN_ENGINE',
        `clamd at ${where} answered with an error: ${reply.message}${hint}`,
        input,
      );
    } catch (e) {
      if (e instanceof ClamdFailure) return this.fail(e.code, e.message, input);
      return this.fail('MS_ERR_SCAN_ENGINE', `clamd at ${where}: ${e instanceof Error ? e.message : String(e)}`, input);
    }
  }

  async close(): Promise<void> {
    this.connector.close();
  }
}
