// Starts every account's listener and owns process-wide pieces: the CA and leaf cache, the store, the scanner.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { LoadedConfig } from '../core/loaded-config.js';
import type { AccountConfig } from '../core/config.js';
import { splitHostPort } from '../core/hosts.js';
import { ShieldError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import type { Logger } from '../core/logger.js';
import { createSessionFor } from '../protocols/index.js';
import { createScanPipeline } from './scan-setup.js';
import type { Scanner } from '../core/scan-contract.js';
import { openDb, storePath, type Db } from '../store/db.js';
import { EventStore } from '../store/events.js';
import { caPermittedNames } from '../tls/ca-names.js';
import { loadOrCreateCa } from '../store/ca-files.js';
import type { LocalCa } from '../tls/ca.js';
import { LeafCache } from '../tls/leaf-cache.js';
import { InterceptionStore } from '../store/interceptions.js';
import { Connection } from './connection.js';
import { watchExceptionExpiry } from './exception-watch.js';
import { startIntercept, type InterceptHandle } from './intercept/listener.js';
import { LiveHub } from './live.js';
import { cleanSpoolDir } from './spool.js';
import type { UpstreamTarget } from './upstream.js';

export interface ListenerInfo {
  account: string;
  protocol: AccountConfig['protocol'];
  /** As configured. */
  listen: string;
  /** As bound (port 0 in config becomes a real port). */
  host: string;
  port: number;
}

export interface ShieldHandle {
  ca: LocalCa;
  listeners: ListenerInfo[];
  /** The intercept listener as bound, when intercept mode is on. */
  intercept: { host: string; port: number } | null;
  db: Db;
  /** Live sessions and scan results, for the dashboard. */
  live: LiveHub;
  /** Stops accepting, lets sessions finish up to shutdownTimeoutMs, then cuts the rest. */
  stop(): Promise<void>;
  connections(): number;
}

export interface StartOptions {
  log: Logger;
  now?: () => Date;
  /** Replaces the configured scan pipeline (benchmarks, tests). */
  scanner?: Scanner;
}

export async function startShield(loaded: LoadedConfig, opts: StartOptions): Promise<ShieldHandle> {
  const { config, dataDir } = loaded;
  const now = opts.now ?? (() => new Date());
  const log = opts.log;
  const ca = await loadOrCreateCa({ dataDir, permittedNames: caPermittedNames(config), now: now() });
  const leafs = await LeafCache.create(ca, { now });
  const db = openDb(storePath(dataDir));
  const events = new EventStore(db, now);
  const pipeline = opts.scanner
    ? null
    : createScanPipeline({ config, dataDir, db, log, now, resolvePath: loaded.resolvePath });
  const scanner: Scanner = opts.scanner ?? pipeline!;
  // After a crash: spool files belong to no session, and the quarantine may hold a file whose row was never written.
  cleanSpoolDir(join(dataDir, 'spool'));
  if (pipeline) {
    const r = pipeline.quarantine.recover();
    if (r.removedFiles > 0) log.warn({ removedFiles: r.removedFiles }, 'removed quarantine files left by a crash');
    if (r.rowsWithoutFile.length > 0)
      log.error({ ids: r.rowsWithoutFile }, 'quarantine entries whose original file is missing');
  }
  const limits: Limits = config.limits;
  const live = new Set<Connection>();
  const hub = new LiveHub();
  const servers: Server[] = [];
  const listeners: ListenerInfo[] = [];
  let intercept: InterceptHandle | null = null;
  const track = (conn: Connection) => {
    live.add(conn);
    conn.run().then(
      () => live.delete(conn),
      (e: unknown) => {
        live.delete(conn);
        log.error({ conn: conn.id, err: e instanceof Error ? e.stack : String(e) }, 'connection crashed');
      },
    );
  };

  const targetFor = (a: AccountConfig): (() => UpstreamTarget) => {
    const { host, port } = splitHostPort(a.upstream);
    // Trust anchors are read once at start; a changed file needs a restart, like every other setting.
    const extraCa = a.upstreamCa ? [readFileSync(loaded.resolvePath(a.upstreamCa), 'utf8')] : [];
    return () => ({
      account: a.name,
      host,
      port,
      servername: a.upstreamServername ?? host,
      extraCa,
      pin: a.upstreamPin,
      policy: config.policy.upstream,
      candidate: config.policy.candidate?.upstream,
      exceptions: config.policy.exceptions,
      now: now(),
      timeoutMs: limits.upstreamConnectTimeoutMs,
    });
  };

  try {
    for (const account of config.accounts) {
      const { host, port } = splitHostPort(account.listen);
      const upstreamTarget = targetFor(account);
      // noDelay: a reply is often a large write followed by a small one (POP3 body, then ".\r\n"); with Nagle the
      // small one waits for the client's delayed ACK, ~40 ms per message (bench W1: 4.5 s → 0.3 s for 100 RETRs).
      const server = createServer({ pauseOnConnect: true, noDelay: true }, (sock) => {
        const conn = new Connection(sock, {
          account,
          config,
          limits,
          leafs,
          scanner,
          events,
          log,
          spoolDir: join(dataDir, 'spool'),
          upstreamTarget,
          createSession: (o) => createSessionFor(account.protocol, o),
          listen: account.listen,
          live: hub,
        });
        track(conn);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => {
          const what = `${account.listen} (account ${account.name})`;
          reject(
            e.code === 'EADDRINUSE'
              ? new ShieldError('MS_ERR_LISTEN_IN_USE', `cannot listen on ${what}: the port is already in use`, {
                  fix: "stop the program using it (ss -ltnp shows which), or change this account's listen address",
                })
              : new ShieldError('MS_ERR_LISTEN_FAILED', `cannot listen on ${what}: ${e.message}`, { cause: e }),
          );
        });
        server.listen(port, host, () => resolve());
      });
      server.on('error', (e) => log.error({ err: e.message, account: account.name }, 'listener error'));
      servers.push(server);
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr : { address: host, port };
      listeners.push({
        account: account.name,
        protocol: account.protocol,
        listen: account.listen,
        host: bound.address,
        port: bound.port,
      });
      log.info(
        {
          account: account.name,
          protocol: account.protocol,
          listen: `${bound.address}:${bound.port}`,
          upstream: account.upstream,
        },
        'listening',
      );
    }
    if (config.intercept.enabled) {
      const own = listeners.map((l) => ({ ip: l.host, port: l.port }));
      intercept = await startIntercept(
        config,
        {
          config,
          limits,
          leafs,
          scanner,
          events,
          interceptions: new InterceptionStore(db, now),
          log,
          spoolDir: join(dataDir, 'spool'),
          now,
          resolvePath: loaded.resolvePath,
          accountListeners: own,
          ownAddresses: () => [...own, ...(intercept ? [{ ip: intercept.host, port: intercept.port }] : [])],
          createSession: createSessionFor,
          run: track,
        },
        log,
      );
    }
  } catch (e) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await pipeline?.close();
    db.close();
    throw e;
  }

  const stopExpiryWatch = watchExceptionExpiry(config.policy.exceptions, log, now);
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopExpiryWatch();
      log.info({ sessions: live.size, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: no new connections');
      // The redirect goes first: a rule pointing at a closed listener would cut every mail client off.
      const interceptClosed = intercept ? (await intercept.stop()).closed : null;
      const closed = Promise.all([...servers.map((s) => new Promise((r) => s.close(r))), interceptClosed]);
      const all = Promise.all([...live].map((c) => c.done));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), config.shutdownTimeoutMs)));
      if ((await Promise.race([all, timeout])) === 'timeout') {
        log.warn({ sessions: live.size }, 'shutdown timeout: closing remaining sessions');
        for (const c of live) c.shutdown();
        await Promise.race([all, new Promise((r) => setTimeout(r, 3000))]);
      }
      clearTimeout(timer);
      await closed;
      await pipeline?.close();
      db.close();
    })();
    return stopping;
  };

  return {
    ca,
    listeners,
    intercept: intercept && { host: intercept.host, port: intercept.port },
    db,
    live: hub,
    stop,
    connections: () => live.size,
  };
}
