// Schema history. Append only: a released migration never changes, because installs in the field already ran it.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'connections, handshakes, client hellos, errors',
    sql: `
      CREATE TABLE connections (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        protocol TEXT NOT NULL,
        listener TEXT NOT NULL,
        client_address TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT,
        bytes_from_client INTEGER NOT NULL DEFAULT 0,
        bytes_from_upstream INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX connections_account ON connections(account, started_at);

      CREATE TABLE handshakes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection_id TEXT,
        account TEXT NOT NULL,
        leg TEXT NOT NULL CHECK (leg IN ('client', 'upstream')),
        at TEXT NOT NULL,
        host TEXT,
        port INTEGER,
        protocol TEXT,
        cipher TEXT,
        peer_signing_digest TEXT,
        peer_signature_type TEXT,
        server_temp_key TEXT,
        policy TEXT,
        verdict TEXT NOT NULL,
        findings_json TEXT NOT NULL DEFAULT '[]',
        chain_json TEXT NOT NULL DEFAULT '[]'
      );
      CREATE INDEX handshakes_account ON handshakes(account, at);

      CREATE TABLE client_hellos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection_id TEXT,
        account TEXT NOT NULL,
        listener TEXT NOT NULL,
        client_address TEXT NOT NULL,
        at TEXT NOT NULL,
        versions_json TEXT NOT NULL,
        ciphers_json TEXT NOT NULL,
        sigalgs_json TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        sni TEXT,
        alpn_json TEXT NOT NULL DEFAULT '[]',
        accepted INTEGER NOT NULL,
        policy TEXT NOT NULL,
        refusal TEXT
      );
      CREATE INDEX client_hellos_at ON client_hellos(at);

      CREATE TABLE errors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection_id TEXT,
        account TEXT,
        at TEXT NOT NULL,
        code TEXT NOT NULL,
        side TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX errors_at ON errors(at);
    `,
  },
  {
    version: 2,
    name: 'quarantine and detections',
    sql: `
      CREATE TABLE quarantine (
        id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL,
        account TEXT NOT NULL,
        protocol TEXT NOT NULL,
        direction TEXT NOT NULL,
        verdict TEXT NOT NULL,
        verdict_json TEXT NOT NULL,
        subject TEXT,
        sender TEXT,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        connection_id TEXT
      );
      CREATE INDEX quarantine_received ON quarantine(received_at);
      CREATE INDEX quarantine_sha ON quarantine(sha256);

      CREATE TABLE detections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        account TEXT NOT NULL,
        protocol TEXT NOT NULL,
        direction TEXT NOT NULL,
        kind TEXT NOT NULL,
        engine TEXT,
        name TEXT,
        part TEXT,
        quarantine_id TEXT,
        connection_id TEXT
      );
    `,
  },
  {
    version: 3,
    name: 'dashboard: released messages, hourly scan counts',
    sql: `
      -- A release lets the next fetch or send of exactly these bytes pass the scan; who and when are kept for audit.
      CREATE TABLE releases (
        sha256 TEXT PRIMARY KEY,
        released_at TEXT NOT NULL,
        released_by TEXT NOT NULL,
        quarantine_id TEXT,
        account TEXT,
        reason TEXT
      );

      -- Clean scans leave no row elsewhere; the dashboard counts every verdict per hour, off the mail path.
      CREATE TABLE scan_hourly (
        hour TEXT NOT NULL,
        account TEXT NOT NULL,
        outcome TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (hour, account, outcome)
      );
    `,
  },
  {
    version: 4,
    name: 'policy rollout: would-refuse events under policy.candidate, exception uses',
    sql: `
      CREATE TABLE would_refuse (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        connection_id TEXT,
        account TEXT NOT NULL,
        leg TEXT NOT NULL CHECK (leg IN ('client', 'upstream')),
        peer TEXT NOT NULL,
        peer_label TEXT NOT NULL,
        policy TEXT NOT NULL,
        candidate TEXT NOT NULL,
        code TEXT NOT NULL,
        rule TEXT NOT NULL,
        explanation TEXT NOT NULL,
        admit TEXT
      );
      CREATE INDEX would_refuse_at ON would_refuse(at);

      CREATE TABLE exception_uses (
        exception TEXT PRIMARY KEY,
        uses INTEGER NOT NULL,
        first_used TEXT NOT NULL,
        last_used TEXT NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'intercepted connections: original destination and the name used',
    sql: `
      CREATE TABLE interceptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection_id TEXT NOT NULL,
        at TEXT NOT NULL,
        client_address TEXT NOT NULL,
        original_destination TEXT NOT NULL,
        protocol TEXT NOT NULL,
        tls_mode TEXT NOT NULL,
        sni TEXT,
        name TEXT,
        name_source TEXT,
        decision TEXT NOT NULL CHECK (decision IN ('intercept', 'passthrough', 'refuse')),
        reason TEXT
      );
      CREATE INDEX interceptions_at ON interceptions(at);
      CREATE INDEX interceptions_connection ON interceptions(connection_id);
    `,
  },
];
