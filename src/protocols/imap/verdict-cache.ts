// Verdicts by message, so a client reading a message in chunks (or again) causes one scan and one quarantine entry.
// A message is (mailbox, UIDVALIDITY, UID), and a UID names a message only in the mailbox the server has selected:
// while a SELECT, EXAMINE, CLOSE or UNSELECT is on its way and unanswered, the mailbox is unknown, so there is no key
// and nothing is cached or looked up.
import type { ScanAction } from '../../core/scan-contract.js';

export type CachedVerdict = { kind: 'clean' } | { kind: 'infected'; notice: Buffer };

/** Verdicts kept per connection. A notice is a few KiB; a client syncing a big folder reuses the recent ones. */
const VERDICT_CACHE_ENTRIES = 2000;

export class VerdictCache {
  private selected: { key: string; uidvalidity: number | null } | null = null;
  /** Mailbox changes sent to the server, and answered by it; the mailbox is known only when they are equal. */
  private epochSent = 0;
  private epochDone = 0;
  private readonly verdicts = new Map<string, CachedVerdict>();

  /** The client sent a command that changes the selected mailbox. */
  mailboxChangeSent(): void {
    this.epochSent++;
  }

  /** The server answered SELECT or EXAMINE of `mailbox` (its UIDVALIDITY, when it said one). */
  selectAnswered(ok: boolean, mailbox: string, uidvalidity: number | null): void {
    this.epochDone++;
    this.selected = ok ? { key: mailbox, uidvalidity } : null;
  }

  /** The server answered CLOSE or UNSELECT. */
  closeAnswered(ok: boolean): void {
    this.epochDone++;
    if (ok) this.selected = null;
  }

  /** The selected mailbox as a key prefix, or null while it is unknown. */
  epochKey(): string | null {
    if (!this.selected || this.epochSent !== this.epochDone) return null;
    return `${this.selected.key}\u0000${this.selected.uidvalidity ?? `#${this.epochDone}`}`;
  }

  key(epochKey: string, uid: number): string {
    return `${epochKey}\u0000${uid}`;
  }

  get(key: string): CachedVerdict | undefined {
    return this.verdicts.get(key);
  }

  /** Stores a verdict as the most recent; the least recently stored one goes when the cache is full. */
  remember(key: string, v: CachedVerdict): void {
    this.verdicts.delete(key);
    this.verdicts.set(key, v);
    if (this.verdicts.size > VERDICT_CACHE_ENTRIES) this.verdicts.delete(this.verdicts.keys().next().value!);
  }
}

/** What a scan result means for later reads of the same message; null when it decides nothing (tempfail, refuse). */
export function cachedVerdict(r: ScanAction): CachedVerdict | null {
  if (r.action === 'release') return { kind: 'clean' };
  if (r.action === 'replace') return { kind: 'infected', notice: r.notice };
  return null;
}

/** Why content could not be given to the client, for its NO [UNAVAILABLE]. */
export function scanFailureText(r: ScanAction): string {
  if (r.action === 'tempfail') return `the message could not be scanned (${r.reason}); try again later`;
  if (r.action === 'refuse') return r.reply;
  return 'the message could not be scanned';
}
