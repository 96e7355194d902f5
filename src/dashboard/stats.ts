// Statistics: scans per hour by outcome, refusals per hour, and handshakes by TLS version and by handshake
// signature digest. Clean scans leave no row in the mail path's tables, so ScanCounter counts every verdict from the
// live event source and writes hourly totals (table scan_hourly) in one small transaction every FLUSH_MS, off the
// mail path. The chart series are built by the pure functions below.
import type { Db } from '../store/db.js';
import type { LiveEvent, LiveHub } from '../io/live.js';
import { classifyConnection } from './filters.js';

export const FLUSH_MS = 10_000;
export const STATS_HOURS = 48;

export type ScanOutcome = 'clean' | 'infected' | 'blocked' | 'error';

const hourOf = (iso: string) => iso.slice(0, 13) + ':00:00.000Z';

export class ScanCounter {
  private pending = new Map<string, number>();
  private readonly onEvent = (e: LiveEvent) => {
    if (e.type !== 'scan') return;
    const key = `${hourOf(e.at)}\t${e.account}\t${e.verdict}`;
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  };

  constructor(
    private readonly db: Db,
    private readonly hub: LiveHub,
  ) {
    hub.on('event', this.onEvent);
  }

  /** Counts not yet written, so a chart drawn between flushes is still exact. */
  unflushed(): { hour: string; account: string; outcome: string; n: number }[] {
    return [...this.pending].map(([k, n]) => {
      const [hour, account, outcome] = k.split('\t') as [string, string, string];
      return { hour, account, outcome, n };
    });
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const rows = this.unflushed();
    this.pending = new Map();
    const up = this.db.prepare(
      `INSERT INTO scan_hourly (hour, account, outcome, n) VALUES (?, ?, ?, ?)
       ON CONFLICT (hour, account, outcome) DO UPDATE SET n = n + excluded.n`,
    );
    this.db.transaction(() => rows.forEach((r) => up.run(r.hour, r.account, r.outcome, r.n)))();
  }

  close(): void {
    this.hub.off('event', this.onEvent);
    this.flush();
  }
}

export interface StatsView {
  /** Hour starts, in seconds since the epoch (what uPlot takes). */
  hours: number[];
  scanned: number[];
  clean: number[];
  infected: number[];
  refused: number[];
  tlsVersions: { name: string; n: number }[];
  digests: { name: string; n: number }[];
}

/** Puts counts into hourly buckets, oldest first, ending at the hour of `now`. Pure. */
export function hourlySeries(
  now: Date,
  hours: number,
  rows: { hour: string; outcome: string; n: number }[],
  refusedAt: string[],
): Pick<StatsView, 'hours' | 'scanned' | 'clean' | 'infected' | 'refused'> {
  const end = Date.parse(hourOf(now.toISOString()));
  const start = end - (hours - 1) * 3_600_000;
  const idx = (iso: string) => Math.round((Date.parse(hourOf(iso)) - start) / 3_600_000);
  const zero = () => new Array<number>(hours).fill(0);
  const s = {
    hours: zero().map((_, i) => (start + i * 3_600_000) / 1000),
    scanned: zero(),
    clean: zero(),
    infected: zero(),
    refused: zero(),
  };
  for (const r of rows) {
    const i = idx(r.hour);
    if (i < 0 || i >= hours) continue;
    s.scanned[i]! += r.n;
    if (r.outcome === 'clean') s.clean[i]! += r.n;
    if (r.outcome === 'infected' || r.outcome === 'blocked') s.infected[i]! += r.n;
  }
  for (const at of refusedAt) {
    const i = idx(at);
    if (i >= 0 && i < hours) s.refused[i]! += 1;
  }
  return s;
}

export function readStats(db: Db, counter: ScanCounter | null, now: Date): StatsView {
  const since = new Date(now.getTime() - STATS_HOURS * 3_600_000).toISOString();
  const rows = [
    ...(db.prepare('SELECT hour, outcome, n FROM scan_hourly WHERE hour >= ?').all(since) as {
      hour: string;
      outcome: string;
      n: number;
    }[]),
    ...(counter?.unflushed() ?? []),
  ];
  const conns = db
    .prepare(
      `SELECT c.started_at AS at, c.outcome, (SELECT group_concat(code, ' ') FROM errors e WHERE e.connection_id = c.id) AS codes
       FROM connections c WHERE c.started_at >= ?`,
    )
    .all(since) as { at: string; outcome: string | null; codes: string | null }[];
  const refusedAt = conns
    .filter((c) => classifyConnection(c.outcome, c.codes ? c.codes.split(' ') : []) === 'refused')
    .map((c) => c.at);
  const group = (col: string) =>
    (
      db
        .prepare(
          `SELECT coalesce(${col}, 'unknown') AS name, count(*) AS n FROM handshakes WHERE at >= ? GROUP BY 1 ORDER BY 2 DESC`,
        )
        .all(since) as { name: string; n: number }[]
    ).map((r) => ({ name: r.name, n: r.n }));
  return {
    ...hourlySeries(now, STATS_HOURS, rows, refusedAt),
    tlsVersions: group('protocol'),
    digests: group('peer_signing_digest'),
  };
}
