// The SMTP DATA stream decoder, pure: un-stuffs dots, finds the one real end of the message and normalizes line
// endings. It decides what a message *is*, so it decides whether SMTP smuggling can get through the shield.
//
// The rules (RFC 5321 sections 2.3.8, 4.1.1.4 and 4.5.2, and Postfix's `smtpd_forbid_bare_newline = normalize`):
// - A line ends at CRLF, at a bare LF, or at a bare CR (a CR that is not followed by LF). Every line end is delivered
//   as CRLF.
// - The message ends only at <CR><LF>.<CR><LF> on the wire: a line of exactly one dot, ended by CRLF, after a line
//   that also ended by CRLF (or as the first line). "<LF>.<CR><LF>", "<CR><LF>.<LF>", "<CR>.<CR>", ".<NUL>" and the
//   like are never an end: such a lone dot stays content, a "." line.
// - A dot that starts a longer line is the stuffing dot and is removed (after any line end, since clients that send
//   bare LF also stuff after bare LF, as Python's smtplib does).
// - NUL bytes are removed: SMTP forbids them in content, and an upstream parser that truncates or skips at NUL
//   could otherwise read ".<NUL>" or "<NUL>." as a lone dot.
// What leaves here therefore has CRLF line ends only and no NUL, and the driver dot-stuffs it again on the way out.
// So whatever the upstream's own parser accepts as a line end, no line it sees is a lone dot before the real end:
// one client message can never end the upstream's DATA early or start a second transaction.
// In `reject` mode the first bare LF, bare CR or NUL stops the decoder (the session refuses and closes; it cannot
// know where the client believes the message ends, so it never goes back to reading commands).

const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

export type BareLineEndings = 'normalize' | 'reject';
export type BareKind = 'LF' | 'CR' | 'NUL';

/** What was normalized in one message. */
export interface Normalized {
  lf: number;
  cr: number;
  nul: number;
}

export interface Decoded {
  /** Content bytes of this chunk (null when none). */
  data: Buffer | null;
  /** Bytes of the chunk that belong to the message (all of it, unless the message ended inside it). */
  consumed: number;
  ended: boolean;
  /** `reject` mode: the forbidden byte that stopped the decoder. */
  invalid: BareKind | null;
}

const DOT_CRLF = Buffer.from('.\r\n');
const CR_ONLY = Buffer.from('\r');
const LF_ONLY = Buffer.from('\n');
const STATIC: ReadonlySet<Buffer> = new Set<Buffer>([DOT_CRLF, CR_ONLY, LF_ONLY]);

/**
 * Where the decoder is in the current line:
 * - start: nothing yet (NULs dropped do not count);
 * - dot: a single dot, held until the next byte says whether it is stuffing, a lone dot or the end;
 * - dot-cr: ".\r", held: "\n" next may be the end;
 * - mid: content; `crPending` says the last byte was a CR (already in the output) whose meaning the next byte decides.
 */
type LineState = 'start' | 'dot' | 'dot-cr' | 'mid';

export class DataDecoder {
  private st: LineState = 'start';
  private crPending = false;
  /** The previous line ended with a real CRLF (true at the start of the data). */
  private prevCrlf = true;
  /** A NUL was dropped from the current line before anything else, so it cannot be the end line. */
  private dirty = false;
  readonly normalized: Normalized = { lf: 0, cr: 0, nul: 0 };
  /** Content lines that begin with a dot (stuffed ".." lines and kept lone dots). */
  dotLines = 0;
  /** Content bytes produced so far. */
  size = 0;
  private refused: BareKind | null = null;

  constructor(private readonly mode: BareLineEndings) {}

