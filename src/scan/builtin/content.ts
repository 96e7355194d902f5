// One pass over a part's decoded bytes that gathers what every content check needs, so a large part is streamed, not
// held: the SHA-256 (hash blocklist), whether the EICAR string occurs (searched across chunk boundaries), and the
// first bytes (executable and container magic). Only containers, whose checks need the whole file (zip: random
// access for yauzl; OLE: cfb), are kept: in memory up to a limit, in a private temp file beyond it (the file port's,
// under dataDir).
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ScanFiles, TempFile } from '../files.js';
import { containsEicar, eicarNeedle } from './eicar.js';
import { isOle, isZip } from './rules.js';

/**
 * Bytes kept from the start of every part. Magic numbers need 8; 64 KiB also covers the PE header offset of any
 * ordinary Windows executable (one pointing further still counts as an executable by its MZ bytes).
 */
export const HEAD_BYTES = 64 * 1024;

/** Containers up to this size are kept in memory; larger ones go to a temp file. */
export const IN_MEMORY_CONTAINER_BYTES = 64 * 1024 * 1024;

/** A container part kept whole: in memory, or spooled to `path` (removed by `dispose`). */
export type WholeContent = { kind: 'buffer'; buf: Buffer } | { kind: 'file'; path: string; size: number };

export interface ContentFacts {
  size: number;
  /** Hex SHA-256, when asked for. */
  sha256?: string;
  eicar: boolean;
  /** The first HEAD_BYTES bytes (fewer for a short part). */
  head: Buffer;
  /** Set only for zip and OLE parts. */
  whole?: WholeContent;
  /** Removes a spooled container; a no-op otherwise. */
  dispose(): Promise<void>;
}

const noop = async (): Promise<void> => {};

/** The facts of content already in memory (zip entries, which the archive walk inflates with a budget). */
export function factsOfBuffer(buf: Buffer, wantHash: boolean): ContentFacts {
  return {
    size: buf.length,
    sha256: wantHash ? createHash('sha256').update(buf).digest('hex') : undefined,
    eicar: containsEicar(buf),
    head: buf.subarray(0, HEAD_BYTES),
    whole: isZip(buf) || isOle(buf) ? { kind: 'buffer', buf } : undefined,
    dispose: noop,
  };
}

/** Whole content as a buffer (an OLE file, which cfb reads only from memory). */
export async function wholeBuffer(w: WholeContent, files: ScanFiles): Promise<Buffer> {
  return w.kind === 'buffer' ? w.buf : files.readAll(w.path);
}

/** Keeps a container: chunks in memory until `limit`, then everything so far and after in a 0600 temp file. */
class Keeper {
  private chunks: Buffer[] = [];
  private size = 0;
  private file?: TempFile;

  constructor(
    private readonly limit: number,
    private readonly files: ScanFiles,
  ) {}

  async add(chunk: Buffer): Promise<void> {
    this.size += chunk.length;
    if (this.file) return this.file.write(chunk);
    this.chunks.push(chunk);
    if (this.size <= this.limit) return;
    this.file = await this.files.createTemp();
    const pending = this.chunks;
    this.chunks = [];
    for (const c of pending) await this.file.write(c);
  }

  async finish(): Promise<WholeContent> {
    if (!this.file) return { kind: 'buffer', buf: Buffer.concat(this.chunks, this.size) };
    await this.file.end();
    return { kind: 'file', path: this.file.path, size: this.size };
  }

  async dispose(): Promise<void> {
    this.chunks = [];
    await this.file?.dispose();
  }
}

/**
 * Reads `stream` to its end, chunk by chunk. Memory stays at about one chunk plus HEAD_BYTES for anything but a
 * container. The caller must call `dispose()` on the result (and nothing else cleans up on a read error: this does).
 */
export async function factsOfStream(
  stream: Readable,
  wantHash: boolean,
  files: ScanFiles,
  inMemoryLimit = IN_MEMORY_CONTAINER_BYTES,
): Promise<ContentFacts> {
  const needle = eicarNeedle();
  const hash: Hash | undefined = wantHash ? createHash('sha256') : undefined;
  const headParts: Buffer[] = [];
  let headLen = 0;
  // Undecided until 8 bytes are in: then a container starts being kept, anything else is only streamed through.
  let early: Buffer[] | undefined = [];
  let keeper: Keeper | undefined;
  let size = 0;
  let eicar = false;
  // The last needle-length−1 bytes seen, so a string split across two chunks is still found.
  let tail: Buffer = Buffer.alloc(0);
  try {
    for await (const raw of stream) {
      const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array);
      if (chunk.length === 0) continue;
      size += chunk.length;
      hash?.update(chunk);
      if (!eicar) {
        if (tail.length > 0) eicar = Buffer.concat([tail, chunk.subarray(0, needle.length - 1)]).indexOf(needle) !== -1;
        eicar ||= chunk.indexOf(needle) !== -1;
        const joined = chunk.length >= needle.length - 1 ? chunk : Buffer.concat([tail, chunk]);
        // Copied: a slice would pin the whole chunk.
        tail = Buffer.from(joined.subarray(Math.max(0, joined.length - (needle.length - 1))));
      }
      if (headLen < HEAD_BYTES) {
        const take = Buffer.from(chunk.subarray(0, HEAD_BYTES - headLen));
        headParts.push(take);
        headLen += take.length;
      }
      if (early) {
        early.push(chunk);
        if (headLen < 8) continue;
        const start = Buffer.concat(headParts, headLen);
        if (isZip(start) || isOle(start)) {
          keeper = new Keeper(inMemoryLimit, files);
          for (const c of early) await keeper.add(c);
        }
        early = undefined;
      } else if (keeper) await keeper.add(chunk);
    }
    const head = Buffer.concat(headParts, headLen);
    // A part shorter than 8 bytes: the head is the whole of it.
    const whole: WholeContent | undefined = keeper
      ? await keeper.finish()
      : early && (isZip(head) || isOle(head))
        ? { kind: 'buffer', buf: head }
        : undefined;
    const k = keeper;
    return {
      size,
      sha256: hash?.digest('hex'),
      eicar,
      head,
      whole,
      dispose: k ? () => k.dispose() : noop,
    };
  } catch (e) {
    await keeper?.dispose();
    throw e;
  }
}
