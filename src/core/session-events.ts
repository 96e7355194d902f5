// One place that turns a driver event into the session's handler for it, so the three protocol sessions share the
// dispatch instead of each repeating the same switch. A session implements SessionEventHandlers; what each handler
// does stays the protocol's own.
import type { ShieldError } from './errors.js';
import type { ScanAction } from './scan-contract.js';
import type { Leg, SessionEvent } from './session.js';
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
