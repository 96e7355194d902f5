// Intercept mode's lifetime: the listener the redirect points at, the nftables rules while it runs, and their
// removal at stop. Rules go in after the listener is bound (a redirect into nothing would break every mail client)
// and come out before it closes.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Config } from '../../core/config.js';
import { splitHostPort } from '../../core/hosts.js';
import { ShieldError } from '../../core/errors.js';
import type { Destination } from '../../core/intercept.js';
import type { Logger } from '../../core/logger.js';
import { handleRedirected, type InterceptDeps } from './handler.js';
import { installRules, removeRules, type Family, type NftRunner, runNft } from './nft.js';

export interface InterceptHandle {
  /** The bound IPv4 listener. */
  host: string;
  port: number;
  families: Family[];
  /** Removes the rules, stops accepting and ends untouched relays; resolves with the listeners' full close. */
  stop(): Promise<{ closed: Promise<unknown> }>;
}

export interface InterceptStart extends Omit<InterceptDeps, 'relay' | 'listen' | 'extraCa'> {
  resolvePath: (p: string) => string;
  /** The bound account listeners; those on intercepted ports stay reachable directly. */
  accountListeners: Destination[];
  nft?: NftRunner;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The IPv6 twin of the IPv4 listen address: the ip6 table's redirect goes to ::1 (or every address). */
function sixOf(host: string): string | null {
  if (host === '0.0.0.0') return '::';
  if (host.startsWith('127.')) return '::1';
  return null;
}

export async function startIntercept(config: Config, s: InterceptStart, log: Logger): Promise<InterceptHandle> {
  const ic = config.intercept;
  const nft = s.nft ?? runNft;
  const { host, port } = splitHostPort(ic.listen);
  const extraCa = ic.upstreamCa ? [readFileSync(s.resolvePath(ic.upstreamCa), 'utf8')] : [];
  const relays = new Set<Socket>();
  const relay = (a: Socket, b: Socket, idleMs: number) => {
    // Idle means neither direction moved: any byte either way refreshes both sockets' timers.
    let last = Date.now();
    const moved = () => (last = Date.now());
    for (const x of [a, b]) {
      relays.add(x);
      x.on('data', moved);
      x.setTimeout(idleMs, () => {
        if (Date.now() - last < idleMs) return;
        a.destroy();
        b.destroy();
      });
      x.once('close', () => {
        relays.delete(x);
        (x === a ? b : a).end();
      });
    }
    a.pipe(b);
    b.pipe(a);
    a.resume();
    b.resume();
  };
  const deps: InterceptDeps = { ...s, listen: ic.listen, extraCa, relay };
  const onConnection = (sock: Socket) =>
    void handleRedirected(sock, deps).catch((e: unknown) => {
      log.error({ err: e instanceof Error ? e.stack : String(e) }, 'intercepted connection crashed');
      sock.destroy();
    });
  const servers: Server[] = [];
  const v4 = createServer({ pauseOnConnect: true, noDelay: true }, onConnection);
  try {
    await listen(v4, port, host);
  } catch (e) {
    throw new ShieldError('MS_ERR_LISTEN_FAILED', `cannot listen on ${ic.listen} (intercept.listen): ${String(e)}`, {
      fix: 'choose another intercept.listen port',
      cause: e,
    });
  }
  servers.push(v4);
  const addr = v4.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const families: Family[] = ['ip'];
  const host6 = sixOf(host);
  if (host6) {
    const v6 = createServer({ pauseOnConnect: true, noDelay: true }, onConnection);
    try {
      await listen(v6, bound, host6);
      servers.push(v6);
      families.push('ip6');
    } catch (e) {
      log.warn(
        { err: String(e) },
        `intercept: no IPv6 listener on [${host6}]:${bound}; IPv6 mail connections stay direct`,
      );
    }
  }
  const closeServers = () => Promise.all(servers.map((x) => new Promise((r) => x.close(r))));
  const spec = (family: Family) => ({
    family,
    ports: ic.ports,
    redirectPort: bound,
    mark: ic.upstreamMark,
    ownListeners: s.accountListeners
      .filter((l) => (family === 'ip6') === l.ip.includes(':'))
      .map((l) => ({ host: l.ip, port: l.port })),
    gatewayInterface: ic.gateway?.interface,
  });
  try {
    for (const f of families) await installRules(spec(f), nft);
    // A table left by an earlier run with IPv6 must not outlive this one that has none.
    if (!families.includes('ip6')) await removeRules('ip6', nft).catch(() => undefined);
  } catch (e) {
    for (const f of families) await removeRules(f, nft).catch(() => undefined);
    await closeServers();
    throw e;
  }
  log.info(
    { listen: `${host}:${bound}`, ports: ic.ports, domains: ic.domains, families, mark: ic.upstreamMark },
    'intercept mode: rules installed',
  );
  let stopping: Promise<{ closed: Promise<unknown> }> | null = null;
  return {
    host,
    port: bound,
    families,
    stop: () =>
      (stopping ??= (async () => {
        for (const f of families) {
          try {
            await removeRules(f, nft);
          } catch (e) {
            log.error({ code: 'MS_ERR_INTERCEPT_RULES', err: (e as Error).message }, 'intercept rules not removed');
          }
        }
        log.info({}, 'intercept mode: rules removed');
        // Closing waits for intercepted sessions, which the server's shutdown drains with the account ones.
        const closed = closeServers();
        for (const x of relays) x.end();
        return { closed };
      })()),
  };
}
