// Where a captured message's bytes are: in memory, or spooled to a file (large messages). Everything that reads a
// message goes through these helpers so a spooled message is streamed, never loaded twice. Scan code touches no file
// itself: a spooled source carries the reader it is read with (src/io/scan-files.ts).
import { Readable } from 'node:stream';
import type { CapturedMessage } from './types.js';
import { ShieldError } from '../core/errors.js';

/** How spooled messages (and the engine's own temp files) are read; the edge implements it with node:fs. */
export interface SpoolReader {
  stream(path: string, chunkBytes: number): Readable;
  /** The first `max` bytes (or fewer). */
  readPrefix(path: string, max: number): Promise<Buffer>;
  readAll(path: string): Promise<Buffer>;
}

export type MessageSource = { bytes: Buffer } | { path: string; reader: SpoolReader };

/** Slice size when streaming: small enough to keep parsers incremental. */
const SLICE = 64 * 1024;

export function sourceOf(msg: CapturedMessage, reader: SpoolReader): MessageSource {
  if (msg.bytes) return { bytes: msg.bytes };
  if (msg.path) return { path: msg.path, reader };
  throw new ShieldError('MS_ERR_INTERNAL', 'captured message has neither bytes nor a spool path');
}

/** An in-memory message in slices, without copying. */
export function* slicesOf(buf: Buffer): Generator<Buffer> {
  for (let off = 0; off < buf.length; off += SLICE) yield buf.subarray(off, Math.min(buf.length, off + SLICE));
}

/** A stream of the message bytes; in-memory buffers are sliced without copying. */
export function openSource(src: MessageSource): Readable {
  if ('path' in src) return src.reader.stream(src.path, SLICE);
  return Readable.from(slicesOf(src.bytes), { objectMode: false });
}

/**
 * The message bytes in order, as cheaply as they can be had: an in-memory message is iterated directly (a stream
 * per message costs more than scanning a small one), a spooled one is streamed.
 */
export function chunksOf(src: MessageSource): Iterable<Buffer> | Readable {
  return 'bytes' in src ? slicesOf(src.bytes) : openSource(src);
}

/** The first `max` bytes (or fewer), for header reading. */
export async function readPrefix(src: MessageSource, max: number): Promise<Buffer> {
  if ('bytes' in src) return src.bytes.subarray(0, max);
  return src.reader.readPrefix(src.path, max);
}

/** The whole message in memory (one copy: a buffer source is returned as is). */
export async function readAll(src: MessageSource): Promise<Buffer> {
  if ('bytes' in src) return src.bytes;
  return src.reader.readAll(src.path);
}
