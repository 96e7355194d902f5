// Doctor's client leg: which recorded mail clients would a (candidate) policy.client refuse? The store keeps what
// each client offered (names, not code points), so the hello is rebuilt from those names and judged by the same
// pure evaluateClientHello() the listener uses. This is the Windows 7 half of the story.
import type { ClientPolicyName } from '../core/config.js';
import { describeHello, evaluateClientHello } from '../tls/client-policy.js';
import type { ClientHelloInfo } from '../core/tls-facts.js';
import { cipherSuiteCode } from '../tls/names.js';

/** A client_hellos row as the store holds it (src/store/migrations.ts v1). */
export interface ClientHelloRow {
  account: string;
  listener: string;
  client_address: string;
  at: string;
  versions_json: string;
  ciphers_json: string;
  sigalgs_json: string;
  groups_json: string;
  sni: string | null;
  alpn_json: string;
}

export interface RefusedClient {
  account: string;
  listener: string;
  clientAddress: string;
  /** What the client offered, in one line. */
  offered: string;
  lastSeen: string;
  /** How many recorded hellos of this shape the window holds. */
  seen: number;
  /** The refusal as the listener would word it. */
  reason: string;
  fix: string | null;
}

const parseList = (s: string): string[] => {
  try {
    const v: unknown = JSON.parse(s);
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

export function helloFromRow(r: ClientHelloRow): ClientHelloInfo {
  const versions = parseList(r.versions_json);
  const cipherSuiteNames = parseList(r.ciphers_json);
  return {
    legacyVersion: versions.find((v) => v !== 'TLSv1.3') ?? versions[0] ?? 'TLSv1.2',
    versions,
    cipherSuites: cipherSuiteNames.map(cipherSuiteCode).filter((c): c is number => c !== null),
    cipherSuiteNames,
    signatureAlgorithms: parseList(r.sigalgs_json),
    groups: parseList(r.groups_json),
    sni: r.sni,
    alpn: parseList(r.alpn_json),
  };
}

/** Rows newer than `since` that `policy` would refuse, one entry per (listener, client, offer), newest first. */
export function refusedClients(rows: ClientHelloRow[], policy: ClientPolicyName, since: Date): RefusedClient[] {
  const groups = new Map<string, RefusedClient>();
  const cutoff = since.toISOString();
  for (const r of rows) {
    if (r.at < cutoff) continue;
    const hello = helloFromRow(r);
    const d = evaluateClientHello(hello, policy, r.listener);
    if (d.ok || !d.refusal) continue;
    const offered = describeHello(hello);
    const key = JSON.stringify([r.listener, r.client_address, offered]);
    const g = groups.get(key);
    if (g) {
      g.seen++;
      if (r.at > g.lastSeen) g.lastSeen = r.at;
      continue;
    }
    groups.set(key, {
      account: r.account,
      listener: r.listener,
      clientAddress: r.client_address,
      offered,
      lastSeen: r.at,
      seen: 1,
      reason: d.refusal.message.split('; offered:')[0]!,
      fix: d.refusal.fix ?? null,
    });
  }
  return [...groups.values()].sort((a, b) => (a.lastSeen < b.lastSeen ? 1 : -1));
}