  /** Decodes one chunk. Work is O(chunk): each special byte is found once with the native indexOf. */
  decode(c: Buffer): Decoded {
    const out: Buffer[] = [];
    let run = 0;
    let i = 0;
    let consumed = c.length;
    let ended = false;
    // Next CR / LF / NUL at or after i: -2 not looked up yet, -1 none left in this chunk.
    let nCr = -2;
    let nLf = -2;
    let nNul = -2;
    const cut = (to: number) => {
      if (to > run) out.push(c.subarray(run, to));
    };
    scan: while (i < c.length) {
      const b = c[i]!;
      switch (this.st) {
        case 'start':
          if (b === DOT) {
            cut(i);
            run = ++i;
            this.st = 'dot';
          } else if (b === NUL) {
            if (this.bare('NUL')) break scan;
            cut(i);
            run = ++i;
            this.dirty = true;
          } else this.st = 'mid';
          continue;
        case 'dot':
          if (b === CR) {
            run = ++i;
            this.st = 'dot-cr';
          } else if (b === NUL) {
            if (this.bare('NUL')) break scan;
            run = ++i;
            this.dirty = true;
          } else if (b === LF) {
            // "<dot><LF>": a lone dot with a bare LF is content, never an end.
            if (this.bare('LF')) break scan;
            out.push(DOT_CRLF);
            this.dotLines++;
            run = ++i;
            this.lineEnd(false);
          } else {
            // The dot was the stuffing dot (already dropped); a second dot is content.
            if (b === DOT) this.dotLines++;
            this.st = 'mid';
          }
          continue;
        case 'dot-cr':
          if (b === LF) {
            if (this.prevCrlf && !this.dirty) {
              consumed = i + 1;
              ended = true;
              break scan;
            }
            out.push(DOT_CRLF);
            this.dotLines++;
            run = ++i;
            this.lineEnd(true);
            continue;
          }
          // "<dot><CR>" and anything but LF: a lone dot ended by a bare CR. `b` starts the next line.
          if (this.bare('CR')) break scan;
          out.push(DOT_CRLF);
          this.dotLines++;
          this.lineEnd(false);
          continue;
        case 'mid': {
          if (this.crPending) {
            this.crPending = false;
            if (b === LF) {
              i++;
              this.lineEnd(true);
              continue;
            }
            // A bare CR: it is already in the output, add its LF. `b` starts the next line.
            if (this.bare('CR')) break scan;
            cut(i);
            out.push(LF_ONLY);
            run = i;
            this.lineEnd(false);
            continue;
          }
          if (nCr !== -1 && nCr < i) nCr = c.indexOf(CR, i);
          if (nLf !== -1 && nLf < i) nLf = c.indexOf(LF, i);
          if (nNul !== -1 && nNul < i) nNul = c.indexOf(NUL, i);
          let p = c.length;
          if (nCr >= 0 && nCr < p) p = nCr;
          if (nLf >= 0 && nLf < p) p = nLf;
          if (nNul >= 0 && nNul < p) p = nNul;
          if (p === c.length) break scan;
          i = p;
          const s = c[p];
          if (s === CR) {
            i++;
            this.crPending = true;
          } else if (s === LF) {
            if (this.bare('LF')) break scan;
            cut(i);
            out.push(CR_ONLY);
            run = i++;
            this.lineEnd(false);
          } else {
            if (this.bare('NUL')) break scan;
            cut(i);
            run = ++i;
          }
          continue;
        }
      }
    }
    if (this.refused) return { data: null, consumed: c.length, ended: false, invalid: this.refused };
    // At the end, the held dot and CR are not in the run.
    cut(ended ? consumed - 1 : c.length);
    let n = 0;
    for (const x of out) n += x.length;
    this.size += n;
    let data: Buffer | null = null;
    if (n > 0) data = out.length === 1 && !STATIC.has(out[0]!) ? out[0]! : Buffer.concat(out, n);
    return { data, consumed, ended, invalid: null };
  }

  /** Counts a bare byte; true when the mode refuses it. */
  private bare(kind: BareKind): boolean {
    if (this.mode === 'reject') {
      this.refused = kind;
      return true;
    }
    if (kind === 'LF') this.normalized.lf++;
    else if (kind === 'CR') this.normalized.cr++;
    else this.normalized.nul++;
    return false;
  }

  private lineEnd(crlf: boolean): void {
    this.prevCrlf = crlf;
    this.dirty = false;
    this.st = 'start';
  }
}
