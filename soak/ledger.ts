// What every session saw, and the proof at the end. A download is intact, a notice, a tempfail, or cut by a fault;
// a submission is accepted, refused, tempfailed or cut. The final check reads the real stores (Dovecot's Maildir,
// Postfix's deliveries, the shield's quarantine index and files) and counts every violation of the invariant.
import { existsSync, readdirSync } from 'node:fs';
import { openDb, storePath } from '../src/store/db.js';
import { Quarantine } from '../src/store/quarantine.js';
import { sha, type SoakMessage } from './messages.js';

export type DownloadOutcome = 'intact' | 'notice' | 'tempfail' | 'vanished';
export type SubmitOutcome = 'accepted' | 'refused' | 'tempfail' | 'cut';

export class Ledger {
  readonly messages = new Map<string, SoakMessage>();
  readonly downloads = new Map<DownloadOutcome, number>();
  /** Notices a client received: message key → quarantine ids. */
  readonly notices = new Map<string, Set<string>>();
  readonly submissions = new Map<string, { msg: SoakMessage; via: 'smtp' | 'append'; outcome: SubmitOutcome }>();
  readonly violations: string[] = [];
  sessions = 0;
  sessionErrors = 0;

  add(m: SoakMessage): void {
    this.messages.set(m.key, m);
  }

  download(outcome: DownloadOutcome): void {
    this.downloads.set(outcome, (this.downloads.get(outcome) ?? 0) + 1);
  }

  violation(s: string): void {
    if (this.violations.length < 200) this.violations.push(s);
  }

  /** A client framed a complete message body: it must be the original (clean) or a notice (infected). */
  received(key: string | null, got: Buffer, expectPrefix: number | null): void {
    const m = key ? this.messages.get(key) : undefined;
    if (!m) return this.violation(`received bytes naming no known message: ${got.toString('latin1', 0, 120)}`);
    const id = /mailshield quarantine export ([0-9a-f]{12})/.exec(got.toString('latin1'))?.[1];
    if (id) {
      if (!m.infected) this.violation(`${key}: clean message replaced by a notice`);
      if (!this.notices.has(m.key)) this.notices.set(m.key, new Set());
      this.notices.get(m.key)!.add(id);
      return this.download('notice');
    }
    const want = expectPrefix === null ? m.bytes : m.bytes.subarray(0, expectPrefix);
    if (m.infected && expectPrefix !== null) {
      // A partial fetch of a replaced message gets the same range of the notice, which may not reach its id.
      if (got.equals(want)) this.violation(`${key}: partial fetch of an infected message served the original`);
      else this.download('notice');
      return;
    }
    if (m.infected && got.includes('EICAR-STANDARD')) this.violation(`${key}: infected message delivered`);
    else if (!got.equals(want))
      this.violation(
        `${key}: delivered ${got.length} bytes that are not the original's ${want.length} (truncated or altered)`,
      );
    else this.download('intact');
  }

  submitted(msg: SoakMessage, via: 'smtp' | 'append', outcome: SubmitOutcome): void {
    this.submissions.set(msg.key, { msg, via, outcome });
  }

  /**
   * The proof. `onServer(key)` counts copies of a message in the upstream mailbox, `delivered(key)` the copies Postfix
   * delivered, each as the bytes found (so truncation shows).
   */
  verify(opts: {
    dataDir: string;
    seededOnServer: (key: string) => number;
    appended: (key: string) => Buffer[];
    delivered: (key: string) => Buffer[];
  }): Record<string, number> {
    const db = openDb(storePath(opts.dataDir));
    const q = new Quarantine(opts.dataDir, db);
    const entries = q.list();
    const byId = new Map(entries.map((e) => [e.id, e]));
    // Index and files agree: no entry without its file, no file without its entry.
    for (const e of entries) if (!existsSync(e.file)) this.violation(`quarantine entry ${e.id} has no file`);
    const shas = new Set(entries.map((e) => e.sha256));
    if (existsSync(q.dir))
      for (const f of readdirSync(q.dir)) {
        const m = /^([0-9a-f]{64})\.eml$/.exec(f);
        if (!m || !shas.has(m[1]!)) this.violation(`quarantine file ${f} has no index entry`);
      }
    // Every notice a client received points at the message's original, durable in quarantine.
    for (const [key, ids] of this.notices) {
      const m = this.messages.get(key)!;
      for (const id of ids) {
        const e = byId.get(id);
        if (!e) this.violation(`${key}: notice names quarantine id ${id}, which the index does not have`);
        else if (e.sha256 !== m.sha256) this.violation(`${key}: quarantine ${id} holds other bytes than the original`);
      }
    }
    const quarantinedSha = shas;
    const totals = {
      delivered: 0,
      quarantined: 0,
      leftOnServer: 0,
      leftWithSender: 0,
      lost: 0,
      duplicated: 0,
      truncated: 0,
    };
    // Incoming (seeded) messages: never deleted by the soak, so each must still be on the server exactly once.
    for (const m of this.messages.values()) {
      if (this.submissions.has(m.key)) continue;
      const n = opts.seededOnServer(m.key);
      if (n !== 1) {
        this.violation(`${m.key}: ${n} copies on the server, expected 1`);
        if (n === 0) totals.lost++;
        else totals.duplicated++;
      }
      if (this.notices.has(m.key)) totals.quarantined++;
      else if (m.infected) totals.leftOnServer++;
      else totals.delivered++;
    }
    // Outgoing messages: where each one is now.
    for (const { msg, via, outcome } of this.submissions.values()) {
      const copies = via === 'smtp' ? opts.delivered(msg.key) : opts.appended(msg.key);
      const norm = (b: Buffer) => b.toString('latin1').replace(/\r\n/g, '\n');
      const intact = copies.filter((c) => norm(c).endsWith(norm(msg.bytes).split('\n\n').slice(1).join('\n\n')));
      if (copies.length > 1) {
        totals.duplicated++;
        this.violation(`${msg.key}: ${copies.length} copies delivered`);
      }
      if (copies.length > intact.length) {
        totals.truncated++;
        this.violation(`${msg.key}: delivered copy is not the submitted message`);
      }
      const inQuarantine = quarantinedSha.has(msg.sha256) || quarantinedSha.has(sha(msg.bytes));
      if (outcome === 'accepted') {
        if (msg.infected) this.violation(`${msg.key}: infected ${via} submission accepted`);
        if (copies.length === 0) {
          totals.lost++;
          this.violation(`${msg.key}: accepted by ${via} but never arrived`);
        } else totals.delivered++;
      } else if (outcome === 'refused') {
        if (copies.length > 0) this.violation(`${msg.key}: refused but delivered`);
        if (!inQuarantine) {
          totals.lost++;
          this.violation(`${msg.key}: refused as infected but not in quarantine`);
        } else totals.quarantined++;
      } else if (outcome === 'tempfail') {
        if (copies.length > 0) this.violation(`${msg.key}: tempfailed but delivered (the sender will send it again)`);
        totals.leftWithSender++;
      } else {
        // Cut before the final reply: the sender does not know; it may have arrived once, intact, or not at all.
        if (copies.length === 1) totals.delivered++;
        else if (inQuarantine) totals.quarantined++;
        else totals.leftWithSender++;
      }
    }
    db.close();
    return { ...totals, quarantineEntries: entries.length, violations: this.violations.length };
  }
}
