// One client connection's state, and what it records: errors and TLS facts into the event store, and the live
// picture for the dashboard. The connection is split into rooms, one class chain: this file (state, event
// recording), connection-legs.ts (the two legs: set-up, flow control, STARTTLS), connection-captures.ts (the capture
// store: spool, scan, delivery) and connection.ts (the lifecycle and the session driver loop).
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { AccountConfig, Config } from '../core/config.js';
import { ShieldError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import type { Logger } from '../core/logger.js';
import type { Leg, Session, SessionEvent, SessionOptions } from '../core/session.js';
import { GuardedSession } from '../core/session-guard.js';
import type { LiveCapture, ScanAction, Scanner } from '../core/scan-contract.js';
import type { EventStore } from '../store/events.js';
import type { ClientPolicyDecision } from '../tls/client-policy.js';
import type { ClientHelloInfo, LeafSource, UpstreamHandshakeFacts } from '../core/tls-facts.js';
import { shadowClient } from '../tls/shadow-policy.js';
import type { LiveHub, LiveSession } from './live.js';
import { OUT_HIGH_WATER, OUT_LOW_WATER, OutQueue } from './out-queue.js';
import { Spool } from './spool.js';
import type { UpstreamTarget } from './upstream.js';

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

export interface Capture {
  spool: Spool;
  /** The scan fed as the bytes arrive, when the scanner scans live; null once finished or abandoned. */
  live: LiveCapture | null;
  /** As the session declared it: an IMAP APPEND is outgoing although the account reads mail. */
  direction: 'incoming' | 'outgoing';
  result: ScanAction | null;
  /** send-capture commands still streaming from this spool; discard waits for them. */
  readers: number;
  discardRequested: boolean;
}

/**
 * Unwritten spool bytes per capture before the sending leg is paused: one batch of the spool writer. Kept small because
 * a chunk that waits here long enough to outlive two young-generation GCs is promoted, and then only a full GC frees
 * it: with 4 MiB, bench W8 saw promoted socket chunks pile up to 50 MB during one 50 MB capture.
 */
export const SPOOL_BACKLOG_LIMIT = 1024 * 1024;

/**
 * Captured bytes a live scan may have waiting before the sending leg is paused. The scanner then sets the pace of the
 * download, as the disk does for the spool: a slow scan must not let unscanned chunks pile up in memory (bench W8).
 */
export const SCAN_BACKLOG_LIMIT = 1024 * 1024;

/** Why a leg is not being read; it is read again only when no reason is left. */
export type HoldReason = 'spool' | 'scan' | 'peer-queue';

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

export const otherLeg = (leg: Leg): Leg => (leg === 'client' ? 'upstream' : 'client');

export function newConnectionId(): string {
  return randomBytes(5).toString('hex');
}

export abstract class ConnectionRecord {
  readonly id = newConnectionId();
  protected session: GuardedSession | null = null;
  protected readonly sockets: Record<Leg, Duplex | null> = { client: null, upstream: null };
  protected readonly queues: Record<Leg, OutQueue>;
  protected readonly holds: Record<Leg, Set<HoldReason>> = { client: new Set(), upstream: new Set() };
  protected readonly captures = new Map<number, Capture>();
  protected readonly timers = new Map<string, NodeJS.Timeout>();
  protected readonly scansInFlight = new Set<Promise<void>>();
  protected idleTimer: NodeJS.Timeout | null = null;
  protected closed = false;
  protected upgrading: Record<Leg, boolean> = { client: false, upstream: false };
  protected finished!: () => void;
  readonly done = new Promise<void>((r) => (this.finished = r));
  protected readonly log: Logger;
  protected bytesIn: Record<Leg, number> = { client: 0, upstream: 0 };
  protected outcome = 'closed';
  /** The upstream TLS facts, for the trace header (actions.addTlsTraceHeader). */
  protected upstreamTls: UpstreamHandshakeFacts | undefined;

  constructor(
    protected readonly raw: Socket,
    protected readonly deps: ConnectionDeps,
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

  protected logError(e: ShieldError): void {
    this.log.warn({ code: e.code, side: e.side }, e.message);
    this.record(() => this.deps.events?.error(this.id, this.deps.account.name, e));
  }

  protected recordHello(
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

  protected recordFacts(f: UpstreamHandshakeFacts): void {
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
  protected record(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'store write failed');
    }
  }

  // Live data for the dashboard (src/io/live.ts): read from the connection's own state when asked, so the data path
  // does no extra work per chunk.
  protected liveFacts: UpstreamHandshakeFacts | null = null;
  protected readonly startedAt = new Date().toISOString();

  get liveClosed(): boolean {
    return this.closed;
  }

  protected tellLive(): void {
    // Like store writes, live data must never break mail.
    this.record(() => this.deps.live?.changed(this));
  }

  /**
   * The client leg's TLS facts, read once per TLS socket (STARTTLS brings a new one). The snapshot is taken on every
   * session change, several per message, and each getter is a call into OpenSSL (bench WD showed them); a closed socket
   * also stops reporting them, which left the `closed` event without its TLS version.
   */
  private clientTlsCache: { sock: TLSSocket; facts: NonNullable<LiveSession['clientTls']> } | null = null;

  private clientTlsFacts(): LiveSession['clientTls'] {
    const client = this.sockets.client;
    const tls = client && 'getProtocol' in client ? (client as TLSSocket) : null;
    if (!tls) return this.clientTlsCache?.facts ?? null;
    if (this.clientTlsCache?.sock === tls) return this.clientTlsCache.facts;
    const version = tls.getProtocol();
    // Not yet (or no longer) reporting: nothing to cache, the next snapshot asks again.
    if (!version) return { version: null, cipher: null, signatureScheme: null };
    const facts = {
      version,
      cipher: tls.getCipher()?.name ?? null,
      signatureScheme: tls.getSharedSigalgs?.()?.[0] ?? null,
    };
    this.clientTlsCache = { sock: tls, facts };
    return facts;
  }

  snapshot(): LiveSession {
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
      clientTls: this.clientTlsFacts(),
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

  // Defined by later rooms in the chain.
  protected abstract fail(leg: Leg, e: unknown): void;
  protected abstract hold(leg: Leg, reason: HoldReason): void;
  protected abstract release(leg: Leg, reason: HoldReason): void;
  protected abstract close(which: Leg | 'both'): void;
  protected abstract feed(event: SessionEvent): void;
  protected abstract handleEvent(event: SessionEvent): void;
  protected abstract internalFailure(e: unknown, where: string): void;
  protected abstract touch(): void;
}
