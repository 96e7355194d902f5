// Writes connection-level events to the store: connections, handshakes on both legs, client hellos and errors.
// Doctor and the dashboard read these tables.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { ShieldError } from '../core/errors.js';
import type { ClientHelloInfo, UpstreamHandshakeFacts, WouldRefuse } from '../core/tls-facts.js';
import { PolicyEvents } from './policy-events.js';

export interface ConnectionRow {
  id: string;
  account: string;
  protocol: string;
  listener: string;
  clientAddress: string;
}

export class EventStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.policy = new PolicyEvents(db);
  }

  /** Would-refuse events and exception uses (issue 16), written alongside the handshake rows. */
  private readonly policy: PolicyEvents;

  /** Statements are compiled once per store: these run on every connection. */
  private readonly stmts = new Map<string, Statement<unknown[]>>();

  private stmt(sql: string): Statement<unknown[]> {
    let st = this.stmts.get(sql);
    if (!st) this.stmts.set(sql, (st = this.db.prepare<unknown[]>(sql)));
    return st;
  }

  private at(): string {
    return this.now().toISOString();
  }

  connectionOpened(c: ConnectionRow): void {
    this.stmt(
      'INSERT INTO connections (id, account, protocol, listener, client_address, started_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(c.id, c.account, c.protocol, c.listener, c.clientAddress, this.at());
  }

  connectionClosed(id: string, outcome: string, bytesFromClient: number, bytesFromUpstream: number): void {
    this.stmt(
      'UPDATE connections SET ended_at = ?, outcome = ?, bytes_from_client = ?, bytes_from_upstream = ? WHERE id = ?',
    ).run(this.at(), outcome, bytesFromClient, bytesFromUpstream, id);
  }

  clientHello(
    c: { connectionId: string; account: string; listener: string; clientAddress: string; policy: string },
    hello: ClientHelloInfo,
    accepted: boolean,
    refusal: string | null,
    wouldRefuse?: WouldRefuse | null,
  ): void {
    this.stmt(
      `INSERT INTO client_hellos (connection_id, account, listener, client_address, at, versions_json, ciphers_json,
           sigalgs_json, groups_json, sni, alpn_json, accepted, policy, refusal)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      c.connectionId,
      c.account,
      c.listener,
      c.clientAddress,
      this.at(),
      JSON.stringify(hello.versions),
      JSON.stringify(hello.cipherSuiteNames),
      JSON.stringify(hello.signatureAlgorithms),
      JSON.stringify(hello.groups),
      hello.sni,
      JSON.stringify(hello.alpn),
      accepted ? 1 : 0,
      c.policy,
      refusal,
    );
    if (wouldRefuse) this.policy.wouldRefuse(this.at(), c.connectionId, c.account, wouldRefuse);
  }

  upstreamHandshake(connectionId: string | null, account: string, f: UpstreamHandshakeFacts): void {
    this.stmt(
      `INSERT INTO handshakes (connection_id, account, leg, at, host, port, protocol, cipher, peer_signing_digest,
           peer_signature_type, server_temp_key, policy, verdict, findings_json, chain_json)
         VALUES (?, ?, 'upstream', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      connectionId,
      account,
      this.at(),
      f.host,
      f.port,
      f.protocol,
      f.cipher,
      f.peerSigningDigest,
      f.peerSignatureType,
      f.serverTempKey,
      f.policy,
      f.verdict,
      JSON.stringify(f.findings),
      JSON.stringify(f.chain),
    );
    if (f.wouldRefuse) this.policy.wouldRefuse(this.at(), connectionId, account, f.wouldRefuse);
    // Only a handshake that went ahead used its exceptions; a refused one is in `errors` already.
    if (f.verdict !== 'refused') for (const ex of f.exceptionsApplied) this.policy.exceptionUsed(this.at(), ex);
  }

  error(connectionId: string | null, account: string | null, e: ShieldError): void {
    this.stmt('INSERT INTO errors (connection_id, account, at, code, side, message) VALUES (?, ?, ?, ?, ?, ?)').run(
      connectionId,
      account,
      this.at(),
      e.code,
      e.side,
      e.message,
    );
  }
}
