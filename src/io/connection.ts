// Runs one client connection: brings up both legs, feeds socket bytes to the protocol session as events, and carries
// out the session's commands (writes, STARTTLS upgrades, capture spooling, scans, timers, logs). All protocol logic
// lives in the session; this file only does I/O.
import { asShieldError } from '../core/errors.js';
import type { Leg, Session, SessionCommand, SessionEvent } from '../core/session.js';
import { GuardedSession } from '../core/session-guard.js';
import { EventQueue } from '../core/event-queue.js';
import type { LiveSource } from './live.js';
import { Spool } from './spool.js';
import { ConnectionCaptures } from './connection-captures.js';

export {
  flowChannel,
  newConnectionId,
  type ConnectionDeps,
  type FlowEvent,
  type FlowState,
} from './connection-record.js';

export class Connection extends ConnectionCaptures implements LiveSource {
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

  protected async runLegs(): Promise<void> {
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

  /** Every event goes through the queue, so the session never hears one while it is still running its last batch. */
  protected readonly events = new EventQueue<SessionEvent>(
    (event) => this.handleEvent(event),
    (dropped) => this.internalFailure(new Error(`session fed itself ${dropped} events too many`), 'driver event loop'),
  );

  protected feed(event: SessionEvent): void {
    this.events.push(event);
  }

  protected handleEvent(event: SessionEvent): void {
    if (!this.session || (this.closed && event.type !== 'scan-done')) return;
    // The guard catches a throwing session; a throwing command is the driver's own fault, answered the same way.
    try {
      for (const c of this.session.handle(event)) this.exec(c);
    } catch (e) {
      this.internalFailure(e, `driver, on a ${event.type} event`);
    }
  }

  /** An unexpected error: the client is told in its protocol (session-guard.ts), the connection closes. */
  protected internalFailure(e: unknown, where: string): void {
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

  protected exec(c: SessionCommand): void {
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
          // Scanned as it arrives (issue 15): the verdict is ready a few ms after the last byte.
          live:
            this.deps.scanner.begin?.({
              account: this.deps.account.name,
              protocol: this.deps.account.protocol,
              direction: c.direction,
              connId: this.id,
            }) ?? null,
          direction: c.direction,
          result: null,
          readers: 0,
          discardRequested: false,
        });
        this.tellLive();
        return;
      case 'capture-data': {
        const cap = this.captures.get(c.id);
        if (!cap) return;
        const err = cap.spool.push(c.data);
        if (err) {
          // The capture is lost (size limit, disk): so is its scan.
          this.abandonLive(cap);
          this.feed({ type: 'capture-failed', id: c.id, error: err });
          return;
        }
        cap.live?.write(c.data);
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
        // Discarded before its end (the client went, the session gave up on it): the live scan is freed now.
        this.abandonLive(cap);
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

  protected close(which: Leg | 'both'): void {
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

  protected async finishAfterDrain(): Promise<void> {
    await Promise.all([this.queues.client.drained(), this.queues.upstream.drained()]);
    this.finish();
  }

  protected fail(leg: Leg, e: unknown): void {
    this.log.warn({ leg, err: e instanceof Error ? e.message : String(e) }, 'write failed');
    this.close('both');
  }

  protected touch(): void {
    if (this.idleTimer) this.idleTimer.refresh();
    else
      this.idleTimer = setTimeout(() => {
        this.log.info({ idleMs: this.deps.limits.idleTimeoutMs }, 'idle timeout');
        this.outcome = 'idle-timeout';
        this.close('both');
      }, this.deps.limits.idleTimeoutMs);
  }

  protected finish(): void {
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
}
