// Where a captured message's bytes are: in memory, or spooled to a file (large messages). Everything that reads a
// message goes through these helpers so a spooled message is streamed, never loaded twice.
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { CapturedMessage } from './types.js';
import { ShieldError } from '../core/errors.js';

export type MessageSource = { bytes: Buffer } | { path: string };

/** Slice size when streaming an in-memory buffer: small enough to keep parsers incremental. */
const SLICE = 64 * 1024;

export function sourceOf(msg: CapturedMessage): MessageSource {
  if (msg.bytes) return { bytes: msg.bytes };
  if (msg.path) return { path: msg.path };
  throw new ShieldError('MS_ERR_INTERNAL', 'captured message has neither bytes nor a spool path');
}

/** A stream of the message bytes; in-memory buffers are sliced without copying. */
export function openSource(src: MessageSource): Readable {
  if ('path' in src) return createReadStream(src.path, { highWaterMark: SLICE });
  const buf = src.bytes;
  return Readable.from(
    (function* () {
      for (let off = 0; off < buf.length; off += SLICE) yield buf.subarray(off, Math.min(buf.length, off + SLICE));
    })(),
    { objectMode: false },
  );
}

/** The first `max` bytes (or fewer), for header reading. */
export async function readPrefix(src: MessageSource, max: number): Promise<Buffer> {
  if ('bytes' in src) return src.bytes.subarray(0, max);
  const fh = await open(src.path, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The whole message in memory (one copy: a buffer source is returned as is). */
export async function readAll(src: MessageSource): Promise<Buffer> {
  if ('bytes' in src) return src.bytes;
  return readFile(src.path);
}
