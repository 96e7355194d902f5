// The files the builtin engine needs, as a port: spooled messages, private temp files for containers too large to
// keep in memory, random access into a spooled zip, and the hash list. The edge implements it (src/io/scan-files.ts,
// temp files under dataDir with mode 0600); scan code never opens a file itself.
import type { SpoolReader } from './source.js';

/** A private temp file being written; `dispose` removes it. */
export interface TempFile {
  readonly path: string;
  write(chunk: Buffer): Promise<void>;
  /** All bytes are written and flushed. */
  end(): Promise<void>;
  dispose(): Promise<void>;
}

/** Positioned reads of one open file. */
export interface RandomAccessFile {
  /** Bytes read into `buf` at `offset`, from file position `position`. */
  read(buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface ScanFiles extends SpoolReader {
  createTemp(): Promise<TempFile>;
  openRandom(path: string): Promise<RandomAccessFile>;
  /** The file's modification time; rejects when it cannot be read. */
  mtimeMs(path: string): Promise<number>;
  readText(path: string): Promise<string>;
}
