// One redirected connection: find where it was going, learn the server name (the ClientHello's SNI, after relaying
// the plaintext STARTTLS dialogue on STARTTLS ports), decide (src/core/intercept.ts), then either hand it to an
// ordinary Connection with an account made for this destination, relay it untouched, or refuse it with an
// explanation in the client's protocol. Refusals also go through Connection: its session already knows how to tell
// a client, in POP3, IMAP or SMTP words, that the upstream cannot be used.
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import type { AccountConfig, Config } from '../../core/config.js';
import { ShieldError, asShieldError } from '../../core/errors.js';
import {
  checkDestination,
  chooseName,
  formatDestination,
  profileForPort,
  type Destination,
  type NameChoice,
  type PortProfile,
} from '../../core/intercept.js';
import { StartTlsWatch, afterRelayedGreeting } from '../../core/intercept-starttls.js';
import type { Limits } from '../../core/limits.js';
import type { Logger } from '../../core/logger.js';
import type { Session, SessionOptions } from '../../core/session.js';
import type { Scanner } from '../../core/scan-contract.js';
import type { EventStore } from '../../store/events.js';
import type { InterceptionRow, InterceptionStore } from '../../store/interceptions.js';
import { ClientHelloReader } from '../../tls/client-hello.js';
import type { LeafSource } from '../../core/tls-facts.js';
import { Connection, newConnectionId } from '../connection.js';
import type { UpstreamTarget } from '../upstream.js';
import { connectMarked, originalDestination } from './original-dst.js';

export interface InterceptDeps {
  config: Config;
  limits: Limits;
  leafs: LeafSource;
  scanner: Scanner;
  events: EventStore | null;
  interceptions: InterceptionStore | null;
  log: Logger;
  spoolDir: string;
  now: () => Date;
  /** PEM texts from intercept.upstreamCa. */
  extraCa: string[];
  /** The intercept listener as configured (client policy `auto` judges it like an account listener). */
  listen: string;
  /** Bound addresses of the shield's own listeners: a connection headed for one of them is not for interception. */
  ownAddresses: () => Destination[];
  createSession: (protocol: AccountConfig['protocol'], o: SessionOptions) => Session;
  /** Runs a Connection under the server's bookkeeping (shutdown waits for it). */
  run: (conn: Connection) => void;
  /** Relays raw bytes both ways until either side closes or both are idle for `idleMs`; shutdown ends it. */
  relay: (a: Socket, b: Socket, idleMs: number) => void;
}

interface Hello {
  /** Everything read from the client, to be put back. */
  bytes: Buffer;
  sni: string | null;
}

/** Reads until the ClientHello is complete (or is not one), then puts the bytes back. Null on timeout or close. */
function readHello(sock: Socket, pending: Buffer, timeoutMs: number): Promise<Hello | null> {
  return new Promise((resolve) => {
    const reader = new ClientHelloReader();
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (sni: string | null, ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.pause();
      const bytes = Buffer.concat(chunks);
      if (bytes.length > 0) sock.unshift(bytes);
      resolve(ok ? { bytes, sni } : null);
    };
    const onData = (d: Buffer) => {
      chunks.push(d);
      const r = reader.push(d);
      if (r.status === 'need-more') return;
      finish(r.status === 'ok' ? r.info.sni : null, true);
    };
    const onClose = () => finish(null, false);
    const timer = setTimeout(() => finish(null, chunks.length > 0), timeoutMs);
    sock.on('data', onData);
    sock.once('close', onClose);
    if (pending.length > 0) onData(pending);
    if (!done) sock.resume();
  });
}

export async function handleRedirected(client: Socket, deps: InterceptDeps): Promise<void> {
  const log = deps.log.child({ intercept: true });
  client.on('error', (e) => log.debug({ err: e.message }, 'intercepted client socket error'));
  const clientAddress = `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`;
  let dst: Destination;
  try {
    dst = await originalDestination(client);
  } catch (e) {
    log.warn({ code: 'MS_ERR_INTERCEPT_ORIGINAL_DST', client: clientAddress }, (e as Error).message);
    client.destroy();
    return;
  }
  const profile = profileForPort(dst.port);
  const own = deps.ownAddresses().some((a) => a.port === dst.port && a.ip === dst.ip.replace(/^::ffff:/, ''));
  if (!profile || own) {
    const err = new ShieldError(
      'MS_ERR_INTERCEPT_NOT_REDIRECTED',
      `a connection from ${clientAddress} reached the intercept listener headed for ${formatDestination(dst)}, ${own ? 'which is mailshield itself' : 'which is not an intercepted mail port'}`,
      { fix: 'point mail clients at their real servers (or at an account listener), not at intercept.listen' },
    );
    log.warn({ code: err.code, client: clientAddress }, err.message);
    client.destroy();
    return;
  }
  const base = { clientAddress, originalDestination: formatDestination(dst), protocol: profile.protocol };
  const ctx: Ctx = { deps, log, client, dst, profile, base };
  if (profile.tls === 'implicit') {
    const hello = await readHello(client, Buffer.alloc(0), deps.limits.clientHandshakeTimeoutMs);
    if (!hello) {
      log.info({ client: clientAddress, dst: base.originalDestination }, 'intercepted client sent no ClientHello');
      client.destroy();
      return;
    }
    return decide(ctx, hello, null);
  }
  return starttlsPhase(ctx);
}

