// The queue between a capture that is still arriving and a scan that reads it: bytes are pushed as the network
// delivers them and pulled, in order, by an engine's streaming scan. It counts what waits (the backlog), so the driver
// can stop reading the sending leg when a scanner falls behind instead of piling up unscanned chunks in memory.
// Pure: no timers, sockets or workers; the same queue serves the main thread, a scan worker and the clamd stream.
import type { LiveScan } from './engine.js';
import type { Verdict } from './types.js';

/** Bytes waiting for a scanner, and who wants to hear when they fall below a mark. */
export class Backlog {
  private bytes = 0;
  private settled = false;
  private waiters: { limit: number; resolve: () => void }[] = [];

  get size(): number {
    return this.bytes;
  }

  add(n: number): void {
    if (!this.settled) this.bytes += n;
  }

  take(n: number): void {
    this.bytes = Math.max(0, this.bytes - n);
    this.wake();
  }

  /** Resolves once fewer than `limit` bytes wait, or the scan is over (nothing will be taken any more). */
  whenBelow(limit: number): Promise<void> {
    if (this.bytes < limit || this.settled) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ limit, resolve }));
  }

  /** The scan is over: nothing waits any more, and every waiter is let go (a held leg must not stay held). */
  settle(): void {
    this.settled = true;
    this.bytes = 0;
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters)
      if (this.bytes < w.limit || this.settled) w.resolve();
      else still.push(w);
    this.waiters = still;
  }
}

/**
 * Chunks in order for one reader (`for await`). `end` lets the reader finish after the last chunk; `abort` (or the
 * reader leaving early, e.g. the MIME walk stopping at a finding) drops what waits and ignores later pushes, so an
 * engine that has its verdict costs the capture nothing more.
 */
export class ChunkFeed implements AsyncIterable<Buffer> {
  readonly backlog = new Backlog();
  private queue: Buffer[] = [];
  private ended = false;
  private closed = false;
  private wakeReader: (() => void) | null = null;

  /** `onTake` hears how many bytes the reader took (a worker acknowledges them to the main thread). */
  constructor(private readonly onTake?: (bytes: number) => void) {}

  /** The caller must not change `chunk` afterwards: it is read later, not copied. */
  push(chunk: Buffer): void {
    if (this.closed || this.ended || chunk.length === 0) return;
    this.queue.push(chunk);
    this.backlog.add(chunk.length);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  abort(): void {
    this.closed = true;
    this.queue = [];
    this.backlog.settle();
    this.wake();
  }

  /** True once the reader can get nothing more: aborted, or it stopped reading. */
  get isClosed(): boolean {
    return this.closed;
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      // Each round hands out a chunk or waits for a push/end/abort; it ends once ended and drained, or closed.
      for (;;) {
        if (this.closed) return;
        const next = this.queue.shift();
        if (next) {
          this.backlog.take(next.length);
          this.onTake?.(next.length);
          yield next;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      // Leaving early (break, a throw in the reader) closes the feed the same way as abort.
      if (!this.closed) this.abort();
    }
  }
}

/** A LiveScan that also says whether the engine already has its verdict (a finding: later bytes change nothing). */
export type FeedScan = LiveScan & {
  readonly settled: boolean;
  /** The engine's verdict; settles before end() when a finding is made early. */
  readonly verdict: Promise<Verdict>;
};

/** A streaming scan that reads `feed`, as a LiveScan: the engine's verdict promise is already running. */
export function feedScan(feed: ChunkFeed, verdict: Promise<Verdict>): FeedScan {
  // However the scan ends (a finding, a failure before it read anything), the feed closes with it: chunks written
  // afterwards are dropped, not kept in a queue nobody reads, and a leg held for the backlog is let go.
  const close = () => feed.abort();
  void verdict.then(close, close);
  return {
    write: (chunk) => feed.push(chunk),
    get backlog() {
      return feed.backlog.size;
    },
    get settled() {
      return feed.isClosed;
    },
    verdict,
    whenBelow: (limit) => feed.backlog.whenBelow(limit),
    end: () => {
      feed.end();
      return verdict;
    },
    abort: () => feed.abort(),
  };
}
