// Filters of the Connections and Quarantine pages: query strings in, predicates out. Pure, so the rules for what
// counts as a refusal, and what a filter matches, are tested without a server.

export type ConnectionResult = 'ok' | 'refused' | 'error';

export interface ConnectionFilter {
  account?: string;
  protocol?: string;
  result?: ConnectionResult;
  /** ISO 8601 bounds on the start time. */
  since?: string;
  until?: string;
}

export interface QuarantineFilter {
  from?: string;
  to?: string;
  subject?: string;
  engine?: string;
  signature?: string;
  since?: string;
  until?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** A date or date-time the user typed; undefined when it is not one (the filter is then ignored, not an error). */
function isoBound(v: unknown, endOfDay: boolean): string | undefined {
  const s = str(v);
  if (!s) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return `${s}T${endOfDay ? '23:59:59.999' : '00:00:00.000'}Z`;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

export function parseConnectionFilter(q: Record<string, unknown>): ConnectionFilter {
  const r = str(q.result);
  return {
    account: str(q.account),
    protocol: str(q.protocol),
    result: r === 'ok' || r === 'refused' || r === 'error' ? r : undefined,
    since: isoBound(q.since, false),
    until: isoBound(q.until, true),
  };
}

export function parseQuarantineFilter(q: Record<string, unknown>): QuarantineFilter {
  return {
    from: str(q.from),
    to: str(q.to),
    subject: str(q.subject),
    engine: str(q.engine),
    signature: str(q.signature),
    since: isoBound(q.since, false),
    until: isoBound(q.until, true),
  };
}

/** Error codes that mean a policy said no (the peer is incompatible), as opposed to something that broke. */
const REFUSAL =
  /^MS_ERR_(CLIENT_TLS_(VERSION|SIGALGS|CIPHERS)|UPSTREAM_(TLS_VERSION|TLS_CIPHER|WEAK_|CERT_|PIN_|STARTTLS_|PREAUTH_))/;

export function classifyConnection(outcome: string | null, errorCodes: string[]): ConnectionResult {
  if (outcome === 'client-tls-refused' || errorCodes.some((c) => REFUSAL.test(c)) || REFUSAL.test(outcome ?? ''))
    return 'refused';
  if (errorCodes.length > 0 || (outcome !== null && outcome !== 'closed' && outcome !== 'idle-timeout')) return 'error';
  return 'ok';
}

const has = (hay: string | null | undefined, needle: string | undefined) =>
  needle === undefined || (hay ?? '').toLowerCase().includes(needle.toLowerCase());

export interface QuarantineFacts {
  from: string | null;
  to: string | null;
  subject: string | null;
  engine: string | null;
  signature: string | null;
  receivedAt: string;
}

export function matchesQuarantine(e: QuarantineFacts, f: QuarantineFilter): boolean {
  return (
    has(e.from, f.from) &&
    has(e.to, f.to) &&
    has(e.subject, f.subject) &&
    has(e.engine, f.engine) &&
    has(e.signature, f.signature) &&
    (f.since === undefined || e.receivedAt >= f.since) &&
    (f.until === undefined || e.receivedAt <= f.until)
  );
}
