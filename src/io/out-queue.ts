// The ordered output of one leg: a backpressure-aware writer. Session commands mix small sends with streamed
// captures; a later `send` must never overtake an earlier capture, so everything for a leg goes through one queue.
//
// Flow control: streamed captures are pulled only as the socket drains, but plain sends are pushed, so a peer that
// does not read would let them pile up without bound. The queue reports when what waits for its socket (queued
// buffers plus the socket's own write buffer) rises above `high`, and again when it falls to `low`; the driver stops
// reading the *other* leg in between, so the bytes stay in the kernel and on the sender, not in our heap.
import type { Duplex } from 'node:stream';

type Item = Buffer | { source: () => AsyncIterable<Buffer>; reusesBuffer: boolean } | { end: true };

export interface Pressure {
  high: number;
  low: number;
  /** `true` when the level rose above `high`, `false` when it fell back to `low`. */
  onChange: (over: boolean) => void;
}

/** 1 MiB keeps a fast relay streaming (a few socket buffers); 256 KiB of hysteresis avoids pausing per chunk. */
export const OUT_HIGH_WATER = 1024 * 1024;
export const OUT_LOW_WATER = 256 * 1024;

export class OutQueue {
  private items: Item[] = [];
  private pumping = false;
  private sock: Duplex | null = null;
  private idle: (() => void)[] = [];
  bytes = 0;
  /** Bytes of queued buffers not yet handed to the socket. */
  private queued = 0;
  private over = false;

  constructor(
    private readonly onError: (e: unknown) => void,
    private readonly pressure?: Pressure,
  ) {}

  /** What waits to be written: queued buffers plus what the socket itself still holds. */
  get level(): number {
    return this.queued + (this.sock?.writableLength ?? 0);
  }

  /** Above the high-water mark and not yet back at the low one. */
  get overHighWater(): boolean {
    return this.over;
  }

  /** Points the queue at a (new) socket, e.g. after STARTTLS; pending items go to it. */
  attach(sock: Duplex): void {
    this.sock = sock;
    void this.pump();
  }

  /** Stops writing until `attach` (used while a TLS upgrade is in progress). */
  detach(): void {
    this.sock = null;
  }

  write(data: Buffer): void {
    if (data.length === 0) return;
    this.items.push(data);
    this.queued += data.length;
    this.checkLevel();
    void this.pump();
  }

  /**
   * Queues a streamed source, pulled as the socket drains. With `reusesBuffer` each chunk is written alone and the
   * next is requested only after the socket's write callback for it, so the source may hand out the same memory
   * again (Spool.readReusing; see `putWhole`). Without it, small chunks go out back to back (a message kept in
   * memory arrives in socket-sized pieces, and a callback per piece costs an event-loop turn each: bench W1).
   */
  stream(source: () => AsyncIterable<Buffer>, opts: { reusesBuffer?: boolean } = {}): void {
    this.items.push({ source, reusesBuffer: opts.reusesBuffer === true });
    void this.pump();
  }

  end(): void {
    this.items.push({ end: true });
    void this.pump();
  }

  /** Drops everything pending: the leg is gone, nothing more can be written to it. */
  abandon(): void {
    this.items = [];
    this.queued = 0;
    this.sock = null;
    this.checkLevel();
    if (!this.pumping) for (const r of this.idle.splice(0)) r();
  }

  /** Resolves once everything queued so far has been handed to the socket. */
  drained(): Promise<void> {
    if (!this.pumping && this.items.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.items.length > 0 && this.sock) {
        const sock = this.sock;
        const item = this.items.shift()!;
        if (Buffer.isBuffer(item)) {
          this.queued -= item.length;
          await this.put(sock, item);
        } else if ('source' in item) {
          const put = item.reusesBuffer ? this.putWhole.bind(this) : this.put.bind(this);
          for await (const chunk of item.source()) await put(sock, chunk);
        } else {
          sock.end();
        }
      }
    } catch (e) {
      this.items = [];
      this.queued = 0;
      this.onError(e);
    } finally {
      this.checkLevel();
      this.pumping = false;
      if (this.items.length === 0) for (const r of this.idle.splice(0)) r();
    }
  }

  private put(sock: Duplex, chunk: Buffer): Promise<void> {
    if (sock.destroyed || sock.writableEnded) return Promise.resolve();
    this.bytes += chunk.length;
    const flowing = sock.write(chunk);
    this.checkLevel();
    if (flowing) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        sock.off('drain', done);
        sock.off('close', done);
        this.checkLevel();
        resolve();
      };
      sock.on('drain', done);
      sock.on('close', done);
    });
  }

  /**
   * Writes a streamed chunk and resolves once the socket is done with it (its write callback), so the source is
   * asked for its next chunk only then and may reuse one buffer (Spool.readReusing). Chunks of a spool file's read
   * size waited for 'drain' anyway, so this costs a fast peer nothing; a slow one just holds one chunk.
   */
  private putWhole(sock: Duplex, chunk: Buffer): Promise<void> {
    if (sock.destroyed || sock.writableEnded) return Promise.resolve();
    this.bytes += chunk.length;
    return new Promise((resolve) => {
      const done = () => {
        sock.off('close', done);
        this.checkLevel();
        resolve();
      };
      // A destroyed socket calls back with an error, and 'close' covers one that never calls back; a failed write
      // is the socket's 'error' (the connection closes), so both only end the wait.
      sock.once('close', done);
      sock.write(chunk, done);
      this.checkLevel();
    });
  }

  private checkLevel(): void {
    if (!this.pressure) return;
    const level = this.level;
    if (!this.over && level > this.pressure.high) {
      this.over = true;
      this.pressure.onChange(true);
    } else if (this.over && level <= this.pressure.low) {
      this.over = false;
      this.pressure.onChange(false);
    }
  }
}
