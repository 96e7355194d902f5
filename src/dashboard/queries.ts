// The dashboard's read model: every page's data comes from the one store (src/store), through these queries.
import { readFileSync, openSync, readSync, closeSync } from 'node:fs';
import type { Db } from '../store/db.js';
import type { Quarantine, QuarantineEntry } from '../store/quarantine.js';
import {
  classifyConnection,
  matchesQuarantine,
  type ConnectionFilter,
  type ConnectionResult,
  type QuarantineFilter,
} from './filters.js';
import { recipientsOf, viewMessage, type MessageView } from './message-view.js';

export const HISTORY_LIMIT = 500;

export interface ConnectionView {
  id: string;
  account: string;
  protocol: string;
  listener: string;
  clientAddress: string;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
  bytesFromClient: number;
  bytesFromUpstream: number;
  result: ConnectionResult;
  /** The first error's code and text: what the mail client was told. */
  errorCode: string | null;
  errorText: string | null;
}

interface ConnRow {
  id: string;
  account: string;
  protocol: string;
  listener: string;
  client_address: string;
  started_at: string;
  ended_at: string | null;
  outcome: string | null;
  bytes_from_client: number;
  bytes_from_upstream: number;
  codes: string | null;
  first_message: string | null;
}

export function listConnections(db: Db, f: ConnectionFilter): ConnectionView[] {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (clause: string, v: string | undefined) => {
    if (v === undefined) return;
    where.push(clause);
    args.push(v);
  };
  add('c.account = ?', f.account);
  add('c.protocol = ?', f.protocol);
  add('c.started_at >= ?', f.since);
  add('c.started_at <= ?', f.until);
  const rows = db
    .prepare(
      `SELECT c.*,
         (SELECT group_concat(code, ' ') FROM errors e WHERE e.connection_id = c.id) AS codes,
         (SELECT message FROM errors e WHERE e.connection_id = c.id ORDER BY e.id LIMIT 1) AS first_message
       FROM connections c ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY c.started_at DESC LIMIT ?`,
    )
    .all(...args, f.result ? HISTORY_LIMIT * 4 : HISTORY_LIMIT) as ConnRow[];
  const out: ConnectionView[] = [];
  for (const r of rows) {
    const codes = r.codes ? r.codes.split(' ') : [];
    const result = classifyConnection(r.outcome, codes);
    if (f.result && result !== f.result) continue;
    out.push({
      id: r.id,
      account: r.account,
      protocol: r.protocol,
      listener: r.listener,
      clientAddress: r.client_address,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      outcome: r.outcome,
      bytesFromClient: r.bytes_from_client,
      bytesFromUpstream: r.bytes_from_upstream,
      result,
      errorCode: codes[0] ?? null,
      errorText: r.first_message,
    });
    if (out.length >= HISTORY_LIMIT) break;
  }
  return out;
}

export interface Explanation {
  connectionId: string;
  errors: { code: string; side: string; message: string; at: string }[];
  /** What the client offered, when its ClientHello was read. */
  clientHello: {
    versions: string[];
    ciphers: string[];
    sigalgs: string[];
    groups: string[];
    sni: string | null;
    accepted: boolean;
    policy: string;
    refusal: string | null;
  } | null;
  /** The upstream handshake facts and the policy's findings. */
  upstream: {
    host: string | null;
    port: number | null;
    protocol: string | null;
    cipher: string | null;
    peerSigningDigest: string | null;
    peerSignatureType: string | null;
    serverTempKey: string | null;
    policy: string | null;
    verdict: string;
    findings: { level: string; rule: string; code: string; message: string; exceptionHint?: unknown }[];
    chain: { subject: string; issuer: string; signatureAlgorithm: string; keyType: string; keyBits: number }[];
  } | null;
}

