// FETCH responses: which data item a literal belongs to, whether that item carries message content, and how to cut
// the same part out of a replacement notice.
//
// The item parser runs over the text of a `* n FETCH (...)` response as it arrives, fragment by fragment (literal
// contents are never fed to it). It tracks quoted strings and nested lists, so a subject line such as "x UID 9" inside
// ENVELOPE can never be mistaken for the message's UID: the cache of verdicts is keyed by UID, and a spoofed UID would
// let an infected message borrow a clean verdict.

const START = /^\* (\d+) FETCH \(/i;

/** The message sequence number and the length of the `* n FETCH (` prefix, or null for any other response. */
export function fetchStart(line: string): { msn: number; prefixLength: number } | null {
  const m = START.exec(line);
  return m ? { msn: Number(m[1]), prefixLength: m[0].length } : null;
}

type Mode = 'name' | 'value' | 'atom' | 'quoted' | 'nested' | 'between' | 'end';

/**
 * Where a top-level item's name or value starts and ends in the text of one `feed` call (offsets into that text), so
 * the session can rename an item, rewrite a value (FLAGS, RFC822.SIZE, ENVELOPE...) or take a quoted string's content.
 * A nested value may span fragments and literals: its `start` and `end` then come from different calls.
 */
export type ItemEvent =
  | { type: 'name'; name: string; start: number; end: number }
  | { type: 'start'; name: string; kind: 'atom' | 'quoted' | 'nested'; at: number }
  /** `at` is just past the value: after the closing quote or parenthesis, at the space or `)` after an atom. */
  | { type: 'end'; name: string; kind: 'atom' | 'quoted' | 'nested'; at: number };

export class FetchItemParser {
  /** Data item names seen at the top level, in order, upper-cased. */
  readonly names: string[] = [];
  uid: number | null = null;
  /** RFC822.SIZE, when the response has it (the shield adds it to commands that fetch a header: scan-ahead). */
  size: number | null = null;
  private mode: Mode = 'name';
  private buf = '';
  private bracket = 0;
  private depth = 0;
  private nestedQuote = false;
  private escape = false;
  private current = '';
  private nameStart = 0;
  private events: ItemEvent[] = [];

  /** Feeds response text that is not literal content and not a literal marker; returns what it found. */
  feed(text: string): ItemEvent[] {
    this.events = [];
    for (let i = 0; i < text.length; i++) this.step(text[i]!, i);
    return this.events;
  }

  /**
   * A literal follows the text fed so far. Returns the item it is the value of (top level), or null when it sits
   * inside a nested list (ENVELOPE, BODYSTRUCTURE) or where no value is expected.
   */
  literal(): string | null {
    if (this.mode === 'value') {
      this.mode = 'between';
      return this.current;
    }
    return null;
  }

  /** The item whose value comes next, when the text fed so far ends right before a value (a literal, if any). */
  get awaitingValueOf(): string | null {
    return this.mode === 'value' ? this.current : null;
  }

  /** Inside a top-level nested value (a literal now belongs to it). */
  get inNested(): boolean {
    return this.mode === 'nested';
  }

  get complete(): boolean {
    return this.mode === 'end';
  }

  private step(ch: string, i: number): void {
    switch (this.mode) {
      case 'name':
        if (ch === ' ' && this.bracket === 0) {
          if (this.buf === '') return;
          this.current = this.buf.toUpperCase();
          this.names.push(this.current);
          this.events.push({ type: 'name', name: this.current, start: this.nameStart, end: i });
          this.buf = '';
          this.mode = 'value';
        } else if (ch === ')' && this.bracket === 0) {
          this.mode = 'end';
        } else if (ch !== '\r' && ch !== '\n') {
          if (this.buf === '') this.nameStart = i;
          if (ch === '[') this.bracket++;
          else if (ch === ']' && this.bracket > 0) this.bracket--;
          this.buf += ch;
        }
        return;
      case 'value':
        if (ch === '(') {
          this.mode = 'nested';
          this.depth = 1;
          this.events.push({ type: 'start', name: this.current, kind: 'nested', at: i });
        } else if (ch === '"') {
          this.mode = 'quoted';
          this.escape = false;
          this.events.push({ type: 'start', name: this.current, kind: 'quoted', at: i });
        } else {
          this.mode = 'atom';
          this.buf = ch;
          this.events.push({ type: 'start', name: this.current, kind: 'atom', at: i });
        }
        return;
      case 'atom':
        if (ch === ' ' || ch === ')' || ch === '\r' || ch === '\n') {
          this.value(this.buf);
          this.events.push({ type: 'end', name: this.current, kind: 'atom', at: i });
          this.buf = '';
          this.mode = ch === ' ' ? 'name' : ch === ')' ? 'end' : 'between';
        } else this.buf += ch;
        return;
      case 'quoted':
        if (this.escape) this.escape = false;
        else if (ch === '\\') this.escape = true;
        else if (ch === '"') {
          this.mode = 'between';
          this.events.push({ type: 'end', name: this.current, kind: 'quoted', at: i + 1 });
        }
        return;
      case 'nested':
        if (this.nestedQuote) {
          if (this.escape) this.escape = false;
          else if (ch === '\\') this.escape = true;
          else if (ch === '"') this.nestedQuote = false;
        } else if (ch === '"') this.nestedQuote = true;
        else if (ch === '(') this.depth++;
        else if (ch === ')' && --this.depth === 0) {
          this.mode = 'between';
          this.events.push({ type: 'end', name: this.current, kind: 'nested', at: i + 1 });
        }
        return;
      case 'between':
        if (ch === ' ') this.mode = 'name';
        else if (ch === ')') this.mode = 'end';
        return;
      case 'end':
        return;
    }
  }

  private value(v: string): void {
    if (this.current === 'UID' && /^\d{1,10}$/.test(v)) this.uid = Number(v);
    if (this.current === 'RFC822.SIZE' && /^\d{1,15}$/.test(v)) this.size = Number(v);
  }
}

/** The content of a quoted string (quotes included in `quoted`), unescaped, as bytes. */
export function unquote(quoted: Buffer): Buffer {
  const inner = quoted.subarray(1, quoted.length - 1);
  if (!inner.includes(0x5c)) return Buffer.from(inner);
  const out: number[] = [];
  for (let i = 0; i < inner.length; i++) {
    const b = inner[i]!;
    if (b === 0x5c && i + 1 < inner.length) out.push(inner[++i]!);
    else out.push(b);
  }
  return Buffer.from(out);
}

/** A FETCH data item that carries message content. */
export interface ContentItem {
  /** BODY and BODY.PEEK answer as BODY; BINARY and BINARY.PEEK as BINARY; RFC822 and RFC822.TEXT as RFC822. */
  kind: 'BODY' | 'BINARY' | 'RFC822';
  /** '' (whole message), 'TEXT', or a part number such as '1.2' or '3.TEXT'. */
  section: string;
  origin: number | null;
  /** The item is the complete message, so its literal is the whole thing to scan. */
  full: boolean;
}

const ITEM = /^(BODY|BINARY)\[([^\]]*)\](?:<(\d+)>)?$/;
const CONTENT_SECTION = /^(|TEXT|\d+(\.\d+)*(\.TEXT)?)$/;

