// Runs one client connection: brings up both legs, feeds socket bytes to the protocol session as events, and carries
// out the session's commands (writes, STARTTLS upgrades, capture spooling, scans, timers, logs). All protocol logic
// lives in the session; this file only does I/O.
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { AccountConfig, Config } from '../core/config.js';
import { asShieldError, ShieldError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import type { Logger } from '../core/logger.js';
import type { Leg, Session, SessionCommand, SessionEvent, SessionOptions } from '../core/session.js';
import { DotStuffer } from '../core/dot-stuffing.js';
import { GuardedSession } from '../core/session-guard.js';
import type { ScanAction, Scanner } from '../core/scan-contract.js';
import type { EventStore } from '../store/events.js';
import type { ClientPolicyDecision } from '../tls/client-policy.js';
import type { ClientHelloInfo, LeafSource, UpstreamHandshakeFacts } from '../core/tls-facts.js';
import { shadowClient } from '../tls/shadow-policy.js';
import { acceptClientTls } from './client-tls.js';
import type { LiveHub, LiveSession, LiveSource } from './live.js';
import { EventQueue } from '../core/event-queue.js';
import { OUT_HIGH_WATER, OUT_LOW_WATER, OutQueue } from './out-queue.js';
import { Spool } from './spool.js';
import { connectUpstreamTcp, upgradeUpstreamTls, type UpstreamTarget } from './upstream.js';

export interface ConnectionDeps {
  account: AccountConfig;
  config: Config;
  limits: Limits;
  leafs: LeafSource;
  scanner: Scanner;
  events: EventStore | null;
  log: Logger;
  spoolDir: string;
  /** Built per connection so `now` and exceptions are current. */
  upstreamTarget: () => UpstreamTarget;
  createSession: (opts: SessionOptions) => Session;
  /** The listener's configured address, for client-policy decisions and messages. */
  listen: string;
  /** Replaces the plain TCP connect to the upstream (intercept mode: a marked socket, or one already connected). */
  connectUpstream?: (t: UpstreamTarget) => Promise<Socket>;
  /** Live session data for the dashboard (src/io/live.ts). */
  live?: LiveHub;
}

interface Capture {
  spool: Spool;
  /** As the session declared it: an IMAP APPEND is outgoing although the account reads mail. */
  direction: 'incoming' | 'outgoing';
  result: ScanAction | null;
  /** send-capture commands still streaming from this spool; discard waits for them. */
  readers: number;
  discardRequested: boolean;
}

/** Unwritten spool bytes per capture before the sending leg is paused; a few batches of the spool writer. */
const SPOOL_BACKLOG_LIMIT = 4 * 1024 * 1024;

/** Why a leg is not being read; it is read again only when no reason is left. */
type HoldReason = 'spool' | 'peer-queue';

/** Flow-control changes, for tests and metrics: `{ conn, leg, reasons, queued: { client, upstream } }`. */
export const flowChannel = diagnostics.channel('mailshield:flow');

export interface FlowState {
  held: Record<Leg, HoldReason[]>;
  queued: Record<Leg, number>;
}

export interface FlowEvent {
  conn: string;
  leg: Leg;
  reasons: HoldReason[];
  queued: Record<Leg, number>;
  /** The connection's flow state now, for a subscriber that looks again later. */
  current: () => FlowState;
}

const otherLeg = (leg: Leg): Leg => (leg === 'client' ? 'upstream' : 'client');

export function newConnectionId(): string {
  return randomBytes(5).toString('hex');
}

export class Connection implements LiveSource {
  readonly id = newConnectionId();
  private session: GuardedSession | null = null;
  private readonly sockets: Record<Leg, Duplex | null> = { client: null, upstream: null };
  private readonly queues: Record<Leg, OutQueue>;
  private readonly holds: Record<Leg, Set<HoldReason>> = { client: new Set(), upstream: new Set() };
  private readonly captures = new Map<number, Capture>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly scansInFlight = new Set<Promise<void>>();
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private upgrading: Record<Leg, boolean> = { client: false, upstream: false };
  private finished!: () => void;
  readonly done = new Promise<void>((r) => (this.finished = r));
  private readonly log: Logger;
  private bytesIn: Record<Leg, number> = { client: 0, upstream: 0 };
  private outcome = 'closed';
  /** The upstream TLS facts, for the trace header (actions.addTlsTraceHeader). */
  private upstreamTls: UpstreamHandshakeFacts | undefined;

  constructor(
    private readonly raw: Socket,
    private readonly deps: ConnectionDeps,
  ) {
    this.log = deps.log.child({ conn: this.id, account: deps.account.name });
    // A leg's queue above its high-water mark stops reading from the other leg, whose bytes would only add to it.
    const pressure = (leg: Leg) => ({
      high: OUT_HIGH_WATER,
      low: OUT_LOW_WATER,
      onChange: (over: boolean) =>
        over ? this.hold(otherLeg(leg), 'peer-queue') : this.release(otherLeg(leg), 'peer-queue'),
    });
    this.queues = {
      client: new OutQueue((e) => this.fail('client', e), pressure('client')),
      upstream: new OutQueue((e) => this.fail('upstream', e), pressure('upstream')),
    };
  }

  /** Runs the connection to its end; an unexpected error is answered and logged here, never thrown at the server. */
  async run(): Promise<void> {
    try {
      await this.runLegs();
    } catch (e) {
      this.internalFailure(e, 'connection set-up');
      if (!this.session) {
        this.raw.destroy();
        this.finish();
      }
    }
    return this.done;
  }

  private async runLegs(): Promise<void> {
    const { account } = this.deps;
    const clientAddress = `${this.raw.remoteAddress ?? '?'}:${this.raw.remotePort ?? 0}`;
    this.log.info({ client: clientAddress, listen: this.deps.listen }, 'connection opened');
    this.record(() =>
      this.deps.events?.connectionOpened({
        id: this.id,
        account: account.name,
        protocol: account.protocol,
        listener: this.deps.listen,
        clientAddress,
      }),
    );
    this.raw.on('error', (e) => this.log.debug({ err: e.message }, 'client socket error'));
    this.raw.pause();
    this.tellLive();

    // Both legs come up in parallel: the client's handshake and the upstream's connection overlap.
    const [client, upstream] = await Promise.all([this.bringUpClient(clientAddress), this.bringUpUpstream()]);
    if (!client) {
      upstream.socket?.destroy();
      this.outcome = 'client-tls-refused';
      return this.finish();
    }
    const inner: Session = this.deps.createSession({
      connId: this.id,
      account,
      config: this.deps.config,
      limits: this.deps.limits,
      clientSecure: account.clientTls === 'implicit',
    });
    this.session = new GuardedSession(inner, account.protocol);
    this.attach('client', client);
    if (upstream.socket) this.attach('upstream', upstream.socket);
    this.touch();
    this.tellLive();
    if (upstream.error) {
      this.outcome = upstream.error.code;
      this.feed({ type: 'upstream-failed', error: upstream.error });
      // The session explains and closes; make sure the client is not left waiting if it does not.
      void this.queues.client.drained().then(() => this.close('both'));
    } else {
      this.feed({ type: 'start', upstreamFacts: upstream.facts });
    }
    return this.done;
  }

  /** Stops the connection at shutdown: the session gets no say, sockets end after pending writes. */
  shutdown(): void {
    this.close('both');
  }

  private async bringUpClient(clientAddress: string): Promise<Duplex | null> {
    if (this.deps.account.clientTls !== 'implicit') return this.raw;
    const res = await acceptClientTls(this.raw, {
      leafs: this.deps.leafs,
      policy: this.deps.config.policy.client,
      listen: this.deps.listen,
      handshakeTimeoutMs: this.deps.limits.clientHandshakeTimeoutMs,
    });
    this.recordHello(clientAddress, res.hello, res.ok ? null : res.error, res.ok ? res.decision : null);
    if (!res.ok) {
      this.logError(res.error);
      this.raw.destroy();
      return null;
    }
    this.log.info({ tls: res.socket.getProtocol(), cipher: res.socket.getCipher().name }, 'client TLS established');
    return res.socket;
  }

  private async bringUpUpstream(): Promise<{
    socket: Duplex | null;
    facts: UpstreamHandshakeFacts | null;
    error: ShieldError | null;
  }> {
    const target = this.deps.upstreamTarget();
    let sock: Socket;
    try {
      sock = await (this.deps.connectUpstream ?? connectUpstreamTcp)(target);
    } catch (e) {
      const err = asShieldError(e, 'MS_ERR_UPSTREAM_CONNECT');
      this.logError(err);
      return { socket: null, facts: null, error: err };
    }
    sock.on('error', (e) => this.log.debug({ err: e.message }, 'upstream socket error'));
    if (this.deps.account.upstreamTls !== 'implicit') return { socket: sock, facts: null, error: null };
    const res = await upgradeUpstreamTls(sock, target);
    if (res.facts) this.recordFacts(res.facts);
    if (!res.ok) {
      this.logError(res.error);
      sock.destroy();
      return { socket: null, facts: res.facts, error: res.error };
    }
    return { socket: res.socket, facts: res.facts, error: null };
  }

  private attach(leg: Leg, sock: Duplex): void {
    this.sockets[leg] = sock;
    sock.on('data', (data: Buffer) => {
      this.bytesIn[leg] += data.length;
      this.touch();
      this.feed({ type: 'data', from: leg, data });
      this.holdBackIfSpoolBehind(leg);
    });
    sock.once('close', () => this.onClosed(leg, sock));
    sock.on('error', (e: Error) => this.log.debug({ leg, err: e.message }, 'socket error'));
    this.queues[leg].attach(sock);
    if (this.holds[leg].size === 0) sock.resume();
  }

  /** Stops reading `leg` for `reason` (the kernel's window then slows its sender). */
  private hold(leg: Leg, reason: HoldReason): void {
    if (this.holds[leg].has(reason)) return;
    this.holds[leg].add(reason);
    this.sockets[leg]?.pause();
    this.publishFlow(leg);
  }

  /** Drops one reason; the leg is read again once none is left and nothing else (STARTTLS, close) took it over. */
  private release(leg: Leg, reason: HoldReason): void {
    if (!this.holds[leg].delete(reason)) return;
    const sock = this.sockets[leg];
    if (this.holds[leg].size === 0 && sock && !this.closed && !this.upgrading[leg] && sock.listenerCount('data') > 0)
      sock.resume();
    this.publishFlow(leg);
  }

  private publishFlow(leg: Leg): void {
    if (!flowChannel.hasSubscribers) return;
    const ev: FlowEvent = {
      conn: this.id,
      leg,
      reasons: [...this.holds[leg]],
      queued: { client: this.queues.client.level, upstream: this.queues.upstream.level },
      current: () => this.flowState(),
    };
    flowChannel.publish(ev);
  }

  /** For tests and metrics: which legs are held, and how much waits in each output queue. */
  flowState(): FlowState {
    return {
      held: { client: [...this.holds.client], upstream: [...this.holds.upstream] },
      queued: { client: this.queues.client.level, upstream: this.queues.upstream.level },
    };
  }

  /**
   * A fast peer can deliver a message faster than the disk takes it. Rather than let the backlog grow in memory (bench
   * W8 saw 15 MB), stop reading from that leg until the spool has caught up.
   */
  private holdBackIfSpoolBehind(leg: Leg): void {
    for (const cap of this.captures.values()) {
      if (cap.spool.backlog < SPOOL_BACKLOG_LIMIT) continue;
      this.hold(leg, 'spool');
      void cap.spool.whenBelow(SPOOL_BACKLOG_LIMIT / 2).then(() => this.release(leg, 'spool'));
      return;
    }
  }

  private stopReading(leg: Leg): void {
    const sock = this.sockets[leg];
    if (!sock) return;
    sock.pause();
    sock.removeAllListeners('data');
  }

  private detach(leg: Leg): Duplex | null {
    const sock = this.sockets[leg];
    if (!sock) return null;
    sock.pause();
    sock.removeAllListeners('data');
    sock.removeAllListeners('close');
    this.queues[leg].detach();
    this.sockets[leg] = null;
    return sock;
  }

  private onClosed(leg: Leg, sock: Duplex): void {
    if (this.sockets[leg] !== sock || this.closed) return;
    this.sockets[leg] = null;
    this.feed({ type: 'closed', leg });
    // Whatever the session said, a vanished leg ends the connection once pending output has been written.
    // Answers still being scanned are part of what the other leg is owed, so wait for them too.
    void this.settled().then(() => this.close('both'));
  }

  /** Resolves when no scan is in flight and both queues have been written out. */
  private async settled(): Promise<void> {
    for (;;) {
      await Promise.all([...this.scansInFlight]);
      await Promise.all([this.queues.client.drained(), this.queues.upstream.drained()]);
      if (this.scansInFlight.size === 0) return;
    }
  }

  /** Every event goes through the queue, so the session never hears one while it is still running its last batch. */
  private readonly events = new EventQueue<SessionEvent>(
    (event) => this.handleEvent(event),
    (dropped) => this.internalFailure(new Error(`session fed itself ${dropped} events too many`), 'driver event loop'),
  );

  private feed(event: SessionEvent): void {
    this.events.push(event);
  }

  private handleEvent(event: SessionEvent): void {
    if (!this.session || (this.closed && event.type !== 'scan-done')) return;
    // The guard catches a throwing session; a throwing command is the driver's own fault, answered the same way.
    try {
      for (const c of this.session.handle(event)) this.exec(c);
    } catch (e) {
      this.internalFailure(e, `driver, on a ${event.type} event`);
    }
  }

  /** An unexpected error: the client is told in its protocol (session-guard.ts), the connection closes. */
  private internalFailure(e: unknown, where: string): void {
    this.outcome = 'MS_ERR_INTERNAL';
    this.record(() => this.deps.events?.error(this.id, this.deps.account.name, asShieldError(e)));
    this.events.exclusive(() => {
      const cmds = this.session?.fail(e, where) ?? [];
      try {
        for (const c of cmds) this.exec(c);
      } catch (again) {
        this.log.error({ err: again instanceof Error ? again.message : String(again) }, 'internal error while closing');
      }
      this.close('both');
    });
  }

  private exec(c: SessionCommand): void {
    switch (c.type) {
      case 'send':
        this.queues[c.to].write(c.data);
        return;
      case 'start-tls':
        // Stop reading now, synchronously: bytes that arrive from here on belong to the TLS handshake, not to the
        // session (a ClientHello split across reads must reach the TLS layer whole).
        this.stopReading(c.leg);
        this.startTls(c.leg, c.pending).catch((e: unknown) => this.internalFailure(e, `${c.leg} STARTTLS upgrade`));
        return;
      case 'capture-start':
        this.captures.set(c.id, {
          spool: new Spool(this.deps.spoolDir, this.deps.limits.spoolThresholdBytes, this.deps.limits.maxMessageBytes),
          direction: c.direction,
          result: null,
          readers: 0,
          discardRequested: false,
        });
        this.tellLive();
        return;
      case 'capture-data': {
        const cap = this.captures.get(c.id);
        const err = cap?.spool.push(c.data);
        if (err) this.feed({ type: 'capture-failed', id: c.id, error: err });
        return;
      }
      case 'capture-end': {
        const p = this.scan(c.id).catch((e: unknown) => this.internalFailure(e, 'scan'));
        this.scansInFlight.add(p);
        void p.finally(() => {
          this.scansInFlight.delete(p);
          this.tellLive();
        });
        this.tellLive();
        return;
      }
      case 'send-capture':
        this.sendCapture(c);
        return;
      case 'capture-discard': {
        const cap = this.captures.get(c.id);
        if (!cap) return;
        cap.discardRequested = true;
        this.maybeDiscard(c.id, cap);
        return;
      }
      case 'close':
        this.close(c.leg);
        return;
      case 'set-timer': {
        clearTimeout(this.timers.get(c.name));
        const name = c.name;
        this.timers.set(
          name,
          setTimeout(() => {
            this.timers.delete(name);
            this.feed({ type: 'timer', name });
          }, c.ms),
        );
        return;
      }
      case 'clear-timer':
        clearTimeout(this.timers.get(c.name));
        this.timers.delete(c.name);
        return;
      case 'log':
        this.log[c.level](c.fields ?? {}, c.msg);
        return;
    }
  }

  private async startTls(leg: Leg, pending?: Buffer): Promise<void> {
    if (this.upgrading[leg]) return;
    this.upgrading[leg] = true;
    // Everything queued before the go-ahead must reach the peer in plaintext before the handshake starts.
    await this.queues[leg].drained();
    const plain = this.detach(leg);
    if (!plain || this.closed) return;
    if (leg === 'client') {
      const res = await acceptClientTls(
        plain as Socket,
        {
          leafs: this.deps.leafs,
          policy: this.deps.config.policy.client,
          listen: this.deps.listen,
          handshakeTimeoutMs: this.deps.limits.clientHandshakeTimeoutMs,
        },
        pending,
      );
      const addr = `${this.raw.remoteAddress ?? '?'}:${this.raw.remotePort ?? 0}`;
      this.recordHello(addr, res.hello, res.ok ? null : res.error, res.ok ? res.decision : null);
      this.upgrading.client = false;
      if (!res.ok) {
        // Reported here, once (log line and event row). The session is not told: there is no one left to answer,
        // and each session logged its own copy of the failure (POP3 at error level). Closing discards every capture.
        this.logError(res.error);
        plain.destroy();
        this.close('both');
        return;
      }
      this.attach('client', res.socket);
      this.tellLive();
      this.feed({ type: 'tls-ready', leg });
    } else {
      const res = await upgradeUpstreamTls(plain as Socket, this.deps.upstreamTarget());
      if (res.facts) this.recordFacts(res.facts);
      this.upgrading.upstream = false;
      if (!res.ok) {
        this.logError(res.error);
        plain.destroy();
        this.outcome = res.error.code;
        this.feed({ type: 'tls-failed', leg, error: res.error });
        void this.queues.client.drained().then(() => this.close('both'));
        return;
      }
      this.attach('upstream', res.socket);
      this.tellLive();
      this.feed({ type: 'tls-ready', leg, facts: res.facts });
    }
  }

  private async scan(id: number): Promise<void> {
    const cap = this.captures.get(id);
    if (!cap) return;
    let result: ScanAction;
    try {
      const body = await cap.spool.finish();
      result = await this.deps.scanner.scan({
        account: this.deps.account.name,
        protocol: this.deps.account.protocol,
        direction: cap.direction,
        ...body,
        connId: this.id,
        upstreamTls: this.upstreamTls,
      });
    } catch (e) {
      const err = asShieldError(e, 'MS_ERR_SCAN_ENGINE');
      this.logError(err);
      result = {
        action: 'tempfail',
        verdict: { kind: 'error', engine: 'mailshield', reason: err.message },
        reason: err.message,
      };
    }
    cap.result = result;
    this.deps.live?.scanned({
      account: this.deps.account.name,
      direction: cap.direction,
      action: result.action,
      verdict: result.verdict.kind,
      at: new Date().toISOString(),
    });
    this.feed({ type: 'scan-done', id, result });
  }

  private sendCapture(c: Extract<SessionCommand, { type: 'send-capture' }>): void {
    const cap = this.captures.get(c.id);
    if (!cap) {
      this.logError(new ShieldError('MS_ERR_INTERNAL', `session sent unknown capture ${c.id}`));
      return;
    }
    cap.readers++;
    const replaced = cap.result?.action === 'release' ? cap.result.bytes : undefined;
    const framing = c.framing;
    const prefix = c.prefix;
    const suffix = c.suffix;
    this.queues[c.to].stream(
      async function* (this: Connection) {
        try {
          const stuffer = framing === 'raw' ? null : new DotStuffer();
          const out = (b: Buffer) => (stuffer ? stuffer.push(b) : b);
          if (prefix) yield out(prefix);
          if (replaced) yield out(replaced);
          else for await (const chunk of cap.spool.read()) yield out(chunk);
          if (stuffer) yield stuffer.end();
          if (suffix) yield suffix;
        } finally {
          cap.readers--;
          this.maybeDiscard(c.id, cap);
        }
      }.bind(this),
    );
  }

  private maybeDiscard(id: number, cap: Capture): void {
    if (!cap.discardRequested || cap.readers > 0) return;
    this.captures.delete(id);
    void cap.spool.discard();
  }

  private close(which: Leg | 'both'): void {
    const legs: Leg[] = which === 'both' ? ['client', 'upstream'] : [which];
    for (const leg of legs) {
      const q = this.queues[leg];
      const sock = this.sockets[leg];
      if (sock) q.end();
      else q.abandon();
      // Give a peer that ignores our FIN a moment, then cut it off.
      if (sock) setTimeout(() => sock.destroy(), 2000).unref();
    }
    if (which === 'both' || (!this.sockets.client && !this.sockets.upstream)) void this.finishAfterDrain();
  }

  private async finishAfterDrain(): Promise<void> {
    await Promise.all([this.queues.client.drained(), this.queues.upstream.drained()]);
    this.finish();
  }

  private fail(leg: Leg, e: unknown): void {
    this.log.warn({ leg, err: e instanceof Error ? e.message : String(e) }, 'write failed');
    this.close('both');
  }

  private touch(): void {
    if (this.idleTimer) this.idleTimer.refresh();
    else
      this.idleTimer = setTimeout(() => {
        this.log.info({ idleMs: this.deps.limits.idleTimeoutMs }, 'idle timeout');
        this.outcome = 'idle-timeout';
        this.close('both');
      }, this.deps.limits.idleTimeoutMs);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    // The registry discards what the session left live; spools still being read go once their readers finish.
    for (const c of this.session?.end() ?? []) this.exec(c);
    // end() flushes what TLS still holds (the explanation a refused client must read); destroy only after a grace
    // period, for peers that never close their side.
    for (const sock of [this.sockets.client, this.sockets.upstream, this.raw]) {
      if (!sock || sock.destroyed) continue;
      // The raw client socket under a TLS socket is ended by the TLS layer after its close_notify.
      if (sock !== this.raw || this.sockets.client === this.raw || !this.sockets.client) sock.end();
      setTimeout(() => sock.destroy(), 2000).unref();
    }
    this.record(() =>
      this.deps.events?.connectionClosed(this.id, this.outcome, this.bytesIn.client, this.bytesIn.upstream),
    );
    this.log.info(
      { outcome: this.outcome, fromClient: this.bytesIn.client, fromUpstream: this.bytesIn.upstream },
      'connection closed',
    );
    this.tellLive();
    this.finished();
  }

  private logError(e: ShieldError): void {
    this.log.warn({ code: e.code, side: e.side }, e.message);
    this.record(() => this.deps.events?.error(this.id, this.deps.account.name, e));
  }

  private recordHello(
    addr: string,
    hello: ClientHelloInfo | null,
    err: ShieldError | null,
    decision: ClientPolicyDecision | null,
  ): void {
    if (!hello) return;
    const candidate = this.deps.config.policy.candidate?.client;
    const wouldRefuse = decision && shadowClient(hello, decision, candidate, this.deps.listen);
    this.record(() =>
      this.deps.events?.clientHello(
        {
          connectionId: this.id,
          account: this.deps.account.name,
          listener: this.deps.listen,
          clientAddress: addr,
          policy: decision?.policy ?? this.deps.config.policy.client,
        },
        hello,
        err === null,
        err ? err.message : null,
        wouldRefuse,
      ),
    );
  }

  private recordFacts(f: UpstreamHandshakeFacts): void {
    this.upstreamTls = f;
    const level = f.verdict === 'ok' ? 'info' : 'warn';
    this.log[level](
      {
        tls: f.protocol,
        cipher: f.cipher,
        peerSigningDigest: f.peerSigningDigest,
        peerSignatureType: f.peerSignatureType,
        serverTempKey: f.serverTempKey,
        verdict: f.verdict,
        warnings: f.findings.filter((x) => x.level === 'warning').map((x) => x.message),
      },
      'upstream TLS',
    );
    for (const ex of f.exceptionsExpired)
      this.log.warn({ exception: ex }, 'policy exception has expired and no longer applies');
    this.record(() => this.deps.events?.upstreamHandshake(this.id, this.deps.account.name, f));
    this.liveFacts = f;
  }

  /** Store writes must never break mail: a failing store is logged, not thrown. */
  private record(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'store write failed');
    }
  }

  // Live data for the dashboard (src/io/live.ts): read from the connection's own state when asked, so the data path
  // does no extra work per chunk.
  private liveFacts: UpstreamHandshakeFacts | null = null;
  private readonly startedAt = new Date().toISOString();

  get liveClosed(): boolean {
    return this.closed;
  }

  private tellLive(): void {
    // Like store writes, live data must never break mail.
    this.record(() => this.deps.live?.changed(this));
  }

  snapshot(): LiveSession {
    const client = this.sockets.client;
    const tls = client && 'getProtocol' in client ? (client as TLSSocket) : null;
    const f = this.liveFacts;
    return {
      id: this.id,
      account: this.deps.account.name,
      protocol: this.deps.account.protocol,
      clientAddress: `${this.raw.remoteAddress ?? '?'}:${this.raw.remotePort ?? 0}`,
      startedAt: this.startedAt,
      state: this.closed
        ? 'closed'
        : this.scansInFlight.size > 0
          ? 'scanning'
          : [...this.captures.values()].some((c) => c.result === null)
            ? 'holding'
            : this.session
              ? 'relaying'
              : 'connecting',
      clientTls: tls
        ? {
            version: tls.getProtocol(),
            cipher: tls.getCipher()?.name ?? null,
            signatureScheme: tls.getSharedSigalgs?.()?.[0] ?? null,
          }
        : null,
      upstreamTls: f
        ? {
            version: f.protocol,
            cipher: f.cipher,
            peerSigningDigest: f.peerSigningDigest,
            peerSignatureType: f.peerSignatureType,
            serverTempKey: f.serverTempKey,
            verdict: f.verdict,
          }
        : null,
      bytesFromClient: this.bytesIn.client,
      bytesFromUpstream: this.bytesIn.upstream,
      outcome: this.closed ? this.outcome : null,
    };
  }
}
