// The clamd engine: the raw message is streamed to the ClamAV daemon with INSTREAM (clamd decodes MIME itself).
// A clamd that is down, slow or refuses the size is an `error` verdict with the reason, plus one log line. It lives at
// the edge: it owns a socket (clamd-connection.ts) and a timer (the wait for a free slot).
import type { ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { formatClamdAddress, parseClamdAddress, parseClamdReply, type ClamdAddress } from '../scan/clamd.js';
import type { Engine, ScanInput } from '../scan/engine.js';
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

  private fail(code: ErrorCode, reason: string, input: ScanInput): Verdict {
    this.opts.log.warn(
      { code, engine: ENGINE, address: formatClamdAddress(this.address), connId: input.connId },
      reason,
    );
    return { kind: 'error', engine: ENGINE, reason: `${reason} (${code})` };
  }

  async scan(input: ScanInput): Promise<Verdict> {
    const where = formatClamdAddress(this.address);
    if (input.size > this.opts.streamMaxLength)
      return this.fail(
        'MS_ERR_SCAN_ENGINE',
        `the message is ${input.size} bytes, more than clamd accepts (scan.clamd.streamMaxLength = ${this.opts.streamMaxLength}); raise StreamMaxLength in clamd.conf and scan.clamd.streamMaxLength together`,
        input,
      );
    if (!(await this.slots.acquire(this.opts.timeoutMs)))
      return this.fail(
        'MS_ERR_CLAMD_TIMEOUT',
        `clamd at ${where}: no free connection within ${this.opts.timeoutMs} ms (all ${this.opts.poolSize} busy)`,
        input,
      );
    try {
      const reply = parseClamdReply(
        await this.connector.exchange('zINSTREAM\0', openSource(input.source) as AsyncIterable<Buffer>),
      );
      if (reply.kind === 'ok') return { kind: 'clean' };
      if (reply.kind === 'found')
        return { kind: 'infected', engine: ENGINE, signature: reply.signature, part: 'the message' };
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
    } finally {
      this.slots.release();
    }
  }

  async close(): Promise<void> {
    this.connector.close();
  }
}
