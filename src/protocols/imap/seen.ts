// The \Seen flag, set by the shield instead of the server. Content goes upstream with .PEEK (fetch-command.ts), so a
// message the client never got (a tempfail, a connection lost mid-scan) stays unread on the server. Once a FETCH
// response with content has been written to the client, and only if the client's own command would have set \Seen,
// the shield sends `UID STORE uid +FLAGS.SILENT (\Seen)` under a tag of its own and drops the tagged reply.
// Not in a read-only mailbox (EXAMINE, or SELECT answered [READ-ONLY]), where the server would not have set it either.

export class SeenState {
  private writable = false;
  private readonly ownTags = new Set<string>();

  /** The server answered SELECT or EXAMINE (`text` is the tagged line). */
  selectAnswered(verb: string, ok: boolean, text: string): void {
    this.writable = ok && verb === 'SELECT' && !/\[READ-ONLY\]/i.test(text);
  }

  /** The server answered CLOSE or UNSELECT. */
  closeAnswered(ok: boolean): void {
    if (ok) this.writable = false;
  }

  /** A mailbox change was sent: until it is answered, nothing may be stored by UID. */
  mailboxChangeSent(): void {
    this.writable = false;
  }

  get mailboxWritable(): boolean {
    return this.writable;
  }

  store(tag: string, uid: number): string {
    this.ownTags.add(tag);
    return `${tag} UID STORE ${uid} +FLAGS.SILENT (\\Seen)\r\n`;
  }

  /** True (and forgotten) when `tag` is one of our STOREs. */
  takeOwn(tag: string): boolean {
    return this.ownTags.delete(tag);
  }
}

/** Whether a FLAGS list (`(\Answered $Label)`) has \Seen. */
export function hasSeen(flags: string): boolean {
  return /(^|[\s(])\\Seen(?=[\s)])/i.test(flags);
}

/** The FLAGS list with \Seen added, as the server would have shown it after setting the flag. */
export function withSeen(flags: string): string {
  if (hasSeen(flags)) return flags;
  const close = flags.lastIndexOf(')');
  if (close < 0) return flags;
  const inner = flags.slice(flags.indexOf('(') + 1, close).trim();
  return `${flags.slice(0, flags.indexOf('('))}(${inner ? `${inner} ` : ''}\\Seen)${flags.slice(close + 1)}`;
}

/** A response item that makes the server set \Seen when fetched without .PEEK. */
export function setsSeenItem(name: string): boolean {
  return /^(BODY|BINARY)\[/.test(name) || name === 'RFC822' || name === 'RFC822.TEXT';
}
