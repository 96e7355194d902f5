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
