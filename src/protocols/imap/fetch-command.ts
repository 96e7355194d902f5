// What the shield changes in a client's FETCH command before it goes upstream, and what it must remember to answer
// the client as the server would have.
//
// - UID is added to a sequence-number FETCH that returns content or describes the message, so every such response
//   names its message by UID: the verdict cache and the shield's own whole-message fetch need it, and a sequence
//   number would be unsafe (an EXPUNGE answered to a pipelined command can shift it). Servers may always send data
//   items that were not asked for (RFC 3501 §7.4.2), so clients accept the extra UID.
// - Content is fetched with .PEEK: the server must not set \Seen for content the client may never get (a scan can
//   fail, the shield can hold it back). The shield sets \Seen itself once the client has the content (seen.ts).
//   RFC822 and RFC822.TEXT have no PEEK form: they become BODY.PEEK[] and BODY.PEEK[TEXT], and the response items
//   are renamed back.
// - FLAGS is added when the command would set \Seen, so the shield knows whether the message was already seen (then
//   no STORE) and can show the client the flags it would have seen: with \Seen.
// - RFC822.SIZE is added when a header or structure item is asked for: whether the message is scanned ahead
//   (limits.scanAheadMaxBytes) depends on its size.

export interface FetchPlan {
  /** The command line as it goes upstream (CRLF kept). */
  line: string;
  /** The client's own command would have made the server set \Seen. */
  setsSeen: boolean;
  /** Response item name -> the name the client asked for (RFC822 and RFC822.TEXT fetched with PEEK). */
  renames: Map<string, string>;
  /** The command asks for header, envelope, structure or size items, which describe the message. */
  describes: boolean;
}

const HEAD = /^(\S+ (?:UID )?FETCH \S+ )/i;

const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

/** Splits at top-level spaces; brackets and parentheses nest. Returns the items and the index after the list. */
function splitItems(att: string): { items: string[]; end: number } | null {
  const list = att.startsWith('(');
  const items: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = list ? 1 : 0; i < att.length; i++) {
    const ch = att[i]!;
    if (depth === 0 && (ch === ' ' || (list && ch === ')') || (!list && (ch === '\r' || ch === '\n')))) {
      if (cur) items.push(cur);
      cur = '';
      if (ch === ')' || !list) return { items, end: i + (list ? 1 : 0) };
      continue;
    }
    if (ch === '[' || ch === '(') depth++;
    else if (ch === ']' || ch === ')') depth--;
    if (depth < 0) return null;
    cur += ch;
  }
  if (list || depth !== 0) return null;
  if (cur) items.push(cur);
  return { items, end: att.length };
}

const BODY_SECTION = /^(BODY|BINARY)(\.PEEK)?(\[.*)$/i;
/** Sections that describe the message (its header, or a part's MIME header), not its content. */
const HEADER_SECTION = /^\[(\d+(\.\d+)*\.)?(HEADER|MIME)/i;

/** The plan for a FETCH or UID FETCH line, or null when the line is not one the shield understands. */
export function planFetch(line: string): FetchPlan | null {
  const m = HEAD.exec(line);
  if (!m) return null;
  const head = m[1]!;
  const isUid = /^\S+ UID /i.test(head);
  const att = line.slice(head.length);
  const split = splitItems(att);
  if (!split) return null;
  const rest = att.slice(split.end);
  let items = split.items;
  if (items.length === 1 && MACROS[items[0]!.toUpperCase()]) items = MACROS[items[0]!.toUpperCase()]!;
  const upper = items.map((i) => i.toUpperCase());
  const has = (name: string) => upper.includes(name);
  // RFC822 and BODY[] in one command would both come back as BODY[]: then RFC822 is left as it is.
  const wholeAsked = upper.some((u) => /^BODY(\.PEEK)?\[\]$/.test(u));
  const textAsked = upper.some((u) => /^BODY(\.PEEK)?\[TEXT\]$/.test(u));
  let setsSeen = false;
  let describes = false;
  let content = false;
  const renames = new Map<string, string>();
  const out = items.map((item, i) => {
    const u = upper[i]!;
    if (u === 'RFC822' && !wholeAsked) {
      setsSeen = content = true;
      renames.set('BODY[]', 'RFC822');
      return 'BODY.PEEK[]';
    }
    if (u === 'RFC822.TEXT' && !textAsked) {
      setsSeen = content = true;
      renames.set('BODY[TEXT]', 'RFC822.TEXT');
      return 'BODY.PEEK[TEXT]';
    }
    if (u === 'RFC822' || u === 'RFC822.TEXT') {
      content = true;
      return item;
    }
    if (u === 'RFC822.HEADER' || u === 'ENVELOPE' || u === 'BODYSTRUCTURE' || u === 'BODY' || u === 'RFC822.SIZE') {
      describes = true;
      return item;
    }
    const b = BODY_SECTION.exec(item);
    if (!b) return item;
    if (HEADER_SECTION.test(b[3]!)) describes = true;
    else content = true;
    if (b[2]) return item;
    setsSeen = true;
    return `${b[1]}.PEEK${b[3]}`;
  });
  if (!content && !describes) return { line, setsSeen: false, renames, describes: false };
  const added: string[] = [];
  if (!isUid && !has('UID')) added.push('UID');
  if (setsSeen && !has('FLAGS')) added.push('FLAGS');
  if (describes && !has('RFC822.SIZE')) added.push('RFC822.SIZE');
  const changed = added.length > 0 || out.some((o, i) => o !== items[i]) || items !== split.items;
  const newLine = changed ? `${head}(${[...added, ...out].join(' ')})${rest}` : line;
  return { line: newLine, setsSeen, renames, describes };
}
