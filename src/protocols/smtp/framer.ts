// SMTP byte framing, pure. Two directions:
// - ClientFramer: what the mail client sends. Command mode splits lines; data mode un-stuffs the DATA dot stream
//   while it arrives and counts its size (nodemailer smtp-server's split). The session pulls one unit at a time so it
//   can switch mode exactly at the line boundary after DATA, even when the client pipelined past it.
// - ReplyFramer: what the server sends: multi-line replies ("250-...", "250 ...").
// Lines come from src/core/line-framer.ts; ClientFramer shares its ChunkQueue with the DATA decoder. Both keep their
// work O(bytes read): a byte is scanned once, never re-scanned as a buffer grows (a slow-loris sending one byte per
// packet must not cost quadratic time).

import { ChunkQueue, LINE_TOO_LONG, LineScanner, LineSplitter, lineEnd } from '../../core/line-framer.js';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

export type ClientUnit =
  /** A command line without its terminator. */
  | { type: 'line'; line: Buffer }
  /** A command line longer than the limit; it was dropped up to its LF. */
  | { type: 'line-too-long' }
  /** Un-stuffed message bytes (omitted once the message is over its size cap or has a bare line ending). */
  | { type: 'data'; data: Buffer }
  /** The end of the DATA stream. `size` counts un-stuffed bytes. */
  | {
      type: 'data-end';
      size: number;
      tooBig: boolean;
      bareEol: 'LF' | 'CR' | null;
      /** Content lines that begin with a dot (they arrived stuffed as ".."). */
      dotLines: number;
    };

type DataState = 'line-start' | 'dot' | 'dot-cr' | 'mid';

export class ClientFramer {
  private readonly q = new ChunkQueue();
  private readonly lines: LineScanner;
  private mode: 'command' | 'data' | 'skip' = 'command';
  private skipLeft = 0;
  // Data mode.
  private ds: DataState = 'line-start';
  private lastWasCr = false;
  private size = 0;
  private maxBytes = 0;
  private bareEol: 'LF' | 'CR' | null = null;
  private dotLines = 0;
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
  startData(maxBytes: number): void {
    this.mode = 'data';
    this.ds = 'line-start';
    this.lastWasCr = false;
    this.size = 0;
    this.maxBytes = maxBytes;
    this.bareEol = null;
    this.dotLines = 0;
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

  private flag(kind: 'LF' | 'CR'): void {
    if (!this.bareEol) this.bareEol = kind;
  }

  private nextData(): ClientUnit | null {
    for (;;) {
      if (this.ended) {
        this.ended = false;
        this.mode = 'command';
        return {
          type: 'data-end',
          size: this.size,
          tooBig: this.size > this.maxBytes,
          bareEol: this.bareEol,
          dotLines: this.dotLines,
        };
      }
      const c = this.q.head();
      if (!c) return null;
      const data = this.scanChunk(c);
      // Nothing more is passed on once the message is known to be refused: it is never scanned or delivered.
      if (data && !this.bareEol && this.size <= this.maxBytes) return { type: 'data', data };
    }
  }

  /** Un-stuffs one chunk up to the end of the message, consumes it, and returns its content bytes (or null). */
  private scanChunk(c: Buffer): Buffer | null {
    const out: Buffer[] = [];
    let runStart = 0;
    let i = 0;
    let consumed = c.length;
    scan: while (i < c.length) {
      switch (this.ds) {
        case 'line-start':
          if (c[i] === DOT) {
            // Either the stuffing dot or the terminator's dot: dropped in both cases.
            if (i > runStart) out.push(c.subarray(runStart, i));
            i++;
            runStart = i;
            this.ds = 'dot';
          } else this.ds = 'mid';
          continue;
        case 'dot':
          if (c[i] === CR) {
            // Held: ".\r\n" ends the message, ".\rX" is content "\rX".
            i++;
            runStart = i;
            this.ds = 'dot-cr';
            continue;
          }
          if (c[i] === LF) {
            // ".\n" at a line start ends a message that is refused for its bare LF (see session.ts).
            this.flag('LF');
            consumed = i + 1;
            this.ended = true;
            break scan;
          }
          if (c[i] === DOT) this.dotLines++;
          this.ds = 'mid';
          continue;
        case 'dot-cr':
          if (c[i] === LF) {
            consumed = i + 1;
            this.ended = true;
            break scan;
          }
          out.push(Buffer.from([CR]));
          this.lastWasCr = true;
          this.ds = 'mid';
          continue;
        case 'mid': {
          if (this.lastWasCr && c[i] !== LF) this.flag('CR');
          const j = c.indexOf(LF, i);
          const end = j < 0 ? c.length : j;
          // A CR anywhere but as the last byte before the LF (or before the chunk end, decided next chunk) is bare.
          const crAt = end > i ? c.subarray(i, end).indexOf(CR) : -1;
          if (crAt >= 0 && i + crAt < end - 1) this.flag('CR');
          if (j < 0) {
            this.lastWasCr = c[c.length - 1] === CR;
            break scan;
          }
          if (!(j > i ? c[j - 1] === CR : this.lastWasCr)) this.flag('LF');
          this.lastWasCr = false;
          i = j + 1;
          this.ds = 'line-start';
          continue;
        }
      }
    }
    // At the terminator the run is empty: its dot (and CR) were excluded when seen.
    if (!this.ended && c.length > runStart) out.push(c.subarray(runStart));
    this.q.take(consumed);
    let n = 0;
    for (const b of out) n += b.length;
    this.size += n;
    if (n === 0) return null;
    return out.length === 1 ? out[0]! : Buffer.concat(out, n);
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
