// The two legs of a connection: bringing up the client's TLS and the upstream connection, reading with flow control
// (a full queue or a lagging spool holds the other leg), a leg that closes, and STARTTLS upgrades on either leg.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { asShieldError, ShieldError } from '../core/errors.js';
import type { Leg } from '../core/session.js';
import type { UpstreamHandshakeFacts } from '../core/tls-facts.js';
import { acceptClientTls } from './client-tls.js';
import { connectUpstreamTcp, upgradeUpstreamTls } from './upstream.js';
import {
  SCAN_BACKLOG_LIMIT,
  SPOOL_BACKLOG_LIMIT,
  HoldReason,
  flowChannel,
  FlowEvent,
  FlowState,
} from './connection-record.js';
import { ConnectionRecord } from './connection-record.js';

export abstract class ConnectionLegs extends ConnectionRecord {
  protected async bringUpClient(clientAddress: string): Promise<Duplex | null> {
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

  protected async bringUpUpstream(): Promise<{
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

  protected attach(leg: Leg, sock: Duplex): void {
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
  protected hold(leg: Leg, reason: HoldReason): void {
    if (this.holds[leg].has(reason)) return;
    this.holds[leg].add(reason);
    this.sockets[leg]?.pause();
    this.publishFlow(leg);
  }

  /** Drops one reason; the leg is read again once none is left and nothing else (STARTTLS, close) took it over. */
  protected release(leg: Leg, reason: HoldReason): void {
    if (!this.holds[leg].delete(reason)) return;
    const sock = this.sockets[leg];
    if (this.holds[leg].size === 0 && sock && !this.closed && !this.upgrading[leg] && sock.listenerCount('data') > 0)
      sock.resume();
    this.publishFlow(leg);
  }

  protected publishFlow(leg: Leg): void {
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
   * A fast peer can deliver a message faster than the disk takes it, or than a live scan reads it. Rather than let the
   * backlog grow in memory (bench W8 saw 15 MB), stop reading from that leg until the spool (or the scan) caught up.
   */
  protected holdBackIfSpoolBehind(leg: Leg): void {
    for (const cap of this.captures.values()) {
      if (!this.holds[leg].has('spool') && cap.spool.backlog >= SPOOL_BACKLOG_LIMIT) {
        this.hold(leg, 'spool');
        void cap.spool.whenBelow(SPOOL_BACKLOG_LIMIT / 2).then(() => this.release(leg, 'spool'));
      }
      const live = cap.live;
      if (live && !this.holds[leg].has('scan') && live.backlog >= SCAN_BACKLOG_LIMIT) {
        this.hold(leg, 'scan');
        void live.whenBelow(SCAN_BACKLOG_LIMIT / 2).then(() => this.release(leg, 'scan'));
      }
    }
  }

  protected stopReading(leg: Leg): void {
    const sock = this.sockets[leg];
    if (!sock) return;
    sock.pause();
    sock.removeAllListeners('data');
  }

  protected detach(leg: Leg): Duplex | null {
    const sock = this.sockets[leg];
    if (!sock) return null;
    sock.pause();
    sock.removeAllListeners('data');
    sock.removeAllListeners('close');
    this.queues[leg].detach();
    this.sockets[leg] = null;
    return sock;
  }

  protected onClosed(leg: Leg, sock: Duplex): void {
    if (this.sockets[leg] !== sock || this.closed) return;
    this.sockets[leg] = null;
    this.feed({ type: 'closed', leg });
    // Whatever the session said, a vanished leg ends the connection once pending output has been written.
    // Answers still being scanned are part of what the other leg is owed, so wait for them too.
    void this.settled().then(() => this.close('both'));
  }

  /** Resolves when no scan is in flight and both queues have been written out. */
  protected async settled(): Promise<void> {
    for (;;) {
      await Promise.all([...this.scansInFlight]);
      await Promise.all([this.queues.client.drained(), this.queues.upstream.drained()]);
      if (this.scansInFlight.size === 0) return;
    }
  }

  protected async startTls(leg: Leg, pending?: Buffer): Promise<void> {
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
}
