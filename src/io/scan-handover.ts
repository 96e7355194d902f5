// The builtin engine's live scan (issue 15: scan while receiving). Small mail is scanned whole and in place at its end,
// as it always was (a hand-over costs more than scanning it, and so does walking it chunk by chunk). Once the bytes
// seen reach scan.builtin.offloadMinBytes the scan moves to a pool worker: it is fed the bytes kept so far (at most
// offloadMinBytes), then every later chunk as it arrives, through a MessagePort handed over with the piscina task.
// The main thread only copies each chunk once into a buffer it transfers: it does no scanning work for large mail.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { LiveScan, ScanInput } from '../scan/engine.js';
import { Backlog } from '../scan/live.js';
import type { Verdict } from '../scan/types.js';
import type { LiveMessage, LiveReply, ScanTask } from './scan-worker.js';

const ENGINE = 'builtin';
/** Bytes gathered before they are posted to the worker; a quarter of the scan backlog at which the leg is held. */
const BATCH = 256 * 1024;

/** Why a worker scan failed, in the words the verdict and the log use. */
export function workerFailure(e: unknown, timedOut: boolean, timeoutMs: number): Verdict {
  const reason = timedOut
    ? `the scan did not finish within ${timeoutMs} ms (scan.builtin.timeoutMs); its worker was stopped`
    : `the scan worker failed: ${e instanceof Error ? e.message : String(e)}`;
  return { kind: 'error', engine: ENGINE, reason };
}

/**
 * The main thread's side of one live scan in a worker. scan.builtin.timeoutMs bounds the time the worker owes us, not
 * the network's: it runs while chunks wait unacknowledged (restarted by each one the worker takes), and from the end
 * (or an abort) on, once the task runs. A worker that hangs therefore stops taking chunks and is stopped, however
 * slowly mail arrives.
 *
 * The task carries no AbortSignal: piscina runs an abortable task alone on its worker, and a live scan holds its task
 * for as long as the message takes to arrive. The timeout instead terminates the thread the task said it runs on;
 * piscina then fails that thread's tasks and starts a new one, as for a crash.
 */
export class WorkerScan implements LiveScan {
  private readonly backlogBytes = new Backlog();
  private readonly port: MessagePort;
  private readonly verdict: Promise<Verdict>;
  private settle!: (v: Verdict) => void;
  private thread: number | undefined;
  private timer: NodeJS.Timeout | null = null;
  private timedOut = false;
  /** The stopping of a hung thread, once begun. */
  private terminating: Promise<void> | undefined;
  /** end() or abort() was called: no more chunks, and the deadline no longer moves. */
  private closing = false;
  private done = false;

  constructor(
    private readonly pool: Piscina<ScanTask, Verdict>,
    task: Omit<ScanTask, 'source'>,
    private readonly timeoutMs: number,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    port1.on('message', (r: LiveReply) => {
      if ('thread' in r) {
        this.thread = r.thread;
        this.deadline(this.closing || this.owed > 0);
        return;
      }
      this.backlogBytes.take(r.took);
      if (!this.closing) this.deadline(this.owed > 0);
    });
    this.verdict = new Promise<Verdict>((resolve) => {
      this.settle = resolve;
      pool.run({ ...task, source: { port: port2 } }, { transferList: [port2] }).then(resolve, async (e: unknown) => {
        await this.terminating;
        resolve(workerFailure(e, this.timedOut, timeoutMs));
      });
    }).finally(() => {
      this.done = true;
      if (this.timer) clearTimeout(this.timer);
      port1.close();
      this.backlogBytes.settle();
    });
  }

  /**
   * The deadline passed: the thread the scan runs on is stopped, then the scan fails. Only then: until the thread has
   * exited piscina still counts it, and the next message (the client retries at once) would be handed to it and fail.
   * A task still queued (no thread yet) fails at once; its port closes, so once it starts it ends without scanning.
   */
  private expire(): void {
    this.timedOut = true;
    const failed = () => this.settle(workerFailure(undefined, true, this.timeoutMs));
    const thread = this.pool.threads.find((t) => t.threadId === this.thread);
    if (!thread) return failed();
    this.terminating = thread.terminate().then(
      () => undefined,
      () => undefined,
    );
    void this.terminating.then(failed);
  }

  /**
   * (Re)starts the deadline, or clears it while the worker owes us nothing. Not before the task has started: a live
   * task may wait in piscina's queue while other downloads hold the workers, and that wait is no fault of a worker.
   */
  private deadline(armed: boolean): void {
    if (this.thread === undefined) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = armed ? setTimeout(() => this.expire(), this.timeoutMs) : null;
  }