interface Ctx {
  deps: InterceptDeps;
  log: Logger;
  client: Socket;
  dst: Destination;
  profile: PortProfile;
  base: { clientAddress: string; originalDestination: string; protocol: string };
}

/** STARTTLS ports: relay the plaintext dialogue with the real server until the client's ClientHello. */
async function starttlsPhase(ctx: Ctx): Promise<void> {
  const { deps, client, dst, profile } = ctx;
  let upstream: Socket;
  try {
    upstream = await connectMarked(dst, deps.config.intercept.upstreamMark, deps.limits.upstreamConnectTimeoutMs);
  } catch (e) {
    // Nothing was said to the client yet: a plaintext Connection greets it with the explanation.
    return refuse(ctx, asShieldError(e, 'MS_ERR_UPSTREAM_CONNECT'), { sni: null, name: null }, 'none');
  }
  upstream.on('error', (e) => ctx.log.debug({ err: e.message }, 'intercepted upstream socket error'));
  const watch = new StartTlsWatch(profile.protocol, deps.limits.maxLineBytes);
  const outcome = await new Promise<{ pending: Buffer } | null>((resolve) => {
    let settled = false;
    // The plaintext phase is bounded like any session: a client that goes quiet before STARTTLS is let go.
    const idle = setTimeout(() => {
      ctx.log.info({ dst: ctx.base.originalDestination, idleMs: deps.limits.idleTimeoutMs }, 'idle before STARTTLS');
      onClose();
    }, deps.limits.idleTimeoutMs);
    const end = (r: { pending: Buffer } | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      client.off('data', onClient);
      upstream.off('data', onUpstream);
      client.off('close', onClose);
      upstream.off('close', onClose);
      client.pause();
      upstream.pause();
      resolve(r);
    };
    const act = (outs: ReturnType<StartTlsWatch['client']>) => {
      for (const o of outs) {
        if (o.type === 'to-upstream') upstream.write(o.data);
        else if (o.type === 'to-client') client.write(o.data);
        else if (o.type === 'refuse') {
          ctx.log.warn({ code: o.error.code, dst: ctx.base.originalDestination }, o.error.message);
          record(ctx, newConnectionId(), { decision: 'refuse', reason: o.error.message, sni: null, name: null });
          upstream.destroy();
          client.end(o.reply);
          end(null);
        } else {
          if (o.discarded > 0)
            ctx.log.warn(
              { code: 'MS_ERR_UPSTREAM_STARTTLS_INJECTION', bytes: o.discarded },
              'discarded bytes the server sent after its STARTTLS go-ahead',
            );
          end({ pending: o.pending });
        }
      }
    };
    const onClient = (d: Buffer) => {
      idle.refresh();
      act(watch.client(d));
    };
    const onUpstream = (d: Buffer) => {
      idle.refresh();
      act(watch.upstream(d));
    };
    const onClose = () => {
      client.end();
      upstream.end();
      end(null);
    };
    client.on('data', onClient);
    upstream.on('data', onUpstream);
    client.once('close', onClose);
    upstream.once('close', onClose);
    client.resume();
  });
  if (!outcome) return;
  const hello = await readHello(client, outcome.pending, deps.limits.clientHandshakeTimeoutMs);
  if (!hello) {
    client.destroy();
    upstream.destroy();
    return;
  }
  return decide(ctx, hello, upstream);
}

/** Which name, then whether its address checks out, then act. `upstream` is the connected plain socket for STARTTLS. */
async function decide(ctx: Ctx, hello: Hello, upstream: Socket | null): Promise<void> {
  const ic = ctx.deps.config.intercept;
  let choice: NameChoice = chooseName(ctx.dst, hello.sni, ic);
  // Recorded even when the address check below refuses it: the name is what the user needs to see.
  const names = {
    sni: hello.sni,
    name: choice.kind === 'refuse' ? null : choice.name,
    nameSource: choice.kind === 'intercept' ? choice.source : null,
  };
  if (choice.kind === 'intercept' && choice.needsDnsCheck) {
    const name = choice.name;
    const answer = await lookup(name, { all: true }).then(
      (r) => ({ ips: r.map((x) => x.address), err: undefined }),
      (e: NodeJS.ErrnoException) => ({ ips: null, err: e.code ?? e.message }),
    );
    const err = checkDestination(ctx.dst, name, answer.ips, answer.err);
    if (err) choice = { kind: 'refuse', error: err };
  }
  if (choice.kind === 'passthrough') return passthrough(ctx, hello, upstream, choice);
  upstream?.removeAllListeners('close');
  if (choice.kind === 'refuse') {
    upstream?.destroy();
    return refuse(ctx, choice.error, names, 'implicit');
  }
  const { name, source } = choice;
  const conn = connectionFor(ctx, {
    name,
    clientTls: 'implicit',
    upstream: upstream
      ? () => Promise.resolve(upstream)
      : (t) => connectMarked({ ip: t.host, port: t.port }, ic.upstreamMark, t.timeoutMs),
    // A client without SNI verifies the name it was configured with, which only intercept.hosts knows.
    extraLeafName: source === 'hosts' ? name : null,
    relayedGreeting: upstream !== null,
  });
  ctx.log.info({ conn: conn.id, dst: ctx.base.originalDestination, name, source }, 'intercepting');
  record(ctx, conn.id, { decision: 'intercept', reason: null, ...names });
  ctx.deps.run(conn);
}

