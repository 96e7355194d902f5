// What policy.candidate would have refused in real traffic, and which exceptions are in use: the object behind
// `mailshield policy report`, doctor's "seen in real traffic under the candidate" and the dashboard's Policy page.
// buildPolicyReport() is pure (rows, config and the date in); loadPolicyReport() reads the rows from the store.
import type { ClientPolicyName, Config, UpstreamPolicyName } from '../core/config.js';
import type { Db } from '../store/db.js';
import {
  readExceptionUses,
  readWouldRefuse,
  type ExceptionUseRow,
  type WouldRefuseRow,
} from '../store/policy-events.js';
import { describeException } from '../tls/upstream-policy.js';

/** One peer the candidate would refuse, with how often and when it was seen. */
export interface CandidatePeer {
  leg: 'client' | 'upstream';
  /** Client: the offer's fingerprint; upstream: host:port. */
  peer: string;
  /** Client: versions, suites and signature algorithms offered; upstream: host:port (server name). */
  label: string;
  accounts: string[];
  /** The profile that accepted it, and the candidate that would not. */
  policy: string;
  candidate: string;
  code: string;
  rule: string;
  /** The refusal the peer would read, from the latest handshake. */
  explanation: string;
  /** The setting or policy.exceptions entry that would admit it under the candidate. */
  admit: string | null;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

/** One relaxation of one configured exception, with its recorded uses. */
export interface ExceptionUsage {
  host: string;
  allow: string;
  until: string;
  reason: string | null;
  uses: number;
  lastUsed: string | null;
  /** Days from today to `until` (negative: expired). */
  daysLeft: number;
  /** Never used since it was configured (or since the store began): nothing would break without it. */
  removable: boolean;
}

export interface PolicyReport {
  now: string;
  since: string;
  policy: { client: ClientPolicyName; upstream: UpstreamPolicyName };
  candidate: { client: ClientPolicyName | null; upstream: UpstreamPolicyName | null };
  /** False when there is no store yet: nothing was recorded. */
  recorded: boolean;
  /** Most often seen first. */
  peers: CandidatePeer[];
  exceptions: ExceptionUsage[];
}

export interface PolicyReportInput {
  config: Config;
  /** null: no store yet. */
  wouldRefuse: WouldRefuseRow[] | null;
  uses: ExceptionUseRow[];
  since: Date;
  now: Date;
}

const DAY = 86_400_000;
const dayOf = (d: Date | string): number => Date.parse(`${new Date(d).toISOString().slice(0, 10)}T00:00:00Z`);

export function buildPolicyReport(i: PolicyReportInput): PolicyReport {
  const cutoff = i.since.toISOString();
  const groups = new Map<string, CandidatePeer>();
  for (const r of i.wouldRefuse ?? []) {
    if (r.at < cutoff) continue;
    // One peer under one candidate for one reason; the same client build on two accounts is one line.
    const key = JSON.stringify([r.leg, r.peer, r.candidate, r.code]);
    const g = groups.get(key);
    if (!g) {
      groups.set(key, {
        leg: r.leg,
        peer: r.peer,
        label: r.peer_label,
        accounts: [r.account],
        policy: r.policy,
        candidate: r.candidate,
        code: r.code,
        rule: r.rule,
        explanation: r.explanation,
        admit: r.admit,
        count: 1,
        firstSeen: r.at,
        lastSeen: r.at,
      });
      continue;
    }
    g.count++;
    if (!g.accounts.includes(r.account)) g.accounts.push(r.account);
    if (r.at < g.firstSeen) g.firstSeen = r.at;
    if (r.at >= g.lastSeen) {
      g.lastSeen = r.at;
      g.explanation = r.explanation;
      g.admit = r.admit;
      g.policy = r.policy;
    }
  }

  const uses = new Map(i.uses.map((u) => [u.exception, u]));
  const today = dayOf(i.now);
  const exceptions: ExceptionUsage[] = i.config.policy.exceptions.flatMap((e) =>
    e.allow.map((allow) => {
      const u = uses.get(describeException(e, allow));
      return {
        host: e.host,
        allow,
        until: e.until,
        reason: e.reason ?? null,
        uses: u?.uses ?? 0,
        lastUsed: u?.last_used ?? null,
        daysLeft: Math.round((Date.parse(`${e.until}T00:00:00Z`) - today) / DAY),
        removable: !u,
      };
    }),
  );

  return {
    now: i.now.toISOString(),
    since: cutoff,
    policy: { client: i.config.policy.client, upstream: i.config.policy.upstream },
    candidate: {
      client: i.config.policy.candidate?.client ?? null,
      upstream: i.config.policy.candidate?.upstream ?? null,
    },
    recorded: i.wouldRefuse !== null,
    peers: [...groups.values()].sort((a, b) => b.count - a.count || (a.lastSeen < b.lastSeen ? 1 : -1)),
    exceptions,
  };
}

/** The report from an open store. */
export function loadPolicyReport(db: Db, config: Config, since: Date, now: Date): PolicyReport {
  return buildPolicyReport({
    config,
    wouldRefuse: readWouldRefuse(db, since),
    uses: readExceptionUses(db),
    since,
    now,
  });
}

/** "today", "yesterday", "5 days ago": how doctor says when an exception was last used. */
export function daysAgo(at: string, now: Date): string {
  const n = Math.round((dayOf(now) - dayOf(at)) / DAY);
  return n <= 0 ? 'today' : n === 1 ? 'yesterday' : `${n} days ago`;
}

// The report's window, shared by `mailshield policy report --since` and the dashboard's policy page.
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "7d", "12h", "2w", "30m", or a date (YYYY-MM-DD): the start of the window. */
export function parseSince(s: string, now: Date): Date {
  const m = /^(\d+)([mhdw])$/.exec(s.trim());
  if (m) return new Date(now.getTime() - Number(m[1]) * UNIT_MS[m[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}$/.test(s.trim())) {
    const d = new Date(`${s.trim()}T00:00:00Z`);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new Error(`--since expects a duration like 7d, 12h, 2w or a date YYYY-MM-DD, found "${s}"`);
}