  private post(m: LiveMessage, transfer?: ArrayBuffer[]): void {
    if (!this.done) this.port.postMessage(m, transfer);
  }

  /** Chunks not yet posted: one message per BATCH bytes, not per socket read (a 25 MB message is ~1,600 reads). */
  private batch: Buffer[] = [];
  private batchBytes = 0;

  write(chunk: Buffer): void {
    if (this.closing || this.done || chunk.length === 0) return;
    this.backlogBytes.add(chunk.length);
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= BATCH) this.flush();
  }

  /** Bytes posted to the worker and not yet taken: what the deadline is about (a batch still here is not owed). */
  private get owed(): number {
    return this.backlogBytes.size - this.batchBytes;
  }

  private flush(): void {
    if (this.batchBytes === 0) return;
    if (this.owed === 0) this.deadline(true);
    // One copy the worker then owns: the chunks are still the spool's, and often views of larger socket buffers,
    // which a structured clone would copy whole. `new Uint8Array` never uses Buffer's shared pool, whose memory must
    // not be transferred away.
    const copy = new Uint8Array(this.batchBytes);
    let off = 0;
    for (const c of this.batch) {
      copy.set(c, off);
      off += c.length;
    }
    this.batch = [];
    this.batchBytes = 0;
    this.post(copy, [copy.buffer]);
  }

  get backlog(): number {
    return this.backlogBytes.size;
  }

  /** The worker's verdict, settled once the scan is ended, aborted, failed or stopped. */
  get result(): Promise<Verdict> {
    return this.verdict;
  }

  whenBelow(limit: number): Promise<void> {
    return this.backlogBytes.whenBelow(limit);
  }

  end(): Promise<Verdict> {
    if (!this.closing) {
      this.closing = true;
      this.flush();
      this.post('end');
      this.deadline(true);
    }
    return this.verdict;
  }

  /** Asks the worker to drop the scan (it stays, for the next one); one that does not within the deadline is stopped. */
  abort(): void {
    if (this.closing) return;
    this.closing = true;
    this.batch = [];
    this.batchBytes = 0;
    this.post('abort');
    this.deadline(true);
  }
}

/**
 * Whole and in place while small, then in a worker (see the top of this file). Below the threshold the bytes are only
 * kept: a message that small arrives in well under a millisecond, so scanning it on the way buys nothing, while
 * feeding the walk chunk by chunk cost about 1.7 ms more per 50 KB message than one whole-buffer walk at the end
 * (bench W1 scan on 2,072 ms against 1,213 ms with the same code minus the live path, same machine and hour).
 */
export class HandOverScan implements LiveScan {
  private worker: LiveScan | null = null;
  /** What arrived before the hand-over, for the worker to start from; at most offloadMinBytes. */
  private kept: Buffer[] = [];
  private seen = 0;
  private closed = false;

  constructor(
    private readonly scanWhole: (input: ScanInput) => Promise<Verdict>,
    private readonly startWorker: () => LiveScan,
    private readonly offloadMinBytes: number,
    /** Called once, at end() or abort(). */
    private readonly onClosed: () => void,
  ) {}

  write(chunk: Buffer): void {
    if (this.closed) return;
    if (this.worker) return this.worker.write(chunk);
    this.seen += chunk.length;
    if (this.seen < this.offloadMinBytes) {
      this.kept.push(chunk);
      return;
    }
    this.handOver().write(chunk);
  }

  private handOver(): LiveScan {
    const w = this.startWorker();
    for (const k of this.kept) w.write(k);
    this.kept = [];
    this.worker = w;
    return w;
  }

  get backlog(): number {
    return this.worker ? this.worker.backlog : 0;
  }

  /** Before the hand-over nothing waits for a scanner: the kept bytes are bounded by the threshold. */
  whenBelow(limit: number): Promise<void> {
    return this.worker ? this.worker.whenBelow(limit) : Promise.resolve();
  }

  end(input: ScanInput): Promise<Verdict> {
    this.close();
    // The same rule as a whole-message scan: from offloadMinBytes up, the worker (also for an empty threshold).
    if (!this.worker && this.seen >= this.offloadMinBytes) this.handOver();
    this.kept = [];
    return this.worker ? this.worker.end(input) : this.scanWhole(input);
  }

  abort(): void {
    if (this.closed) return;
    this.close();
    this.kept = [];
    this.worker?.abort();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
  }
}
