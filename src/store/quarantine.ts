// Quarantined originals: files under dataDir/quarantine (folder 0700, files 0600), named by their SHA-256 so the same
// message quarantined twice is stored once. The SQLite index (table `quarantine`) holds one row per event.
// Write order is the crash-safety contract: temp file, fsync, rename, fsync the folder, and only then the index row.
// A crash at any point leaves either nothing, an orphan file (harmless, reused by the next put of the same bytes), or
// a complete entry; never an index row without its file.
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  chmodSync,
  readFileSync,
  statSync,
  unlinkSync,
  readdirSync,
  copyFileSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ShieldError } from '../core/errors.js';
import type { Verdict } from '../core/scan-contract.js';
import type { QuarantineMeta } from '../scan/pipeline.js';
import type { Db } from './db.js';

// What an entry records is defined once, by the port the scan pipeline writes through.
export type { QuarantineMeta };

export interface QuarantineEntry {
  id: string;
  /** ISO 8601. */
  receivedAt: string;
  account: string;
  protocol: string;
  direction: string;
  /** The verdict kind: infected, blocked (or error). */
  verdict: string;
  /** The full verdict: engine, signature or rule, part. */
  detail: Verdict;
  subject: string | null;
  from: string | null;
  size: number;
  sha256: string;
  connectionId: string | null;
  /** Where the original is on disk. */
  file: string;
}

interface Row {
  id: string;
  received_at: string;
  account: string;
  protocol: string;
  direction: string;
  verdict: string;
  verdict_json: string;
  subject: string | null;
  sender: string | null;
  size: number;
  sha256: string;
  connection_id: string | null;
}

/** Copy buffer size when quarantining a spooled message. */
const COPY_CHUNK = 1024 * 1024;

