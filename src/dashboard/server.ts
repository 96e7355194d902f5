// The dashboard's HTTP server (an edge: it binds a socket and reads files). fastify with @fastify/helmet for the
// headers and @fastify/static for the page and the vendored Preact/htm/uPlot files, all from the package: nothing
// loads from the internet. Every request first passes the Host check (DNS rebinding) and, when it changes
// something, the same-origin JSON check (CSRF); every /api and /metrics request needs a session or the token.
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../core/loaded-config.js';
import { isLoopbackHost, splitHostPort } from '../core/hosts.js';
import { ShieldError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ShieldHandle } from '../io/server.js';
import {
  cookieValue,
  LoginLimiter,
  secretEquals,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionCookie,
  Sessions,
  verifyPassword,
  type DashboardSession,
} from './auth.js';
import { createMetrics } from './metrics.js';
import { csrfCheck, hostAllowed } from './request-checks.js';
import { registerApi } from './server-api.js';
import { loadOrCreateToken, writeBoundAddress, dashboardUrl } from './server-files.js';
import { registerLive } from './server-live.js';
import { ScanCounter, FLUSH_MS } from './stats.js';

export interface DashboardOptions {
  shield: ShieldHandle;
  loaded: LoadedConfig;
  log: Logger;
  now?: () => Date;
  /** Overrides dashboard.listen (the demo falls back to port 0 when 8025 is taken). */
  listen?: string;
}

export interface DashboardHandle {
  host: string;
  port: number;
  token: string;
  /** The URL that logs in (token in the fragment). */
  url: string;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    dashboardSession?: DashboardSession;
  }
}

const here = dirname(fileURLToPath(import.meta.url));
// Compiled browser modules sit next to this file in dist; the page and stylesheet are in the package's source tree.
const WEB_JS = join(here, 'web');
const WEB_STATIC = join(here, '..', '..', '..', 'src', 'dashboard', 'web');
const require = createRequire(import.meta.url);
// Resolved from each package's main file: neither package exports these paths by name.
const htmDir = join(dirname(require.resolve('htm')), '..');
const uplotDir = dirname(require.resolve('uplot'));
const VENDOR = {
  'preact.js': join(htmDir, 'preact', 'standalone.mjs'),
  'uplot.js': join(uplotDir, 'uPlot.esm.js'),
  'uplot.css': join(uplotDir, 'uPlot.min.css'),
};

