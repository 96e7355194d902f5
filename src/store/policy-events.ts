// The policy rollout's rows (migration 4): handshakes policy.candidate would have refused, and how often each
// exception was used. Writes run on the connection path, so each statement is compiled once per store; reads are
// for `policy report`, doctor and the dashboard.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { WouldRefuse } from '../core/tls-facts.js';

/** A would_refuse row as the store holds it. */
export interface WouldRefuseRow {
  at: string;
  account: string;
  leg: 'client' | 'upstream';
  peer: string;
  peer_label: string;
  policy: string;
  candidate: string;
  code: string;
  rule: string;
  explanation: string;
  admit: string | null;
}

/** An exception_uses row: `exception` is describeException()'s "host: allow until date". */
export interface ExceptionUseRow {
  exception: string;
  uses: number;
  first_used: string;
  last_used: string;
}

export class PolicyEvents {
  private insertWouldRefuse: Statement<unknown[]> | null = null;
  private upsertUse: Statement<unknown[]> | null = null;

  constructor(private readonly db: Db) {}

  wouldRefuse(at: string, connectionId: string | null, account: string, w: WouldRefuse): void {
    this.insertWouldRefuse ??= this.db.prepare<unknown[]>(
      `INSERT INTO would_refuse (at, connection_id, account, leg, peer, peer_label, policy, candidate, code, rule,
           explanation, admit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertWouldRefuse.run(
      at,
      connectionId,
      account,
      w.leg,
      w.peer,
      w.peerLabel,
      w.policy,
      w.candidate,
      w.code,
      w.rule,
      w.explanation,
      w.admit,
    );
  }

  exceptionUsed(at: string, exception: string): void {
    this.upsertUse ??= this.db.prepare<unknown[]>(
      `INSERT INTO exception_uses (exception, uses, first_used, last_used) VALUES (?, 1, ?, ?)
         ON CONFLICT (exception) DO UPDATE SET uses = uses + 1, last_used = excluded.last_used`,
    );
    this.upsertUse.run(exception, at, at);
  }
}

export function readWouldRefuse(db: Db, since: Date): WouldRefuseRow[] {
  return db
    .prepare(
      `SELECT at, account, leg, peer, peer_label, policy, candidate, code, rule, explanation, admit
         FROM would_refuse WHERE at >= ? ORDER BY at`,
    )
    .all(since.toISOString()) as WouldRefuseRow[];
}

export function readExceptionUses(db: Db): ExceptionUseRow[] {
  return db.prepare('SELECT exception, uses, first_used, last_used FROM exception_uses').all() as ExceptionUseRow[];
}