async function passthrough(
  ctx: Ctx,
  hello: Hello,
  upstream: Socket | null,
  choice: Extract<NameChoice, { kind: 'passthrough' }>,
): Promise<void> {
  const id = newConnectionId();
  ctx.log.info(
    { conn: id, dst: ctx.base.originalDestination, sni: hello.sni, reason: choice.reason },
    'relaying untouched (not an intercepted domain)',
  );
  record(ctx, id, { decision: 'passthrough', reason: choice.reason, sni: hello.sni, name: choice.name });
  let up = upstream;
  if (!up) {
    try {
      const ic = ctx.deps.config.intercept;
      up = await connectMarked(ctx.dst, ic.upstreamMark, ctx.deps.limits.upstreamConnectTimeoutMs);
    } catch (e) {
      ctx.log.warn({ conn: id, err: (e as Error).message }, 'untouched relay: upstream unreachable');
      ctx.client.destroy();
      return;
    }
  }
  up.on('error', () => undefined);
  ctx.deps.relay(ctx.client, up, ctx.deps.limits.idleTimeoutMs);
}

function refuse(
  ctx: Ctx,
  error: ShieldError,
  names: { sni: string | null; name: string | null; nameSource?: InterceptionRow['nameSource'] },
  clientTls: 'implicit' | 'none',
): void {
  const conn = connectionFor(ctx, {
    name: names.name ?? ctx.dst.ip,
    clientTls,
    upstream: () => Promise.reject(error),
    extraLeafName: null,
    relayedGreeting: false,
  });
  ctx.log.warn({ conn: conn.id, code: error.code, dst: ctx.base.originalDestination }, error.message);
  record(ctx, conn.id, { decision: 'refuse', reason: error.message, ...names });
  ctx.deps.run(conn);
}

function connectionFor(
  ctx: Ctx,
  o: {
    name: string;
    clientTls: 'implicit' | 'none';
    upstream: (t: UpstreamTarget) => Promise<Socket>;
    extraLeafName: string | null;
    relayedGreeting: boolean;
  },
): Connection {
  const { deps, dst, profile } = ctx;
  const account: AccountConfig = {
    name: `intercept:${o.name}`,
    protocol: profile.protocol,
    listen: deps.listen,
    clientTls: o.clientTls,
    upstream: formatDestination(dst),
    // Both legs' STARTTLS (if any) is over by now, so the session sees implicit TLS on both.
    upstreamTls: 'implicit',
    upstreamServername: o.name,
  };
  const leafs: LeafSource = o.extraLeafName
    ? { get: (names) => deps.leafs.get([...names, o.extraLeafName!]) }
    : deps.leafs;
  return new Connection(ctx.client, {
    account,
    config: deps.config,
    limits: deps.limits,
    leafs,
    scanner: deps.scanner,
    events: deps.events,
    log: deps.log,
    spoolDir: deps.spoolDir,
    listen: deps.listen,
    upstreamTarget: () => ({
      account: account.name,
      host: dst.ip,
      port: dst.port,
      servername: o.name,
      extraCa: deps.extraCa,
      policy: deps.config.policy.upstream,
      exceptions: deps.config.policy.exceptions,
      now: deps.now(),
      timeoutMs: deps.limits.upstreamConnectTimeoutMs,
    }),
    connectUpstream: o.upstream,
    createSession: (opts) => {
      const s = deps.createSession(profile.protocol, opts);
      return o.relayedGreeting ? afterRelayedGreeting(s, profile.protocol) : s;
    },
  });
}

function record(
  ctx: Ctx,
  connectionId: string,
  r: Pick<InterceptionRow, 'decision' | 'reason' | 'sni' | 'name'> & { nameSource?: InterceptionRow['nameSource'] },
): void {
  try {
    ctx.deps.interceptions?.record({
      ...ctx.base,
      connectionId,
      tlsMode: ctx.profile.tls,
      nameSource: r.nameSource ?? null,
      ...r,
    });
  } catch (e) {
    ctx.log.error({ err: e instanceof Error ? e.message : String(e) }, 'store write failed');
  }
}
