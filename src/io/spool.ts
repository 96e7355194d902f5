// Holds one captured message: in memory up to the spool threshold, then in a 0600 file under dataDir/spool, so a
// 50 MB message never needs 50 MB of heap per session.
import { randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ShieldError } from '../core/errors.js';

/** Most bytes per vectored file write: big enough that a fast upstream never outruns the writer. */
const WRITE_BATCH = 1024 * 1024;
/** Read size when streaming a spool file back: a few TLS records' worth per file read. */
const READ_CHUNK = 256 * 1024;

/**
 * The spool keeps what it is given, as the in-memory path always did: session and socket buffers are never written to
 * after they are handed on, and a copy per chunk (plus one per batch) tripled the garbage a large capture makes. bench
 * W8 measured that garbage as RSS: V8 frees it only at its next GC, ~45 MB into a 50 MB message. Only a small view
 * of a much larger buffer is copied, so a queued slice cannot pin memory that `backlog` does not count.
 */
function ownBytes(data: Buffer): Buffer {
  return data.byteLength * 2 < data.buffer.byteLength ? Buffer.from(data) : data;
}

/** Writes every buffer in order with vectored writes: no concatenated copy of the batch. */
async function writeAll(file: FileHandle, bufs: Buffer[]): Promise<void> {
  let rest = bufs.filter((b) => b.length > 0);
  // Each round writes at least one byte or throws, so this ends after at most the batch's byte count of rounds.
  while (rest.length > 0) {
    let { bytesWritten } = await file.writev(rest);
    if (bytesWritten <= 0) throw new Error('the spool file accepted no bytes');
    let i = 0;
    while (i < rest.length && bytesWritten >= rest[i]!.length) bytesWritten -= rest[i++]!.length;
    rest = rest.slice(i);
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}

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

  /**
   * Appends bytes. Returns an error once the capture exceeds the size limit or the disk fails. The spool keeps `data`
   * itself (see ownBytes), so the caller must not change it afterwards; session and socket buffers never are.
   */
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
    if (this.path === null) {
      // The switch to disk, marked synchronously so later pushes queue behind it. What was kept in memory is written
      // first and counts as unwritten from now on (it did not, and `backlog` read up to a threshold's worth low).
      this.path = '';
      this.pending = this.chunks;
      this.pendingBytes = this.memBytes;
      this.chunks = [];
      this.memBytes = 0;
    }
    this.pending.push(ownBytes(data));
    this.pendingBytes += data.length;
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
        }
        while (this.pending.length > 0 && !this.failed) {
          let n = 0;
          let bytes = 0;
          while (n < this.pending.length && bytes < WRITE_BATCH) bytes += this.pending[n++]!.length;
          await writeAll(this.file, this.pending.splice(0, n));
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

  /** The content is (being) written to a file: `readReusing` then hands out views of one reused buffer. */
  get onDisk(): boolean {
    return this.path !== null;
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
      for await (const c of createReadStream(this.path, { highWaterMark: READ_CHUNK })) yield c as Buffer;
    } else {
      for (const c of this.chunks) yield c;
    }
  }

  /**
   * Streams the whole content through one reused buffer: each chunk is a view that is valid only until the next one
   * is requested. For a consumer that is done with a chunk before it asks again (OutQueue.stream waits for the
   * socket's write callback). Releasing a 50 MB message this way allocates one buffer, not one per chunk: bench W8
   * saw up to 76 MB of such chunks waiting for V8 to collect them while a client downloaded.
   */
  async *readReusing(chunkBytes = READ_CHUNK): AsyncGenerator<Buffer> {
    await this.writing;
    if (!this.path) {
      yield* this.chunks;
      return;
    }
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.allocUnsafe(chunkBytes);
      // Each round reads at least one byte or ends: bounded by the file's size.
      for (let pos = 0; ;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) return;
        pos += bytesRead;
        yield buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
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
