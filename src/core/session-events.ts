// One place that turns a driver event into the session's handler for it, so the three protocol sessions share the
// dispatch instead of each repeating the same switch. A session implements SessionEventHandlers; what each handler
// does stays the protocol's own.
import type { ShieldError } from './errors.js';
import type { ScanAction } from './scan-contract.js';
import type { Leg, Session, SessionCommand, SessionEvent } from './session.js';
import type { UpstreamHandshakeFacts } from './tls-facts.js';

export interface SessionEventHandlers {
  onStart(upstreamFacts: UpstreamHandshakeFacts | null): void;
  onUpstreamFailed(error: ShieldError): void;
  onClientData(data: Buffer): void;
  onUpstreamData(data: Buffer): void;
  onTlsReady(leg: Leg, facts?: UpstreamHandshakeFacts): void;
  onTlsFailed(leg: Leg, error: ShieldError): void;
  onClosed(leg: Leg): void;
  onScanDone(id: number, result: ScanAction): void;
  onCaptureFailed(id: number, error: ShieldError): void;
  onTimer(name: string): void;
}

export function routeEvent(ev: SessionEvent, h: SessionEventHandlers): void {
  switch (ev.type) {
    case 'start':
      return h.onStart(ev.upstreamFacts);
    case 'upstream-failed':
      return h.onUpstreamFailed(ev.error);
    case 'data':
      return ev.from === 'client' ? h.onClientData(ev.data) : h.onUpstreamData(ev.data);
    case 'tls-ready':
      return h.onTlsReady(ev.leg, ev.facts);
    case 'tls-failed':
      return h.onTlsFailed(ev.leg, ev.error);
    case 'closed':
      return h.onClosed(ev.leg);
    case 'scan-done':
      return h.onScanDone(ev.id, ev.result);
    case 'capture-failed':
      return h.onCaptureFailed(ev.id, ev.error);
    case 'timer':
      return h.onTimer(ev.name);
  }
}

/**
 * The frame every protocol session shares: each event starts a fresh batch of commands, an ended session may answer
 * an event itself (`whenClosed`), the handler runs, then the session's own after-step (`afterEvent`: flushing what
 * became ready). A throw reaches the shared guard (session-guard.ts), which answers with internalErrorReply.
 */
export abstract class EventDrivenSession implements Session, SessionEventHandlers {
  protected out: SessionCommand[] = [];

  handle(event: SessionEvent): SessionCommand[] {
    this.out = [];
    if (this.whenClosed(event)) return this.out;
    routeEvent(event, this);
    this.afterEvent();
    return this.out;
  }

  /** True when the session has ended and `event` was dealt with here; by default the handlers see everything. */
  protected whenClosed(_event: SessionEvent): boolean {
    return false;
  }

  protected afterEvent(): void {}

  abstract internalErrorReply(error: ShieldError): string | Buffer;
  abstract onStart(upstreamFacts: UpstreamHandshakeFacts | null): void;
  abstract onUpstreamFailed(error: ShieldError): void;
  abstract onClientData(data: Buffer): void;
  abstract onUpstreamData(data: Buffer): void;
  abstract onTlsReady(leg: Leg, facts?: UpstreamHandshakeFacts): void;
  abstract onTlsFailed(leg: Leg, error: ShieldError): void;
  abstract onClosed(leg: Leg): void;
  abstract onScanDone(id: number, result: ScanAction): void;
  abstract onCaptureFailed(id: number, error: ShieldError): void;
  abstract onTimer(name: string): void;
}
