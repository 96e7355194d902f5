// The builtin engine with its CPU work off the event loop: messages from scan.builtin.offloadMinBytes up go to a pool
// of worker threads (piscina), smaller ones are scanned in place, where a hand-over (structured clone, a message to
// the worker and back) would cost more than the scan. The pool is one fewer than the cores by default, so on a small
// machine the relay's own thread keeps a core while a 25 MB attachment is inflated (issue 15: two workers on two cores
// took the event loop's core and tripled bystander latency). A worker that crashes gives its scan an error verdict
// and piscina starts a new one; one that runs past scan.builtin.timeoutMs is terminated (also an error verdict, so
// the mail is temporarily refused and stays on the server) and replaced the same way. Mail being received is scanned
// live (begin: src/io/scan-handover.ts); a worker then runs several scans at once, since a live one mostly waits for
// the network.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { BuiltinEngine, type BuiltinOptions } from '../scan/builtin/engine.js';
import type { Engine, LiveScan, ScanInput } from '../scan/engine.js';
import type { Verdict } from '../scan/types.js';
import { scanFiles } from './scan-files.js';
import { HandOverScan, WorkerScan, workerFailure } from './scan-handover.js';
import type { ScanTask } from './scan-worker.js';

export interface PoolOptions {
  builtin: BuiltinOptions;
  /** Folder for the engine's temp files (under dataDir). */
  tempDir: string;
  /** Worker threads; 'auto' follows the cores, 0 scans everything in place. */
  workers: 'auto' | number;
  timeoutMs: number;
  offloadMinBytes: number;
  /** The worker module (tests substitute one that misbehaves); default: scan-worker.js next to this file. */
  workerFile?: string;
}

const ENGINE = 'builtin';
const YOUNG_GENERATION_MB = 8;
/**
 * Scans one worker runs at once. A live scan holds its task for as long as the message takes to arrive, mostly waiting
 * for bytes: with one task per worker, a slow download would keep every other large message from being scanned. The
 * price: a worker that crashes or hangs costs the scans it was running with it an error verdict (tempfail) each.
 */
const TASKS_PER_WORKER = 4;

export function poolSize(workers: 'auto' | number): number {
  return workers === 'auto' ? Math.max(1, availableParallelism() - 1) : workers;
}

export class PooledBuiltinEngine implements Engine {
  readonly name = ENGINE;
  private readonly inPlace: BuiltinEngine;
  private readonly pool: Piscina<ScanTask, Verdict> | null;
  private readonly running = new Set<Promise<Verdict>>();
  /** Live scans not yet ended: close() drops them, since their captures can no longer complete. */
  private readonly live = new Set<LiveScan>();

  constructor(private readonly opts: PoolOptions) {
    this.inPlace = new BuiltinEngine(opts.builtin, scanFiles(opts.tempDir));
    const size = poolSize(opts.workers);
    this.pool =
      size === 0
        ? null
        : new Piscina({
            filename: opts.workerFile ?? new URL('./scan-worker.js', import.meta.url).href,
            minThreads: 1,
            maxThreads: size,
            // Scans wait for a worker rather than being refused: a burst of fetched mail queues, as it did in-process.
            maxQueue: Infinity,
            concurrentTasksPerWorker: TASKS_PER_WORKER,
            // A scan makes garbage at line rate (a slice per line, a decoded chunk per write). A small young
            // generation collects it sooner, so a 50 MB message does not grow the process by V8's default nursery
            // per worker (issue 12: RSS growth for one large download must stay < 64 MB).
            resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
          });
  }

  scan(input: ScanInput): Promise<Verdict> {
    const p =
      this.pool && input.size >= this.opts.offloadMinBytes ? this.inWorker(this.pool, input) : this.inPlace.scan(input);
    this.track(p);
    return p;
  }

  /** Runs one scan in a worker with the scan timeout; never rejects. */
  private inWorker(pool: Piscina<ScanTask, Verdict>, input: ScanInput): Promise<Verdict> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    const src = input.source;
    // In-memory bytes are copied to the worker (structured clone; the original must stay usable for the release);
    // a spooled message is read there from its file.
    const task: ScanTask = {
      options: this.opts.builtin,
      tempDir: this.opts.tempDir,
      source: 'path' in src ? { path: src.path } : { bytes: src.bytes },
    };
    return pool
      .run(task, { signal })
      .catch((e: unknown): Verdict => workerFailure(e, signal.aborted, this.opts.timeoutMs));
  }

  /** A scan fed as the message arrives: in place while it is small, then in a worker (scan-handover.ts). */
  begin(): LiveScan {
    const pool = this.pool;
    if (!pool) return this.inPlace.begin();
    const scan: HandOverScan = new HandOverScan(
      (input) => this.inPlace.scan(input),
      () => {
        const w = new WorkerScan(pool, { options: this.opts.builtin, tempDir: this.opts.tempDir }, this.opts.timeoutMs);
        // Tracked from the start: close() waits for a live scan's task, which settles once it is ended or aborted.
        this.track(w.result);
        return w;
      },
      this.opts.offloadMinBytes,
      () => this.live.delete(scan),
    );
    this.live.add(scan);
    return scan;
  }

  private track(p: Promise<Verdict>): void {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** Waits for the scans that are running (and queued), then stops the workers. */
  async close(): Promise<void> {
    // A capture still arriving at shutdown cannot complete any more: its scan is dropped, not waited for.
    for (const l of [...this.live]) l.abort();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    await this.pool?.close();
  }
}
