// The dashboard's JSON API: one route per page, all reading the one store through queries.ts. The changes (release,
// delete, try a policy) are POSTs that have already passed the CSRF check in server.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { CLIENT_POLICIES, UPSTREAM_POLICIES, type ClientPolicyName, type UpstreamPolicyName } from '../core/config.js';
import { isShieldError } from '../core/errors.js';
import { CLIENT_WINDOW_DAYS, runDoctor } from '../probe/doctor.js';
import type { ClientHelloRow } from '../probe/client-leg.js';
import { loadPolicyReport, parseSince } from '../probe/policy-report.js';
import { InterceptionStore } from '../store/interceptions.js';
import { Quarantine } from '../store/quarantine.js';
import { Releases } from '../store/releases.js';
import { parseConnectionFilter, parseQuarantineFilter } from './filters.js';
import { policyView } from './policy-view.js';
import { explainConnection, listConnections, listQuarantine, quarantineDetail } from './queries.js';
import type { DashboardContext } from './server.js';
import { readStats } from './stats.js';

type Q = FastifyRequest<{ Querystring: Record<string, unknown>; Params: { id: string }; Body: unknown }>;

/** How long "try a policy" may probe each upstream. */
const TRY_TIMEOUT_MS = 8000;
/** The Connections page lists this many of the latest intercept-mode decisions. */
const INTERCEPTIONS_SHOWN = 100;

export function registerApi(app: FastifyInstance, ctx: DashboardContext): void {
  const { shield, loaded } = ctx.opts;
  const db = shield.db;
  const quarantine = new Quarantine(loaded.dataDir, db, ctx.now);
  const releases = new Releases(db, ctx.now);
  const interceptions = new InterceptionStore(db, ctx.now);
  const releasedOf = (sha: string) => {
    const r = releases.get(sha);
    return r ? { by: r.releasedBy, at: r.releasedAt } : null;
  };

  app.setErrorHandler((e, _req, reply) => {
    if (isShieldError(e) && e.code === 'MS_ERR_QUARANTINE_NOT_FOUND')
      return reply.code(404).send({ error: e.message, code: e.code });
    ctx.opts.log.error({ err: e instanceof Error ? e.message : String(e) }, 'dashboard request failed');
    return reply.code(500).send({ error: 'internal error (see the mailshield log)' });
  });

  app.get('/api/overview', async () => ({
    accounts: loaded.config.accounts.map((a) => ({
      name: a.name,
      protocol: a.protocol,
      listen: a.listen,
      upstream: a.upstream,
    })),
    listeners: shield.listeners,
  }));
  app.get('/api/now', async () => ({ sessions: shield.live.sessions() }));
  app.get('/api/connections', async (req: Q) => ({ rows: listConnections(db, parseConnectionFilter(req.query)) }));
  app.get('/api/interceptions', async () => ({ rows: interceptions.recent(INTERCEPTIONS_SHOWN) }));
  app.get('/api/connections/:id/explain', async (req: Q) => explainConnection(db, req.params.id));

  app.get('/api/quarantine', async (req: Q) => ({
    rows: listQuarantine(quarantine, releasedOf, parseQuarantineFilter(req.query)),
  }));
  app.get('/api/quarantine/:id', async (req: Q) => quarantineDetail(quarantine, releasedOf, req.params.id));
  app.get('/api/quarantine/:id/original', async (req: Q, reply) => {
    const e = quarantine.getOrThrow(req.params.id);
    ctx.opts.log.info({ id: e.id, by: req.dashboardSession?.who }, 'dashboard: original exported');
    // An attachment download, never rendered: the bytes are the dangerous original.
    return reply
      .type('application/octet-stream')
      .header('content-disposition', `attachment; filename="mailshield-quarantine-${e.id}.eml"`)
      .header('cache-control', 'no-store')
      .send(quarantine.read(e.id));
  });
  app.post('/api/quarantine/:id/release', async (req: Q) => {
    const e = quarantine.getOrThrow(req.params.id);
    const body = (req.body ?? {}) as { reason?: unknown };
    const entry = releases.add({
      sha256: e.sha256,
      by: req.dashboardSession?.who ?? 'dashboard',
      quarantineId: e.id,
      account: e.account,
      reason: typeof body.reason === 'string' ? body.reason.slice(0, 500) : undefined,
    });
    ctx.opts.log.warn({ id: e.id, sha256: e.sha256, by: entry.releasedBy }, 'dashboard: quarantined message released');
    return { released: entry };
  });
  app.post('/api/quarantine/:id/delete', async (req: Q) => {
    quarantine.delete(req.params.id);
    ctx.opts.log.warn({ id: req.params.id, by: req.dashboardSession?.who }, 'dashboard: quarantine entry deleted');
    return { deleted: req.params.id };
  });

  app.get('/api/policy', async () => policyView(loaded.config, ctx.now()));
  // The same report as `mailshield policy report --since`, with the same window syntax (7d, 12h, 2w, YYYY-MM-DD).
  app.get('/api/policy/report', async (req: Q, reply) => {
    const now = ctx.now();
    let since: Date;
    try {
      since = parseSince(typeof req.query.since === 'string' ? req.query.since : '7d', now);
    } catch (e) {
      return reply.code(400).send({ error: (e as Error).message.replace('--since', 'since') });
    }
    return loadPolicyReport(db, loaded.config, since, now);
  });
  app.post('/api/policy/try', async (req: Q, reply) => {
    const b = (req.body ?? {}) as { upstream?: unknown; client?: unknown };
    const upstream = UPSTREAM_POLICIES.find((p) => p === b.upstream);
    const client = CLIENT_POLICIES.find((p) => p === b.client);
    if ((b.upstream !== undefined && !upstream) || (b.client !== undefined && !client))
      return reply
        .code(400)
        .send({ error: `policies: upstream ${UPSTREAM_POLICIES.join('|')}, client ${CLIENT_POLICIES.join('|')}` });
    const now = ctx.now();
    const extraCa: Record<string, string[]> = {};
    for (const a of loaded.config.accounts) {
      const f = a.upstreamCa ? loaded.resolvePath(a.upstreamCa) : null;
      if (f && existsSync(f)) extraCa[a.name] = [readFileSync(f, 'utf8')];
    }
    const since = new Date(now.getTime() - CLIENT_WINDOW_DAYS * 86_400_000).toISOString();
    const helloRows = db
      .prepare(
        `SELECT account, listener, client_address, at, versions_json, ciphers_json, sigalgs_json, groups_json, sni,
                alpn_json FROM client_hellos WHERE at >= ? ORDER BY at DESC`,
      )
      .all(since) as ClientHelloRow[];
    return runDoctor({
      config: loaded.config,
      dataDir: loaded.dataDir,
      extraCa,
      policy: (upstream as UpstreamPolicyName | undefined) ?? null,
      clientPolicy: (client as ClientPolicyName | undefined) ?? null,
      helloRows,
      traffic: loadPolicyReport(db, loaded.config, new Date(since), now),
      now,
      timeoutMs: TRY_TIMEOUT_MS,
    });
  });

  app.get('/api/stats', async () => readStats(db, ctx.counter, ctx.now()));
}
