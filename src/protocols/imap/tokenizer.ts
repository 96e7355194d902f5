// A streaming IMAP tokenizer for either direction. IMAP is line based except for literals: a line that ends in
// `{n}`, `{n+}` (RFC 7888 non-synchronizing) or `~{n}` (RFC 3516 binary) is followed by exactly n raw bytes, after
// which the same command or response continues on the next line. The tokenizer cuts the byte stream into line
// fragments and literal chunks without interpreting anything else, so every byte it is given comes out exactly once
// and in order (round-trip identity), and the session decides what the pieces mean.
//
// It is pull based: `push` appends input, `next` yields one token at a time. That lets the session stop in the middle
// of a read (STARTTLS) and take the unread bytes with `drain`. Each input byte is looked at once: the line search
// resumes where it stopped and literal bytes are sliced, never copied or rescanned, so buffering is O(bytes).

export interface LiteralSpec {
  /** The announced length in bytes. */
  size: number;
  /** `{n}`: the sender waits for a continuation request before sending the bytes. */
  sync: boolean;
  /** `~{n}`: a binary literal (may contain NUL). */
  binary: boolean;
  /** Offset in the line's `data` where the marker (`{` or `~{`) starts; the marker runs to the end of the line. */
  markerOffset: number;
  /** The size is above the configured limit; the session must refuse or swallow it. */
  tooLarge: boolean;
}

export type Token =
  /** One line fragment, CRLF (or bare LF) included. `literal` is set when it announces a literal. */
  | { type: 'line'; data: Buffer; literal: LiteralSpec | null }
  /** A piece of literal content. The last piece has `last` set; a zero-length literal yields one empty last piece. */
  | { type: 'literal'; data: Buffer; last: boolean }
  /** The input cannot be framed; nothing more comes out. */
  | { type: 'error'; reason: 'line-too-long' };

export interface TokenizerLimits {
  maxLineBytes: number;
  maxLiteralBytes: number;
}

// `~?{digits[+]}` then CRLF or LF at the very end of a line. Digits are capped at 20 so the number parse stays cheap;
// a longer count is simply too large.
const MARKER = /(~?)\{(\d{1,20})(\+?)\}\r?\n$/;
// The marker can only be in the last few bytes of a line, so only those are examined.
const MARKER_TAIL = 28;

export class ImapTokenizer {
  private input: Buffer[] = [];
  private first = 0; // index of the first unread buffer in `input` (no Array.shift: that would be O(n) per read)
  private offset = 0; // read position in input[first]
  private line: Buffer[] = []; // pieces of the current incomplete line
  private lineBytes = 0;
  private literalLeft = -1; // >= 0 while inside a literal
  private failed = false;

  constructor(private readonly limits: TokenizerLimits) {}

  push(data: Buffer): void {
    if (data.length > 0) this.input.push(data);
  }

  /** True while the tokenizer is inside a literal's content. */
  get inLiteral(): boolean {
    return this.literalLeft >= 0;
  }

  /**
   * Call right after a line token that announced a synchronizing literal the session refused: the peer will not
   * send the bytes, so the next input is a new line.
   */
  cancelLiteral(): void {
    this.literalLeft = -1;
  }

  next(): Token | null {
    if (this.failed) return null;
    if (this.literalLeft >= 0) return this.nextLiteral();
    return this.nextLine();
  }

  /** Removes and returns every byte not yet given out as a token (a partial line included). */
  drain(): Buffer {
    const rest = [...this.line];
    if (this.first < this.input.length) {
      rest.push(this.input[this.first]!.subarray(this.offset), ...this.input.slice(this.first + 1));
    }
    this.input = [];
    this.first = 0;
    this.offset = 0;
    this.line = [];
    this.lineBytes = 0;
    this.literalLeft = -1;
    return Buffer.concat(rest);
  }

  /** Bytes buffered and not yet tokenized. */
  get buffered(): number {
    let n = this.lineBytes;
    for (let i = this.first; i < this.input.length; i++)
      n += this.input[i]!.length - (i === this.first ? this.offset : 0);
    return n;
  }

  private nextLiteral(): Token | null {
    if (this.literalLeft === 0) {
      // Zero-length literal: one empty last piece so the session always sees an end.
      this.literalLeft = -1;
      return { type: 'literal', data: Buffer.alloc(0), last: true };
    }
    const head = this.input[this.first];
    if (!head) return null;
    const take = Math.min(this.literalLeft, head.length - this.offset);
    const data = head.subarray(this.offset, this.offset + take);
    this.advance(take);
    this.literalLeft -= take;
    const last = this.literalLeft === 0;
    if (last) this.literalLeft = -1;
    return { type: 'literal', data, last };
  }

  private nextLine(): Token | null {
    while (this.first < this.input.length) {
      const head = this.input[this.first]!;
      const lf = head.indexOf(0x0a, this.offset);
      const end = lf < 0 ? head.length : lf + 1;
      const piece = head.subarray(this.offset, end);
      if (this.lineBytes + piece.length > this.limits.maxLineBytes) {
        this.failed = true;
        return { type: 'error', reason: 'line-too-long' };
      }
      this.line.push(piece);
      this.lineBytes += piece.length;
      this.advance(end - this.offset);
      if (lf >= 0) return this.finishLine();
    }
    return null;
  }

  private finishLine(): Token {
    const data = this.line.length === 1 ? this.line[0]! : Buffer.concat(this.line, this.lineBytes);
    this.line = [];
    this.lineBytes = 0;
    const tailStart = Math.max(0, data.length - MARKER_TAIL);
    const m = MARKER.exec(data.toString('latin1', tailStart));
    if (!m) return { type: 'line', data, literal: null };
    const size = Number(m[2]);
    const tooLarge = !Number.isSafeInteger(size) || size > this.limits.maxLiteralBytes;
    const literal: LiteralSpec = {
      size,
      sync: m[3] !== '+',
      binary: m[1] === '~',
      markerOffset: tailStart + m.index,
      tooLarge,
    };
    this.literalLeft = tooLarge && !Number.isSafeInteger(size) ? Number.MAX_SAFE_INTEGER : size;
    return { type: 'line', data, literal };
  }

  private advance(n: number): void {
    this.offset += n;
    const head = this.input[this.first];
    if (head && this.offset >= head.length) {
      this.first++;
      this.offset = 0;
      if (this.first === this.input.length) {
        this.input = [];
        this.first = 0;
      } else if (this.first > 64) {
        this.input = this.input.slice(this.first);
        this.first = 0;
      }
    }
  }
}