/** Classifies an upper-cased item name from a FETCH response; null for anything that is not content. */
export function contentItem(name: string): ContentItem | null {
  if (name === 'RFC822') return { kind: 'RFC822', section: '', origin: null, full: true };
  if (name === 'RFC822.TEXT') return { kind: 'RFC822', section: 'TEXT', origin: null, full: false };
  const m = ITEM.exec(name);
  if (!m || !CONTENT_SECTION.test(m[2]!)) return null;
  const origin = m[3] === undefined ? null : Number(m[3]);
  return { kind: m[1] as 'BODY' | 'BINARY', section: m[2]!, origin, full: m[2] === '' && origin === null };
}

/** Where a message's body starts (after the blank line that ends the header), or its length if it has none. */
function bodyStart(msg: Buffer): number {
  const crlf = msg.indexOf('\r\n\r\n');
  if (crlf >= 0) return crlf + 4;
  const lf = msg.indexOf('\n\n');
  return lf >= 0 ? lf + 2 : msg.length;
}

/**
 * The bytes of `item` cut from a replacement notice. The notice is a simple message, so every part number and TEXT
 * map to its body: whichever part of an infected message a client opens, it finds the explanation. A partial fetch
 * gets the same range of those bytes; `count` is what the client asked for.
 */
export function noticePart(notice: Buffer, item: ContentItem, count: number | null): Buffer {
  const whole = item.section === '' ? notice : notice.subarray(bodyStart(notice));
  if (item.origin === null) return whole;
  const start = Math.min(item.origin, whole.length);
  return whole.subarray(start, count === null ? whole.length : Math.min(whole.length, start + count));
}
