// POP3 framing, pure: command/status lines, the dot-terminated multi-line body (RFC 1939 §3), and the inverse for
// bodies mailshield writes itself. Every parser here is O(bytes read): input is scanned once, never re-scanned as a
// buffer grows, because a peer that drips a long line one byte at a time must not cost quadratic time.

import { LINE_TOO_LONG, LineSplitter, lineEnd } from '../../core/line-framer.js';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/** One line as received. `bytes` keeps the exact line ending so a relayed line is byte-identical. */
export interface Line {
  bytes: Buffer;
  /** The line without its CRLF/LF, latin1-decoded (POP3 commands and status lines are ASCII). */
  text: string;
}

export { LINE_TOO_LONG };

/**
 * Splits a byte stream into lines (LF-terminated, CR optional). Pull-based: `next()` hands out one line at a time so
 * the session can stop at a line (STLS, a command waiting for a verdict) and take the raw bytes behind it.
 */
export class LineFramer {
  private readonly lines: LineSplitter;

  constructor(maxLineBytes: number) {
    this.lines = new LineSplitter(maxLineBytes);
  }

  push(data: Buffer): void {
    this.lines.push(data);
  }

  /** Bytes held: unreturned lines and the unterminated rest. */
  get buffered(): number {
    return this.lines.buffered;
  }

  /**
   * The next complete line, `null` when none is complete yet, or LINE_TOO_LONG once a line (CRLF included) exceeds the
   * limit. A too-long line is reported before its end arrives, so memory stays bounded by the limit.
   */
  next(): Line | null | typeof LINE_TOO_LONG {
    const bytes = this.lines.next();
    if (bytes === null || bytes === LINE_TOO_LONG) return bytes;
    return { bytes, text: bytes.toString('latin1', 0, lineEnd(bytes)) };
  }

  /** Removes and returns every byte not yet handed out as a line. */
  drain(): Buffer {
    return this.lines.takeRest();
  }
}

export interface DotChunk {
  /** Unstuffed message bytes found in this input (slices of it where possible). */
  out: Buffer[];
  /** How many input bytes belong to the body, the terminating ".\r\n" included. */
  used: number;
  /** The terminator was reached; bytes after `used` belong to the next response. */
  done: boolean;
}

type DotState = 'lineStart' | 'mid' | 'cr' | 'dot' | 'dotCr';

/**
 * Streaming decoder of a POP3 multi-line body: removes the stuffed leading dot and finds the ".\r\n" terminator line,
 * keeping no more than one pending byte between chunks. The output is the message as stored, CRLF lines, without the
 * terminator. Only ".\r\n" at the start of a line terminates (a CRLF before it, or the start of the body), as RFC 1939
 * says; a bare-LF ".\n" is message data.
 */
export class DotDecoder {
  private state: DotState = 'lineStart';

  push(data: Buffer): DotChunk {
    const out: Buffer[] = [];
    let runStart = 0;
    const flush = (end: number) => {
      if (end > runStart) out.push(data.subarray(runStart, end));
    };
    let i = 0;
    while (i < data.length) {
      const b = data[i]!;
      switch (this.state) {
        case 'mid': {
          // Most bytes sit mid-line: jump to the next CR instead of looking at each byte.
          const j = data.indexOf(CR, i);
          if (j < 0) {
            i = data.length;
            continue;
          }
          this.state = 'cr';
          i = j + 1;
          continue;
        }
        case 'lineStart':
          if (b === DOT) {
            flush(i);
            runStart = i + 1;
            this.state = 'dot';
          } else this.state = b === CR ? 'cr' : 'mid';
          break;
        case 'cr':
          this.state = b === LF ? 'lineStart' : b === CR ? 'cr' : 'mid';
          break;
        case 'dot':
          if (b === CR) {
            // Maybe the terminator: hold the CR back until the next byte decides.
            runStart = i + 1;
            this.state = 'dotCr';
          } else this.state = 'mid';
          break;
        case 'dotCr':
          if (b === LF) {
            this.state = 'lineStart';
            return { out, used: i + 1, done: true };
          }
          out.push(Buffer.from([CR]));
          runStart = i;
          this.state = b === CR ? 'cr' : 'mid';
          break;
      }
      i++;
    }
    if (this.state !== 'dotCr') flush(data.length);
    return { out, used: data.length, done: false };
  }
}

/**
 * Encodes a body mailshield writes itself (a notice) as a multi-line response body: CRLF lines, stuffed dots, the
 * terminator. Bare LFs become CRLF so a notice built with "\n" cannot end a line early or smuggle a terminator.
 */
export function encodeMultiline(body: Buffer): Buffer {
  const text = body.toString('latin1');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const stuffed = lines.map((l) => (l.startsWith('.') ? '.' + l : l));
  return Buffer.from(stuffed.map((l) => l + '\r\n').join('') + '.\r\n', 'latin1');
}

/** What TOP n `lines` returns for `message`: the header, the blank line, then the first `lines` body lines. */
export function topOf(message: Buffer, lines: number): Buffer {
  const text = message.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return message;
  const headerEnd = m.index + m[0].length;
  let pos = headerEnd;
  for (let n = 0; n < lines && pos < text.length; n++) {
    const nl = text.indexOf('\n', pos);
    pos = nl < 0 ? text.length : nl + 1;
  }
  return message.subarray(0, pos);
}

export type Status = 'ok' | 'err' | 'continue';

/** Classifies a response line: +OK, -ERR, or a SASL continuation ("+ data" or a bare "+"). Null: not a status. */
export function statusOf(text: string): Status | null {
  const head = text.slice(0, 4).toUpperCase();
  if (head.startsWith('+OK')) return 'ok';
  if (head === '-ERR') return 'err';
  if (text === '+' || text.startsWith('+ ')) return 'continue';
  return null;
}

export interface Command {
  /** Upper-cased keyword. */
  verb: string;
  args: string[];
}

export function parseCommand(text: string): Command {
  const parts = text.split(' ').filter((p) => p.length > 0);
  return { verb: (parts[0] ?? '').toUpperCase(), args: parts.slice(1) };
}

/** A message number argument (RFC 1939: a positive decimal), or null. */
export function messageNumber(arg: string | undefined): number | null {
  if (arg === undefined || !/^\d{1,9}$/.test(arg)) return null;
  const n = Number(arg);
  return n > 0 ? n : null;
}
