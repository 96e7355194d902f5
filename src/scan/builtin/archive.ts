// Zip walking with bomb limits. yauzl reads the central directory, so entry counts and declared sizes are known before
// a byte is inflated; declared sizes are then enforced while inflating (validateEntrySizes), so a lying header is
// caught too. Hitting any limit is a finding (archive-bomb), never an exception that escapes the engine.
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { PassThrough, Readable } from 'node:stream';
import type { RandomAccessFile, ScanFiles } from '../files.js';

export interface ArchiveLimits {
  /** Zips nested in zips beyond this depth are refused (the top-level attachment is depth 1). */
  maxDepth: number;
  /** Entries across the whole message, nested archives included. */
  maxEntries: number;
  /** Inflated bytes across the whole message. */
  maxExpandedBytes: number;
  /** Inflated/compressed ratio, per entry and per archive. */
  maxRatio: number;
}

/** Shared by every archive in one message, so a thousand small bombs add up like one big one. */
export interface ArchiveBudget {
  entries: number;
  expanded: number;
}

export class ArchiveBomb extends Error {
  constructor(readonly detail: string) {
    super(detail);
  }
}

/**
 * Below this size a high ratio is ordinary (a page of zeros compresses 1000:1); above it, a ratio beyond the limit is
 * the signature of a decompression bomb.
 */
const RATIO_FLOOR_BYTES = 1024 * 1024;

export interface ArchiveVisitor<T> {
  /** Called for every entry name before its content is read. */
  onName(name: string): Promise<T | undefined>;
  onEncrypted(name: string): Promise<T | undefined>;
  /** Called with the inflated content of each file entry. */
  onContent(name: string, content: Buffer): Promise<T | undefined>;
}

function decodeName(entry: Entry): string {
  // decodeStrings is off (yauzl would reject names like "../x" with an error, which is exactly what we must inspect),
  // so decode ourselves: UTF-8 when the language-encoding flag is set, else latin1 as a lossless byte view.
  const raw = entry.fileNameRaw;
  return (entry.generalPurposeBitFlag & 0x800) !== 0 ? raw.toString('utf8') : raw.toString('latin1');
}

/** A zip in memory, or one too large for that, spooled to a file (yauzl reads either with random access). */
export type ZipSource = Buffer | { path: string; size: number; files: ScanFiles };

const OPEN_OPTIONS = { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false };

/**
 * A spooled zip, read through an fd with every position checked. yauzl's own file reader passes a position from a
 * damaged zip64 record (past 2^53) straight to fs.read, which throws inside yauzl's callback where no caller can
 * catch it: one crafted attachment took the whole process down (found by fuzz/targets/archive). Here such a read is
 * an error for that zip, which walkZip treats as a damaged archive.
 */
/** Bytes [start, end) of an open file. Not fs.ReadStream: destroying one closes its fd even with autoClose off. */
function rangeStream(file: RandomAccessFile, start: number, end: number): Readable {
  let pos = start;
  return new Readable({
    read(size) {
      const n = Math.min(size, end - pos);
      if (n <= 0) return void this.push(null);
      const buf = Buffer.allocUnsafe(n);
      file.read(buf, 0, n, pos).then(
        (got) => {
          if (got === 0) return void this.destroy(new Error('unexpected end of the zip file'));
          pos += got;
          this.push(buf.subarray(0, got));
        },
        (err: Error) => this.destroy(err),
      );
    },
  });
}

class CheckedFileReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly file: RandomAccessFile,
    private readonly size: number,
  ) {
    super();
  }

  private outside(start: number, end: number): Error | null {
    const ok =
      Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end <= this.size;
    return ok ? null : new Error(`zip asks for bytes ${start}..${end} of a ${this.size}-byte file`);
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null, bytesRead?: number) => void,
  ): void {
    const bad = this.closed ? new Error('zip read after close') : this.outside(position, position + length);
    if (bad) return void queueMicrotask(() => callback(bad));
    this.file.read(buffer, offset, length, position).then(
      (n) => callback(null, n),
      (err: Error) => callback(err),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const bad = this.closed ? new Error('zip read after close') : this.outside(start, end);
    if (!bad) return rangeStream(this.file, start, end);
    const s = new PassThrough();
    queueMicrotask(() => s.destroy(bad));
    return s;
  }

  private closed = false;

  override close(callback: (err: Error | null) => void): void {
    // yauzl's reference count can reach zero twice when an entry's stream fails (its filter unrefs on error and on
    // destroy): close the fd once, so a recycled fd number is never closed under someone else.
    if (this.closed) return void queueMicrotask(() => callback(null));
    this.closed = true;
    this.file.close().then(
      () => callback(null),
      (err: Error) => callback(err),
    );
  }
}

