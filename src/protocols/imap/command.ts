// Reading client commands: just enough to route them. The shield never parses arguments it does not need, and never
// keeps or logs LOGIN/AUTHENTICATE arguments.

export interface CommandHead {
  tag: string;
  /** Upper-cased; `UID FETCH`, `UID STORE`... for UID commands. */
  verb: string;
}

const HEAD = /^([^\s(){%*"\\\]+]+) ([A-Za-z]+)(?: ([A-Za-z]+))?/;

export function commandHead(line: string): CommandHead | null {
  const m = HEAD.exec(line);
  if (!m) return null;
  const verb = m[2]!.toUpperCase();
  return { tag: m[1]!, verb: verb === 'UID' && m[3] ? `UID ${m[3].toUpperCase()}` : verb };
}

// Something in the attribute list may fetch content: a section or RFC822 / RFC822.TEXT.
const CONTENT_HINT = /\[|RFC822(?!\.(HEADER|SIZE))/i;
const FETCH_HEAD = /^(\S+ FETCH \S+ )/i;

/**
 * Adds UID to a sequence-number FETCH that may return content, so every content response names its message by UID.
 * The shield needs that UID to fetch a whole message itself when the client asked only for a part: a sequence number
 * would be unsafe, because an EXPUNGE answered to a pipelined command can shift it before the shield's own FETCH
 * runs. Servers may always send data items that were not asked for (RFC 3501 §7.4.2), so clients accept the extra
 * UID. Returns null when the line is left as it is.
 */
export function addUidToFetch(line: string): string | null {
  const m = FETCH_HEAD.exec(line);
  if (!m) return null;
  const head = m[1]!;
  const att = line.slice(head.length);
  if (!CONTENT_HINT.test(att)) return null;
  if (att.startsWith('(')) {
    if (/^\(\s*UID[\s)]/i.test(att)) return null;
    return `${head}(UID ${att.slice(1)}`;
  }
  // A single item: find where it ends (a space outside brackets, or the line end) and wrap it in a list.
  let depth = 0;
  let end = 0;
  for (; end < att.length; end++) {
    const ch = att[end]!;
    if (ch === '[' || ch === '(') depth++;
    else if (ch === ']' || ch === ')') depth--;
    else if ((ch === ' ' || ch === '\r' || ch === '\n') && depth === 0) break;
  }
  if (depth !== 0) return null;
  return `${head}(UID ${att.slice(0, end)})${att.slice(end)}`;
}

const PARTIAL = /(BODY|BINARY)(?:\.PEEK)?\[([^\]]*)\]<(\d+)\.(\d+)>/gi;

/** The byte counts a FETCH command asked for per partial item, keyed like response items (`BODY[1.2]`). */
export function partialCounts(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(PARTIAL)) out.set(`${m[1]!.toUpperCase()}[${m[2]!.toUpperCase()}]`, Number(m[4]));
  return out;
}

/** The mailbox argument of SELECT/EXAMINE as a cache key: the raw argument text, enough to tell mailboxes apart. */
export function mailboxKey(text: string): string {
  const m = /^\S+ \S+ (.*?)(?: \(.*\))?\r?\n?$/s.exec(text);
  return m ? m[1]! : text;
}