export class Quarantine {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.dir = join(dataDir, 'quarantine');
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // mkdir honours the umask and leaves an existing folder alone: set the mode explicitly.
    chmodSync(this.dir, 0o700);
  }

  fileFor(sha256: string): string {
    return join(this.dir, `${sha256}.eml`);
  }

  /**
   * Stores the original and indexes it. Resolves with the entry id only when the bytes are durable on disk and the
   * row is committed.
   */
  async put(original: Buffer | { path: string }, meta: QuarantineMeta): Promise<string> {
    try {
      this.ensureDir();
      const { sha256, size } = Buffer.isBuffer(original)
        ? { sha256: createHash('sha256').update(original).digest('hex'), size: original.length }
        : await hashFile(original.path);
      const final = this.fileFor(sha256);
      if (!existsSync(final) || statSync(final).size !== size) await this.writeDurably(original, final);
      // The row is what the notice points at: it must be on disk before the notice goes out. The store runs WAL with
      // synchronous=NORMAL (a commit survives a process crash, not a power cut); FULL for this one commit makes the
      // WAL fsync too. bench/quarantine-fsync.ts measures what that costs.
      this.db.pragma('synchronous = FULL');
      try {
        return this.insert(sha256, size, meta);
      } finally {
        this.db.pragma('synchronous = NORMAL');
      }
    } catch (e) {
      if (e instanceof ShieldError) throw e;
      throw new ShieldError(
        'MS_ERR_QUARANTINE_WRITE',
        `could not store the original in ${this.dir}: ${e instanceof Error ? e.message : String(e)}`,
        {
          fix: 'check free disk space and that the data folder is writable',
          cause: e,
        },
      );
    }
  }

  private async writeDurably(original: Buffer | { path: string }, final: string): Promise<void> {
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      if (Buffer.isBuffer(original)) {
        await fh.writeFile(original);
      } else {
        const src = await open(original.path, 'r');
        try {
          const buf = Buffer.allocUnsafe(COPY_CHUNK);
          for (;;) {
            const { bytesRead } = await src.read(buf, 0, COPY_CHUNK, null);
            if (bytesRead === 0) break;
            await fh.write(buf, 0, bytesRead);
          }
        } finally {
          await src.close();
        }
      }
      await fh.sync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await rename(tmp, final);
    // The rename is only durable once the folder itself is synced.
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  private insert(sha256: string, size: number, meta: QuarantineMeta): string {
    // The same original seen again (a client retrying RETR, an IMAP client fetching in several styles) keeps its one
    // entry: the bytes are identical, and one id per original is what the notice and the user refer to.
    const existing = this.db
      .prepare('SELECT id FROM quarantine WHERE sha256 = ? AND account = ? AND direction = ? AND verdict = ? LIMIT 1')
      .get(sha256, meta.account, meta.direction, meta.verdict.kind) as { id: string } | undefined;
    if (existing) return existing.id;
    const stmt = this.db.prepare(
      `INSERT INTO quarantine (id, received_at, account, protocol, direction, verdict, verdict_json, subject, sender, size, sha256, connection_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (let attempt = 0; ; attempt++) {
      const id = newId();
      try {
        stmt.run(
          id,
          this.now().toISOString(),
          meta.account,
          meta.protocol,
          meta.direction,
          meta.verdict.kind,
          JSON.stringify(meta.verdict),
          meta.subject ?? null,
          meta.from ?? null,
          size,
          sha256,
          meta.connId ?? null,
        );
        return id;
      } catch (e) {
        // A 48-bit random id colliding is astronomically rare; retry rather than fail a quarantine.
        if (attempt < 3 && e instanceof Error && /UNIQUE|PRIMARY KEY/i.test(e.message)) continue;
        throw e;
      }
    }
  }

  list(): QuarantineEntry[] {
    const rows = this.db.prepare('SELECT * FROM quarantine ORDER BY received_at DESC, id').all() as Row[];
    return rows.map((r) => this.toEntry(r));
  }

  get(id: string): QuarantineEntry | undefined {
    const row = this.db.prepare('SELECT * FROM quarantine WHERE id = ?').get(id) as Row | undefined;
    return row ? this.toEntry(row) : undefined;
  }

  /** Like get(), but an unknown id is MS_ERR_QUARANTINE_NOT_FOUND. */
  getOrThrow(id: string): QuarantineEntry {
    const e = this.get(id);
    if (!e)
      throw new ShieldError('MS_ERR_QUARANTINE_NOT_FOUND', `no quarantine entry has the id "${id}"`, {
        fix: 'run `mailshield quarantine list` to see the ids',
      });
    return e;
  }

  /** The exact original bytes. */
  read(id: string): Buffer {
    return readFileSync(this.getOrThrow(id).file);
  }

  /** Writes the exact original bytes to `file` (mode 0600: it is dangerous content). */
  exportTo(id: string, file: string): void {
    const e = this.getOrThrow(id);
    copyFileSync(e.file, file);
    chmodSync(file, 0o600);
  }

  /** A stream of the original, for export to stdout without loading it. */
  openRead(id: string): NodeJS.ReadableStream {
    return createReadStream(this.getOrThrow(id).file);
  }

  delete(id: string): void {
    const e = this.getOrThrow(id);
    this.db.prepare('DELETE FROM quarantine WHERE id = ?').run(id);
    this.removeIfUnreferenced(e.sha256);
  }

  /**
   * Deletes entries older than `retentionDays` and files no entry refers to. 0 keeps everything: a retention of zero
   * days would empty the quarantine as fast as it fills, which is never what someone who set it wanted.
   */
  purge(retentionDays: number): number {
    if (retentionDays <= 0) return 0;
    const cutoff = new Date(this.now().getTime() - retentionDays * 86_400_000).toISOString();
    const old = this.db.prepare('SELECT id, sha256 FROM quarantine WHERE received_at < ?').all(cutoff) as {
      id: string;
      sha256: string;
    }[];
    const del = this.db.prepare('DELETE FROM quarantine WHERE id = ?');
    this.db.transaction(() => old.forEach((r) => del.run(r.id)))();
    for (const sha of new Set(old.map((r) => r.sha256))) this.removeIfUnreferenced(sha);
    this.removeOrphans();
    return old.length;
  }

  private removeIfUnreferenced(sha256: string): void {
    const n = (this.db.prepare('SELECT COUNT(*) AS n FROM quarantine WHERE sha256 = ?').get(sha256) as { n: number }).n;
    if (n === 0) {
      try {
        unlinkSync(this.fileFor(sha256));
      } catch {
        // Already gone: nothing to do.
      }
    }
  }

  /**
   * Makes the folder and the index agree after a crash, at start (no put is running yet, so no age rule is needed):
   * temp files and files without an index row are removed. A file without a row never had a notice released for it,
   * since the row is written before the notice. Returns what it found, so the caller can log it.
   */
  recover(): { removedFiles: number; rowsWithoutFile: string[] } {
    let removedFiles = 0;
    if (!existsSync(this.dir)) return { removedFiles, rowsWithoutFile: [] };
    const rows = this.db.prepare('SELECT id, sha256 FROM quarantine').all() as { id: string; sha256: string }[];
    const known = new Set(rows.map((r) => r.sha256));
    for (const f of readdirSync(this.dir)) {
      const m = /^([0-9a-f]{64})\.eml$/.exec(f);
      if (f.startsWith('.tmp-') || (m && !known.has(m[1]!))) {
        unlinkSync(join(this.dir, f));
        removedFiles++;
      }
    }
    const rowsWithoutFile = rows.filter((r) => !existsSync(this.fileFor(r.sha256))).map((r) => r.id);
    return { removedFiles, rowsWithoutFile };
  }

  /** Files left by a crash before their index row (or stale temp files). */
  private removeOrphans(): void {
    if (!existsSync(this.dir)) return;
    const known = new Set(
      (this.db.prepare('SELECT DISTINCT sha256 FROM quarantine').all() as { sha256: string }[]).map((r) => r.sha256),
    );
    const hourAgo = this.now().getTime() - 3_600_000;
    for (const f of readdirSync(this.dir)) {
      const full = join(this.dir, f);
      const m = /^([0-9a-f]{64})\.eml$/.exec(f);
      // Only old files: a young one may belong to a put() that has not written its row yet.
      if ((m && !known.has(m[1]!)) || f.startsWith('.tmp-')) {
        try {
          if (statSync(full).mtimeMs < hourAgo) unlinkSync(full);
        } catch {
          // Raced with another purge: fine.
        }
      }
    }
  }

  private toEntry(r: Row): QuarantineEntry {
    return {
      id: r.id,
      receivedAt: r.received_at,
      account: r.account,
      protocol: r.protocol,
      direction: r.direction,
      verdict: r.verdict,
      detail: JSON.parse(r.verdict_json) as Verdict,
      subject: r.subject,
      from: r.sender,
      size: r.size,
      sha256: r.sha256,
      connectionId: r.connection_id,
      file: this.fileFor(r.sha256),
    };
  }
}

/** Short enough to type in `mailshield quarantine export <id>`, random enough never to collide in practice. */
function newId(): string {
  return randomBytes(6).toString('hex');
}

async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: COPY_CHUNK })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}