function open(src: ZipSource): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, zf: ZipFile) => (err ? reject(err) : resolve(zf));
    if (Buffer.isBuffer(src)) return yauzl.fromBuffer(src, OPEN_OPTIONS, done);
    src.files.openRandom(src.path).then((file) => {
      const reader = new CheckedFileReader(file, src.size);
      yauzl.fromRandomAccessReader(reader, src.size, OPEN_OPTIONS, (e, zf) => {
        // yauzl closes the reader with the zip; a zip it refused to open never took it.
        if (e) void file.close().finally(() => reject(e));
        else resolve(zf);
      });
    }, reject);
  });
}

function nextEntry(zf: ZipFile): Promise<Entry | null> {
  return new Promise((resolve, reject) => {
    const onEntry = (e: Entry) => {
      cleanup();
      resolve(e);
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      zf.off('entry', onEntry);
      zf.off('end', onEnd);
      zf.off('error', onError);
    };
    zf.on('entry', onEntry);
    zf.on('end', onEnd);
    zf.on('error', onError);
    zf.readEntry();
  });
}

function openStream(zf: ZipFile, entry: Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zf.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
}

function readBounded(stream: Readable, remaining: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    stream.on('data', (c: Buffer) => {
      n += c.length;
      if (n > remaining) {
        stream.destroy();
        reject(new ArchiveBomb(`inflated content exceeds the ${remaining} bytes left of the expansion budget`));
        return;
      }
      chunks.push(c);
    });
    stream.once('error', (e: Error) =>
      reject(
        /too many bytes|not enough bytes/i.test(e.message)
          ? new ArchiveBomb(`entry size lies about itself: ${e.message}`)
          : e,
      ),
    );
    stream.once('end', () => resolve(Buffer.concat(chunks, n)));
  });
}

/**
 * Walks one zip (depth = 1 for an attachment, +1 per nesting). Returns the first finding a visitor reports, or
 * undefined. Throws ArchiveBomb on a limit; other read errors (a damaged zip) end the walk with no finding.
 */
export async function walkZip<T>(
  src: ZipSource,
  depth: number,
  limits: ArchiveLimits,
  budget: ArchiveBudget,
  visitor: ArchiveVisitor<T>,
): Promise<T | undefined> {
  if (depth > limits.maxDepth) throw new ArchiveBomb(`archives nested more than ${limits.maxDepth} deep`);
  let zf: ZipFile;
  try {
    zf = await open(src);
  } catch {
    return undefined;
  }
  const zipBytes = Buffer.isBuffer(src) ? src.length : src.size;
  try {
    if (budget.entries + zf.entryCount > limits.maxEntries)
      throw new ArchiveBomb(
        `${budget.entries + zf.entryCount} archive entries, more than the limit of ${limits.maxEntries}`,
      );
    let archiveExpanded = 0;
    for (;;) {
      let entry: Entry | null;
      try {
        entry = await nextEntry(zf);
      } catch {
        return undefined;
      }
      if (!entry) return undefined;
      budget.entries += 1;
      const name = decodeName(entry);
      const byName = await visitor.onName(name);
      if (byName !== undefined) return byName;
      if (name.endsWith('/')) continue;
      if (entry.isEncrypted()) {
        const enc = await visitor.onEncrypted(name);
        if (enc !== undefined) return enc;
        continue;
      }
      const declared = entry.uncompressedSize;
      if (budget.expanded + declared > limits.maxExpandedBytes)
        throw new ArchiveBomb(
          `${name} would inflate to ${declared} bytes, past the limit of ${limits.maxExpandedBytes} bytes for the whole message`,
        );
      if (declared > RATIO_FLOOR_BYTES && declared / Math.max(1, entry.compressedSize) > limits.maxRatio)
        throw new ArchiveBomb(
          `${name} inflates ${entry.compressedSize} bytes to ${declared} (ratio ${Math.round(declared / Math.max(1, entry.compressedSize))}, limit ${limits.maxRatio})`,
        );
      archiveExpanded += declared;
      if (archiveExpanded > RATIO_FLOOR_BYTES && archiveExpanded / Math.max(1, zipBytes) > limits.maxRatio)
        throw new ArchiveBomb(
          `archive inflates ${zipBytes} bytes to more than ${archiveExpanded} (limit ratio ${limits.maxRatio})`,
        );
      let stream: Readable;
      try {
        stream = await openStream(zf, entry);
      } catch {
        // An unsupported compression method: nothing we can inflate, and clamd (if configured) gets the raw bytes.
        continue;
      }
      let content: Buffer;
      try {
        content = await readBounded(stream, limits.maxExpandedBytes - budget.expanded);
      } catch (e) {
        if (e instanceof ArchiveBomb) throw e;
        continue;
      }
      budget.expanded += content.length;
      const found = await visitor.onContent(name, content);
      if (found !== undefined) return found;
    }
  } finally {
    zf.close();
  }
}