const list = (s: string): string[] => {
  try {
    const v: unknown = JSON.parse(s);
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

export function explainConnection(db: Db, id: string): Explanation {
  const errors = db
    .prepare('SELECT code, side, message, at FROM errors WHERE connection_id = ? ORDER BY id')
    .all(id) as Explanation['errors'];
  const h = db.prepare('SELECT * FROM client_hellos WHERE connection_id = ? ORDER BY id DESC LIMIT 1').get(id) as
    Record<string, string | number | null> | undefined;
  const u = db.prepare('SELECT * FROM handshakes WHERE connection_id = ? ORDER BY id DESC LIMIT 1').get(id) as
    Record<string, string | number | null> | undefined;
  return {
    connectionId: id,
    errors,
    clientHello: h
      ? {
          versions: list(String(h.versions_json)),
          ciphers: list(String(h.ciphers_json)),
          sigalgs: list(String(h.sigalgs_json)),
          groups: list(String(h.groups_json)),
          sni: (h.sni as string | null) ?? null,
          accepted: h.accepted === 1,
          policy: String(h.policy),
          refusal: (h.refusal as string | null) ?? null,
        }
      : null,
    upstream: u
      ? {
          host: (u.host as string | null) ?? null,
          port: (u.port as number | null) ?? null,
          protocol: (u.protocol as string | null) ?? null,
          cipher: (u.cipher as string | null) ?? null,
          peerSigningDigest: (u.peer_signing_digest as string | null) ?? null,
          peerSignatureType: (u.peer_signature_type as string | null) ?? null,
          serverTempKey: (u.server_temp_key as string | null) ?? null,
          policy: (u.policy as string | null) ?? null,
          verdict: String(u.verdict),
          findings: JSON.parse(String(u.findings_json)) as NonNullable<Explanation['upstream']>['findings'],
          chain: JSON.parse(String(u.chain_json)) as NonNullable<Explanation['upstream']>['chain'],
        }
      : null,
  };
}

export interface QuarantineRow {
  id: string;
  receivedAt: string;
  account: string;
  protocol: string;
  direction: string;
  verdict: string;
  engine: string | null;
  /** Signature (infected) or rule (blocked) or reason (error). */
  signature: string | null;
  part: string | null;
  subject: string | null;
  from: string | null;
  to: string | null;
  size: number;
  sha256: string;
  released: { by: string; at: string } | null;
}

/** Per sha256: the To header never changes for the same bytes, and reading it means opening the file. */
const recipientCache = new Map<string, string | null>();

function recipientOf(e: QuarantineEntry): string | null {
  if (recipientCache.has(e.sha256)) return recipientCache.get(e.sha256)!;
  let to: string | null;
  try {
    const fd = openSync(e.file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(e.size, 64 * 1024));
      const n = readSync(fd, buf, 0, buf.length, 0);
      to = recipientsOf(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  } catch {
    to = null;
  }
  if (recipientCache.size > 10_000) recipientCache.clear();
  recipientCache.set(e.sha256, to);
  return to;
}

export function quarantineRow(e: QuarantineEntry, released: QuarantineRow['released']): QuarantineRow {
  const d = e.detail;
  return {
    id: e.id,
    receivedAt: e.receivedAt,
    account: e.account,
    protocol: e.protocol,
    direction: e.direction,
    verdict: e.verdict,
    engine: d.kind === 'clean' ? null : d.engine,
    signature:
      d.kind === 'infected' ? d.signature : d.kind === 'blocked' ? d.rule : d.kind === 'error' ? d.reason : null,
    part: d.kind === 'infected' || d.kind === 'blocked' ? d.part : null,
    subject: e.subject,
    from: e.from,
    to: recipientOf(e),
    size: e.size,
    sha256: e.sha256,
    released,
  };
}

export function listQuarantine(
  q: Quarantine,
  releasedOf: (sha: string) => QuarantineRow['released'],
  f: QuarantineFilter,
): QuarantineRow[] {
  return q
    .list()
    .map((e) => quarantineRow(e, releasedOf(e.sha256)))
    .filter((r) => matchesQuarantine(r, f));
}

export async function quarantineDetail(
  q: Quarantine,
  releasedOf: (sha: string) => QuarantineRow['released'],
  id: string,
): Promise<{ entry: QuarantineRow; message: MessageView }> {
  const e = q.getOrThrow(id);
  return { entry: quarantineRow(e, releasedOf(e.sha256)), message: await viewMessage(readFileSync(e.file)) };
}