export const CSP = {
  'default-src': ["'self'"],
  'object-src': ["'none'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
};

export interface DashboardContext {
  opts: DashboardOptions;
  now: () => Date;
  counter: ScanCounter;
  token: string;
}

function unauthorized(reply: FastifyReply): FastifyReply {
  return reply.code(401).send({ error: 'log in with the URL that `mailshield dashboard url` prints' });
}

export async function startDashboard(opts: DashboardOptions): Promise<DashboardHandle> {
  const { loaded, shield, log } = opts;
  const cfg = loaded.config.dashboard;
  const now = opts.now ?? (() => new Date());
  const listen = opts.listen ?? cfg.listen;
  const { host, port: wantPort } = splitHostPort(listen);
  if (!isLoopbackHost(host) && !cfg.passwordHash)
    throw new ShieldError('MS_ERR_CONFIG_INVALID', `dashboard.listen ${listen} is not loopback and has no password`, {
      fix: 'set dashboard.passwordHash (mailshield dashboard hash-password) or use an SSH tunnel',
    });
  const token = loadOrCreateToken(loaded.dataDir);
  const sessions = new Sessions(() => now().getTime());
  const limiter = new LoginLimiter(() => now().getTime());
  const counter = new ScanCounter(shield.db, shield.live);
  const metrics = createMetrics(shield.live, shield.db);
  const flushTimer = setInterval(() => {
    try {
      counter.flush();
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'dashboard: could not write scan counts');
    }
  }, FLUSH_MS);
  flushTimer.unref();

  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 64 * 1024, trustProxy: false });
  let boundPort = wantPort;
  const hostPolicy = () => ({ names: [...cfg.hosts, host], port: boundPort });

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP },
    // Plain HTTP on loopback: HSTS would pin a name to https that nothing serves.
    strictTransportSecurity: false,
    crossOriginEmbedderPolicy: false,
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, hostPolicy())) {
      log.warn({ host: req.headers.host, url: req.url }, 'dashboard: request for a foreign Host refused');
      return reply.code(403).send({ error: 'this Host is not one the dashboard answers to (dashboard.hosts)' });
    }
    const csrf = csrfCheck({
      method: req.method,
      host: req.headers.host,
      origin: req.headers.origin,
      contentType: req.headers['content-type'],
      secFetchSite: req.headers['sec-fetch-site'] as string | undefined,
    });
    if (!csrf.ok) {
      log.warn({ reason: csrf.reason, url: req.url }, 'dashboard: change request refused');
      return reply.code(403).send({ error: csrf.reason });
    }
    const s = sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (s) req.dashboardSession = s;
    const path = req.url.split('?')[0]!;
    const open = path === '/api/login' || path === '/api/session' || path === '/healthz';
    if (!open && (path.startsWith('/api/') || path === '/metrics')) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      // Scrapers send the token as a bearer; it counts as a login attempt, so it is rate-limited as well.
      if (!s && bearer !== undefined) {
        const gate = limiter.attempt(req.ip);
        if (!gate.ok)
          return reply.code(429).header('retry-after', gate.retryAfterS).send({ error: 'too many attempts' });
        if (!secretEquals(bearer, token)) return unauthorized(reply);
        req.dashboardSession = { id: '', who: `token@${req.ip}`, expires: Infinity };
      } else if (!s) return unauthorized(reply);
    }
  });

  await app.register(fastifyStatic, { root: [WEB_STATIC, WEB_JS], prefix: '/app/', index: false, wildcard: true });
  for (const [name, file] of Object.entries(VENDOR))
    app.get(`/app/${name}`, (_req, reply) => reply.sendFile(file.split('/').pop()!, dirname(file)));
  app.get('/', (_req, reply) => reply.sendFile('index.html', WEB_STATIC));
  app.get('/favicon.ico', (_req, reply) => reply.code(204).send());
  app.get('/healthz', async () => ({ ok: true, sessions: shield.connections() }));
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/api/login', async (req: FastifyRequest<{ Body: { token?: unknown; password?: unknown } }>, reply) => {
    const gate = limiter.attempt(req.ip);
    if (!gate.ok) {
      log.warn({ client: req.ip }, 'dashboard: login rate limit hit');
      return reply
        .code(429)
        .header('retry-after', gate.retryAfterS)
        .send({ error: 'too many attempts, wait a minute' });
    }
    const body = req.body ?? {};
    const tokenOk = typeof body.token === 'string' && secretEquals(body.token, token);
    const passOk =
      !cfg.passwordHash || (typeof body.password === 'string' && verifyPassword(body.password, cfg.passwordHash));
    if (!tokenOk || !passOk) {
      log.warn({ client: req.ip }, 'dashboard: failed login');
      return reply.code(401).send({ error: cfg.passwordHash ? 'wrong token or password' : 'wrong token' });
    }
    const s = sessions.create(`${cfg.passwordHash ? 'password' : 'token'}@${req.ip}`);
    log.info({ client: req.ip }, 'dashboard: login');
    return reply
      .header('set-cookie', sessionCookie(s.id, SESSION_TTL_MS / 1000))
      .code(204)
      .send();
  });
  app.get('/api/session', async (req) => ({
    authenticated: req.dashboardSession !== undefined,
    passwordRequired: cfg.passwordHash !== undefined,
  }));
  app.post('/api/logout', async (req, reply) => {
    if (req.dashboardSession) sessions.delete(req.dashboardSession.id);
    return reply
      .header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`)
      .code(204)
      .send();
  });

  const ctx: DashboardContext = { opts, now, counter, token };
  registerApi(app, ctx);
  const live = registerLive(app, shield.live);

  try {
    await app.listen({ host, port: wantPort });
  } catch (e) {
    clearInterval(flushTimer);
    counter.close();
    metrics.close();
    live.close();
    const err = e as NodeJS.ErrnoException;
    throw err.code === 'EADDRINUSE'
      ? new ShieldError('MS_ERR_LISTEN_IN_USE', `cannot serve the dashboard on ${listen}: the port is already in use`, {
          fix: 'stop the program using it, or change dashboard.listen (or set dashboard.enabled: false)',
        })
      : new ShieldError('MS_ERR_LISTEN_FAILED', `cannot serve the dashboard on ${listen}: ${err.message}`, {
          cause: e,
        });
  }
  const addr = app.server.address();
  boundPort = typeof addr === 'object' && addr ? addr.port : wantPort;
  const hostPort = host.includes(':') ? `[${host}]:${boundPort}` : `${host}:${boundPort}`;
  writeBoundAddress(loaded.dataDir, host.includes(':') ? `[${host}]` : host, boundPort);
  const url = dashboardUrl(hostPort, token);
  log.info({ listen: hostPort }, 'dashboard listening');
  let closing: Promise<void> | null = null;
  return {
    host,
    port: boundPort,
    token,
    url,
    close: () =>
      (closing ??= (async () => {
        clearInterval(flushTimer);
        live.close();
        metrics.close();
        await app.close();
        try {
          counter.close();
        } catch {
          // The store may already be closed at shutdown; the counts of the last seconds are lost, nothing else.
        }
      })()),
  };
}
