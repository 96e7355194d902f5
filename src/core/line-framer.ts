// LF-terminated line framing shared by the protocol framers, pure. Two pieces, so a framer that also reads
// non-line data (SMTP DATA) can consume the same queue between lines: ChunkQueue holds the unread bytes,
// LineScanner finds line ends in it. LineSplitter puts the two together for framers that only read lines.
// The work is O(bytes read): a byte is scanned once, never re-scanned as a buffer grows, because a peer that drips a
// long line one byte per packet must not cost quadratic time.

const LF = 0x0a;
const CR = 0x0d;

export const LINE_TOO_LONG = Symbol('line-too-long');

/** Unconsumed input as a list of chunks; the first may be partly consumed (`off`). */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk: shifting an array per chunk would be quadratic for tiny packets. */
  private first = 0;
  private off = 0;
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** The first chunk's unconsumed part, or null. */
  head(): Buffer | null {
    const c = this.chunks[this.first];
    return c ? c.subarray(this.off) : null;
  }

  /** The i-th live chunk (whole; chunk 0 starts at firstOffset()). */
  chunkAt(i: number): Buffer | undefined {
    return this.chunks[this.first + i];
  }

  firstOffset(): number {
    return this.off;
  }

  private dropFirst(): void {
    this.first++;
    this.off = 0;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 1024 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }

  /** Removes the first n bytes and returns them (copying only when they span chunks). */
  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[this.first]!;
      const avail = c.length - this.off;
      if (avail <= left) {
        parts.push(c.subarray(this.off));
        this.dropFirst();
        left -= avail;
      } else {
        parts.push(c.subarray(this.off, this.off + left));
        this.off += left;
        left = 0;
      }
    }
    this.length -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  takeAll(): Buffer {
    return this.take(this.length);
  }
}

/**
 * Finds line ends across a ChunkQueue, remembering how far it has looked so each byte is examined once. `limit`
 * bounds a line (terminator included). A longer line is reported as soon as it is known to be too long, before its
 * end arrives (memory stays bounded), and its rest is skipped up to the next LF.
 */
export class LineScanner {
  /** Bytes from the queue head known to contain no LF. */
  private scanned = 0;
  private ci = 0;
  private cpos = -1;
  /** Skipping the rest of an over-long line. */
  private discarding = false;

  constructor(
    private readonly q: ChunkQueue,
    private readonly limit: number,
  ) {}

  /** Forgets the scan position: call it whenever someone else consumed bytes from the queue. */
  reset(): void {
    this.scanned = 0;
    this.ci = 0;
    this.cpos = -1;
  }

  /** reset(), and stop skipping an over-long line: the queue was emptied and what follows is new input. */
  restart(): void {
    this.reset();
    this.discarding = false;
  }

  /**
   * Removes and returns the next complete line (terminator included, bytes exactly as received), LINE_TOO_LONG once
   * per over-long line, or null when more bytes are needed.
   */
  next(): Buffer | typeof LINE_TOO_LONG | null {
    for (;;) {
      if (this.cpos < 0) this.cpos = this.ci === 0 ? this.q.firstOffset() : 0;
      const c = this.q.chunkAt(this.ci);
      if (!c) {
        if (!this.discarding && this.scanned >= this.limit) return this.overflow();
        if (this.discarding && this.scanned > 0) {
          this.q.take(this.scanned);
          this.reset();
        }
        return null;
      }
      const j = c.indexOf(LF, this.cpos);
      if (j < 0) {
        this.scanned += c.length - this.cpos;
        this.ci++;
        this.cpos = -1;
        if (!this.discarding && this.scanned >= this.limit) return this.overflow();
        continue;
      }
      const total = this.scanned + (j - this.cpos) + 1;
      this.reset();
      if (this.discarding) {
        this.q.take(total);
        this.discarding = false;
        continue;
      }
      if (total > this.limit) {
        this.q.take(total);
        return LINE_TOO_LONG;
      }
      return this.q.take(total);
    }
  }

  private overflow(): typeof LINE_TOO_LONG {
    // `scanned` bytes without an LF: with its LF still to come the line cannot fit.
    this.q.take(this.scanned);
    this.reset();
    this.discarding = true;
    return LINE_TOO_LONG;
  }
}

/** A ChunkQueue read only as lines. */
export class LineSplitter {
  private readonly q = new ChunkQueue();
  private readonly scanner: LineScanner;

  constructor(maxLineBytes: number) {
    this.scanner = new LineScanner(this.q, maxLineBytes);
  }

  push(data: Buffer): void {
    this.q.push(data);
  }

  /** Bytes held and not handed out as lines. */
  get buffered(): number {
    return this.q.length;
  }

  /** See LineScanner.next. */
  next(): Buffer | typeof LINE_TOO_LONG | null {
    return this.scanner.next();
  }

  /** Removes and returns every byte not yet handed out as a line (the bytes after a STARTTLS go-ahead). */
  takeRest(): Buffer {
    this.scanner.restart();
    return this.q.takeAll();
  }
}

/** Where a line's terminator starts: before a CRLF or a lone LF (the end when there is none). */
export function lineEnd(line: Buffer): number {
  let n = line.length;
  if (n > 0 && line[n - 1] === LF) n--;
  if (n > 0 && line[n - 1] === CR) n--;
  return n;
}
