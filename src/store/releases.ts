// Released messages: a sha256 allow-list. Releasing a quarantined message lets the next fetch or send of exactly
// those bytes pass the scan (any change to the bytes is a different message and is scanned as usual). Each entry
// keeps who released it and when.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export interface ReleaseEntry {
  sha256: string;
  releasedAt: string;
  releasedBy: string;
  quarantineId: string | null;
  account: string | null;
  reason: string | null;
}

interface Row {
  sha256: string;
  released_at: string;
  released_by: string;
  quarantine_id: string | null;
  account: string | null;
  reason: string | null;
}

const toEntry = (r: Row): ReleaseEntry => ({
  sha256: r.sha256,
  releasedAt: r.released_at,
  releasedBy: r.released_by,
  quarantineId: r.quarantine_id,
  account: r.account,
  reason: r.reason,
});

export class Releases {
  private readonly anyStmt: Statement<unknown[]>;
  private readonly getStmt: Statement<unknown[]>;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.anyStmt = db.prepare('SELECT 1 FROM releases LIMIT 1');
    this.getStmt = db.prepare('SELECT * FROM releases WHERE sha256 = ?');
  }

  /** Cheap enough for every scan: lets the scanner skip hashing while nothing was ever released. */
  any(): boolean {
    return this.anyStmt.get() !== undefined;
  }

  get(sha256: string): ReleaseEntry | undefined {
    const r = this.getStmt.get(sha256) as Row | undefined;
    return r ? toEntry(r) : undefined;
  }

  /** Records a release; releasing the same bytes again keeps the first entry (its who and when). */
  add(e: { sha256: string; by: string; quarantineId?: string; account?: string; reason?: string }): ReleaseEntry {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO releases (sha256, released_at, released_by, quarantine_id, account, reason)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(e.sha256, this.now().toISOString(), e.by, e.quarantineId ?? null, e.account ?? null, e.reason ?? null);
    return this.get(e.sha256)!;
  }

  list(): ReleaseEntry[] {
    return (this.db.prepare('SELECT * FROM releases ORDER BY released_at DESC').all() as Row[]).map(toEntry);
  }
}
