// /metrics in the Prometheus text format. One registry per dashboard (a test process may run several shields), fed
// by the live event source and read from the store when scraped; nothing here runs on the mail path.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { LiveEvent, LiveHub } from '../io/live.js';
import type { Db } from '../store/db.js';

export interface Metrics {
  registry: Registry;
  close(): void;
}

export function createMetrics(hub: LiveHub, db: Db): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mailshield_' });
  const scans = new Counter({
    name: 'mailshield_scans_total',
    help: 'Messages scanned since start, by verdict and action',
    labelNames: ['account', 'verdict', 'action'] as const,
    registers: [registry],
  });
  const sessionsOpened = new Counter({
    name: 'mailshield_sessions_opened_total',
    help: 'Client connections accepted since start',
    labelNames: ['account'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'mailshield_sessions',
    help: 'Client connections open now',
    registers: [registry],
    collect() {
      this.set(hub.sessions().length);
    },
  });
  new Gauge({
    name: 'mailshield_quarantine_entries',
    help: 'Entries in the quarantine',
    registers: [registry],
    collect() {
      this.set((db.prepare('SELECT count(*) AS n FROM quarantine').get() as { n: number }).n);
    },
  });
  const handshakes = new Gauge({
    name: 'mailshield_upstream_handshakes',
    help: 'Recorded upstream handshakes, by TLS version and handshake signature digest',
    labelNames: ['version', 'digest'] as const,
    registers: [registry],
    collect() {
      handshakes.reset();
      const rows = db
        .prepare(
          `SELECT coalesce(protocol, 'unknown') AS v, coalesce(peer_signing_digest, 'unknown') AS d, count(*) AS n
           FROM handshakes GROUP BY 1, 2`,
        )
        .all() as { v: string; d: string; n: number }[];
      for (const r of rows) handshakes.set({ version: r.v, digest: r.d }, r.n);
    },
  });
  const seen = new Set<string>();
  const onEvent = (e: LiveEvent) => {
    if (e.type === 'scan') scans.inc({ account: e.account, verdict: e.verdict, action: e.action });
    else if (e.session.state !== 'closed' && !seen.has(e.session.id)) {
      seen.add(e.session.id);
      sessionsOpened.inc({ account: e.session.account });
    } else if (e.session.state === 'closed') seen.delete(e.session.id);
  };
  hub.on('event', onEvent);
  return { registry, close: () => hub.off('event', onEvent) };
}
