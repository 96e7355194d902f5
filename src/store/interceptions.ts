// What intercept mode decided for each redirected connection: where the client was going, which name was verified
// and whether the connection was intercepted, relayed untouched or refused (migration 5). An intercepted connection
// also has its ordinary rows (connections, handshakes, client hellos) under the same connection id.
import type { Db } from './db.js';

export interface InterceptionRow {
  connectionId: string;
  clientAddress: string;
  /** host:port the client dialled, before the redirect. */
  originalDestination: string;
  protocol: string;
  tlsMode: string;
  sni: string | null;
  /** The name the upstream was (or would have been) verified as. */
  name: string | null;
  nameSource: 'sni' | 'hosts' | null;
  decision: 'intercept' | 'passthrough' | 'refuse';
  reason: string | null;
}

export class InterceptionStore {
  private readonly insert;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.insert = db.prepare(
      `INSERT INTO interceptions (connection_id, at, client_address, original_destination, protocol, tls_mode, sni,
         name, name_source, decision, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  record(r: InterceptionRow): void {
    this.insert.run(
      r.connectionId,
      this.now().toISOString(),
      r.clientAddress,
      r.originalDestination,
      r.protocol,
      r.tlsMode,
      r.sni,
      r.name,
      r.nameSource,
      r.decision,
      r.reason,
    );
  }

  recent(limit = 20): Array<InterceptionRow & { at: string }> {
    const rows = this.db
      .prepare(
        `SELECT connection_id, at, client_address, original_destination, protocol, tls_mode, sni, name, name_source,
           decision, reason FROM interceptions ORDER BY id DESC LIMIT ?`,
      )
      .all(limit) as Array<Record<string, string | null>>;
    return rows.map((x) => ({
      connectionId: x.connection_id!,
      at: x.at!,
      clientAddress: x.client_address!,
      originalDestination: x.original_destination!,
      protocol: x.protocol!,
      tlsMode: x.tls_mode!,
      sni: x.sni ?? null,
      name: x.name ?? null,
      nameSource: (x.name_source as InterceptionRow['nameSource']) ?? null,
      decision: x.decision as InterceptionRow['decision'],
      reason: x.reason ?? null,
    }));
  }
}
