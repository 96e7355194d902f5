// SMTP byte framing, pure. Two directions:
// - ClientFramer: what the mail client sends. Command mode splits lines; data mode runs the DATA stream through
//   data-decoder.ts (un-stuffing, the only real end, bare line endings) while it arrives and counts its size
//   (nodemailer smtp-server's split). The session pulls one unit at a time so it
//   can switch mode exactly at the line boundary after DATA, even when the client pipelined past it.
// - ReplyFramer: what the server sends: multi-line replies ("250-...", "250 ...").
// Lines come from src/core/line-framer.ts; ClientFramer shares its ChunkQueue with the DATA decoder. Both keep their
// work O(bytes read): a byte is scanned once, never re-scanned as a buffer grows (a slow-loris sending one byte per
// packet must not cost quadratic time).

import { ChunkQueue, LINE_TOO_LONG, LineScanner, LineSplitter, lineEnd } from '../../core/line-framer.js';
import { DataDecoder } from './data-decoder.js';
import type { BareKind, BareLineEndings, Normalized } from './data-decoder.js';

export type ClientUnit =
  /** A command line without its terminator. */
  | { type: 'line'; line: Buffer }
  /** A command line longer than the limit; it was dropped up to its LF. */
  | { type: 'line-too-long' }
  /** Un-stuffed, normalized message bytes (omitted once the message is over its size cap). */
  | { type: 'data'; data: Buffer }
  /** The end of the DATA stream. `size` counts content bytes (un-stuffed, normalized). */
  | {
      type: 'data-end';
      size: number;
      tooBig: boolean;
      /** Content lines that begin with a dot (footer framing needs there to be none). */
      dotLines: number;
      /** Bare line ends turned into CRLF and NULs removed. */
      normalized: Normalized;
    }
  /** `reject` mode: the message has a bare LF, bare CR or NUL; the framer stops. */
  | { type: 'data-invalid'; kind: BareKind };

export class ClientFramer {
  private readonly q = new ChunkQueue();
  private readonly lines: LineScanner;
  /** `stopped`: a message was refused mid-data in `reject` mode; nothing more is framed (the session closes). */
  private mode: 'command' | 'data' | 'skip' | 'stopped' = 'command';
  private skipLeft = 0;
  private dec: DataDecoder | null = null;
  private maxBytes = 0;
  private ended = false;

  constructor(maxLineBytes: number) {
    this.lines = new LineScanner(this.q, maxLineBytes);
  }

  push(chunk: Buffer): void {
    this.q.push(chunk);
  }

  get buffered(): number {
    return this.q.length;
  }

  get inData(): boolean {
    return this.mode === 'data';
  }

  /** Everything received and not yet framed (the bytes after STARTTLS). */
  takeRest(): Buffer {
    this.lines.restart();
    return this.q.takeAll();
  }

  /** Switches to data mode at the current position (the session answered DATA with 354). */
  startData(maxBytes: number, bareLineEndings: BareLineEndings): void {
    this.mode = 'data';
    this.dec = new DataDecoder(bareLineEndings);
    this.maxBytes = maxBytes;
    this.ended = false;
    this.lines.reset();
  }

  /** Drops the next n bytes (the payload of a refused BDAT). */
  skip(n: number): void {
    this.mode = 'skip';
    this.skipLeft = n;
    this.lines.reset();
  }

  next(): ClientUnit | null {
    if (this.mode === 'stopped') return null;
    if (this.mode === 'skip') {
      const n = Math.min(this.skipLeft, this.q.length);
      this.q.take(n);
      this.skipLeft -= n;
      if (this.skipLeft > 0) return null;
      this.mode = 'command';
    }
    if (this.mode === 'data') return this.nextData();
    const l = this.lines.next();
    if (l === null) return null;
    if (l === LINE_TOO_LONG) return { type: 'line-too-long' };
    return { type: 'line', line: l.subarray(0, lineEnd(l)) };
  }

  private nextData(): ClientUnit | null {
    const dec = this.dec!;
    for (;;) {
      if (this.ended) {
        this.ended = false;
        this.mode = 'command';
        this.dec = null;
        return {
          type: 'data-end',
          size: dec.size,
          tooBig: dec.size > this.maxBytes,
          dotLines: dec.dotLines,
          normalized: { ...dec.normalized },
        };
      }
      const c = this.q.head();
      if (!c) return null;
      const r = dec.decode(c);
      this.q.take(r.consumed);
      if (r.invalid) {
        this.mode = 'stopped';
        this.dec = null;
        return { type: 'data-invalid', kind: r.invalid };
      }
      this.ended = r.ended;
      // Nothing more is passed on once the message is over its cap: it is never scanned or delivered.
      if (r.data && dec.size <= this.maxBytes) return { type: 'data', data: r.data };
    }
  }
}

export interface Reply {
  code: number;
  /** The text of each line after "NNN-" / "NNN ", latin1. */
  lines: string[];
  /** The reply exactly as received, for relaying unchanged. */
  raw: Buffer;
}

export type ReplyUnit = { type: 'reply'; reply: Reply } | { type: 'error'; reason: string };

/** Frames server replies. A line that is not "NNN", "NNN-text" or "NNN text", or is too long, is an error. */
export class ReplyFramer {
  private readonly lines: LineSplitter;
  private pending: Buffer[] = [];
  private texts: string[] = [];
  private code = 0;

  constructor(maxLineBytes: number) {
    this.lines = new LineSplitter(maxLineBytes);
  }

  push(chunk: Buffer): void {
    this.lines.push(chunk);
  }

  get buffered(): number {
    return this.lines.buffered;
  }

  /** Drops everything buffered (bytes after a STARTTLS go-ahead); returns how many bytes were dropped. */
  discard(): number {
    const n = this.lines.takeRest().length;
    this.pending = [];
    this.texts = [];
    return n;
  }

  next(): ReplyUnit | null {
    for (;;) {
      const l = this.lines.next();
      if (l === null) return null;
      if (l === LINE_TOO_LONG) return { type: 'error', reason: 'reply line too long' };
      const s = l.toString('latin1', 0, lineEnd(l));
      const m = /^(\d{3})([ -]|$)(.*)$/s.exec(s);
      if (!m) return { type: 'error', reason: `malformed reply line ${JSON.stringify(s.slice(0, 80))}` };
      const code = Number(m[1]);
      if (this.pending.length > 0 && code !== this.code)
        return { type: 'error', reason: `reply code changed inside a multi-line reply (${this.code} then ${code})` };
      this.code = code;
      this.pending.push(l);
      this.texts.push(m[3]!);
      if (m[2] === '-') continue;
      const reply: Reply = { code, lines: this.texts, raw: Buffer.concat(this.pending) };
      this.pending = [];
      this.texts = [];
      return { type: 'reply', reply };
    }
  }
}
