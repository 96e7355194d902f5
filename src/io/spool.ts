// Holds one captured message: in memory up to the spool threshold, then in a 0600 file under dataDir/spool, so a
// 50 MB message never needs 50 MB of heap per session.
import { randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ShieldError } from '../core/errors.js';

/** Largest single file write: big enough that a fast upstream never outruns the writer, small enough to copy. */
const WRITE_BATCH = 1024 * 1024;

export class Spool {
  private chunks: Buffer[] = [];
  private memBytes = 0;
  private file: FileHandle | null = null;
  private writing: Promise<void> = Promise.resolve();
  /** Bytes pushed but not yet handed to the file; the writer drains them in batches of up to WRITE_BATCH. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private belowWaiters: { limit: number; resolve: () => void }[] = [];
  private flushing: Promise<void> | null = null;
  private failed: ShieldError | null = null;
  path: string | null = null;
  size = 0;

  constructor(
    private readonly dir: string,
    private readonly thresholdBytes: number,
    private readonly maxBytes: number,
  ) {}

  /** Appends bytes. Returns an error once the capture exceeds the size limit or the disk fails. */
  push(data: Buffer): ShieldError | null {
    if (this.failed) return this.failed;
    this.size += data.length;
    if (this.size > this.maxBytes) {
      this.failed = new ShieldError('MS_ERR_CLIENT_MESSAGE_TOO_LARGE', `message exceeds ${this.maxBytes} bytes`, {
        fix: 'raise limits.maxMessageBytes',
      });
      return this.failed;
    }
    if (this.path === null && this.memBytes + data.length <= this.thresholdBytes) {
      this.chunks.push(data);
      this.memBytes += data.length;
      return null;
    }
    this.pending.push(Buffer.from(data)); // the socket may reuse its buffer before the async write runs
    this.pendingBytes += data.length;
    // Mark the switch to disk synchronously so later pushes queue behind the first file write.
    if (this.path === null) this.path = '';
    this.flush();
    return null;
  }

  /**
   * One writer per spool, writing whatever has accumulated in batches. A write per pushed chunk (a few KB each)
   * cannot keep up with a fast upstream: bench W8 saw ~11,800 writes and up to 47 MB of a 50 MB message waiting
   * in memory. Batches keep the backlog small without pausing the socket.
   */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      try {
        if (!this.file) {
          await mkdir(this.dir, { recursive: true, mode: 0o700 });
          this.path = join(this.dir, `${Date.now()}-${randomBytes(6).toString('hex')}.eml`);
          this.file = await open(this.path, 'wx', 0o600);
          this.pending.unshift(...this.chunks);
          this.chunks = [];
          this.memBytes = 0;
        }
        while (this.pending.length > 0 && !this.failed) {
          let n = 0;
          let bytes = 0;
          while (n < this.pending.length && bytes < WRITE_BATCH) bytes += this.pending[n++]!.length;
          const batch = Buffer.concat(this.pending.splice(0, n), bytes);
          for (let off = 0; off < batch.length;) off += (await this.file.write(batch, off)).bytesWritten;
          this.pendingBytes -= bytes;
          this.wakeWaiters();
        }
      } catch (e) {
        this.failed = new ShieldError('MS_ERR_INTERNAL', `could not spool message to ${this.dir}: ${String(e)}`, {
          cause: e,
        });
      } finally {
        if (this.failed) {
          this.pending = [];
          this.pendingBytes = 0;
        }
        this.flushing = null;
        this.wakeWaiters();
      }
    })();
    this.writing = this.flushing;
  }

  /** Bytes received but not yet written to the spool file. */
  get backlog(): number {
    return this.pendingBytes;
  }

  /** Resolves once the backlog is below `limit` (or the spool failed): the reader may resume its socket. */
  whenBelow(limit: number): Promise<void> {
    if (this.pendingBytes < limit || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.belowWaiters.push({ limit, resolve }));
  }

  private wakeWaiters(): void {
    const still: { limit: number; resolve: () => void }[] = [];
    for (const w of this.belowWaiters)
      if (this.pendingBytes < w.limit || this.failed || !this.flushing) w.resolve();
      else still.push(w);
    this.belowWaiters = still;
  }

  /** Waits for pending writes. Afterwards `bytes()` or `path` describes the whole message. */
  async finish(): Promise<{ bytes?: Buffer; path?: string; size: number }> {
    await this.writing;
    if (this.failed) throw this.failed;
    if (this.file) {
      await this.file.sync();
      await this.file.close();
      this.file = null;
      return { path: this.path!, size: this.size };
    }
    return { bytes: Buffer.concat(this.chunks), size: this.size };
  }

  /** Streams the whole content. */
  async *read(): AsyncGenerator<Buffer> {
    await this.writing;
    if (this.path) {
      for await (const c of createReadStream(this.path, { highWaterMark: 256 * 1024 })) yield c as Buffer;
    } else {
      for (const c of this.chunks) yield c;
    }
  }

  async discard(): Promise<void> {
    for (const w of this.belowWaiters.splice(0)) w.resolve();
    await this.writing.catch(() => undefined);
    this.chunks = [];
    if (this.file) await this.file.close().catch(() => undefined);
    this.file = null;
    if (this.path) await rm(this.path, { force: true });
  }
}

/**
 * Empties the spool folder at start. A spool file belongs to a session that was capturing a message; after a crash or
 * SIGKILL no session owns it, and the message is still upstream or with its sender (it was never released), so the
 * file is garbage that would otherwise pile up with every crash.
 */
export function cleanSpoolDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
