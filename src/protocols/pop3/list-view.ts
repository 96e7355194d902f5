// POP3 LIST once verdicts are known: a message mailshield replaced is listed with the notice's size, so a client
// that checks RETR against LIST (or shows sizes) sees one message, not two. LIST answers also tell the session each
// message's size, which decides whether TOP n 0 of an unscanned message is scanned ahead (limits.scanAheadMaxBytes).

/** What LIST needs from the session: remember a listed size, and the size to show when the message was replaced. */
export interface ListSizes {
  listed(msg: number, size: number): void;
  replacedSize(msg: number): number | undefined;
}

const ENTRY = /^(\d{1,9}) (\d{1,15})(.*)$/s;

/** One scan listing (`n size`, CRLF included) rewritten. */
function rewriteEntry(line: string, sizes: ListSizes): string {
  const m = ENTRY.exec(line);
  if (!m) return line;
  const n = Number(m[1]);
  sizes.listed(n, Number(m[2]));
  const replaced = sizes.replacedSize(n);
  return replaced === undefined ? line : `${m[1]} ${replaced}${m[3]}`;
}

/** `+OK n size` of a single-message LIST. */
export function rewriteListStatus(line: Buffer, sizes: ListSizes): Buffer {
  const text = line.toString('latin1');
  if (!text.startsWith('+OK ')) return line;
  return Buffer.from(`+OK ${rewriteEntry(text.slice(4), sizes)}`, 'latin1');
}

/** The body of a multi-line LIST, as it streams (still dot-stuffed: scan listings never start with a dot). */
export class ListBodyRewriter {
  private carry = '';

  constructor(
    private readonly sizes: ListSizes,
    private readonly maxLineBytes: number,
  ) {}

  push(chunk: Buffer): Buffer {
    const text = this.carry + chunk.toString('latin1');
    const lastLf = text.lastIndexOf('\n');
    if (lastLf < 0 && text.length <= this.maxLineBytes) {
      this.carry = text;
      return Buffer.alloc(0);
    }
    // A line longer than any listing is not one: passed on as it is.
    const complete = lastLf < 0 ? text : text.slice(0, lastLf + 1);
    this.carry = lastLf < 0 ? '' : text.slice(lastLf + 1);
    const out = complete
      .split(/(?<=\n)/)
      .map((l) => rewriteEntry(l, this.sizes))
      .join('');
    return Buffer.from(out, 'latin1');
  }
}
