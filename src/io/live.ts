// The one in-process source of live session data. Each shield owns one LiveHub; src/io/connection.ts tells it when a
// session opens, changes state (TLS up, holding or scanning a message) and closes, and the dashboard fans that out
// to its SSE clients. Nothing here touches the store, and with no listener an event costs one emit call.
import { EventEmitter } from 'node:events';
import type { ScanAction } from '../scan/types.js';

export type LiveState = 'connecting' | 'relaying' | 'holding' | 'scanning' | 'closed';

export interface LiveTls {
  version: string | null;
  cipher: string | null;
  /** Client leg: the signature scheme OpenSSL negotiated, when Node reports it. */
  signatureScheme?: string | null;
  /** Upstream leg: what `openssl s_client` calls Peer signing digest / Server Temp Key. */
  peerSigningDigest?: string | null;
  peerSignatureType?: string | null;
  serverTempKey?: string | null;
  /** Upstream leg: ok | warn | refused, from the policy's judgement of the certificate and handshake. */
  verdict?: string;
}

export interface LiveSession {
  id: string;
  account: string;
  protocol: string;
  clientAddress: string;
  startedAt: string;
  state: LiveState;
  clientTls: LiveTls | null;
  upstreamTls: LiveTls | null;
  bytesFromClient: number;
  bytesFromUpstream: number;
  outcome: string | null;
}

export type LiveEvent =
  | { type: 'session'; session: LiveSession }
  | { type: 'scan'; account: string; direction: string; action: ScanAction['action']; verdict: string; at: string };

/** Something that can describe itself now (a Connection), so byte counts are read when asked, not per chunk. */
export interface LiveSource {
  readonly liveClosed: boolean;
  snapshot(): LiveSession;
}

export class LiveHub extends EventEmitter<{ event: [LiveEvent] }> {
  private readonly open = new Set<LiveSource>();

  /** A session changed; `closed` removes it from sessions(). */
  changed(src: LiveSource): void {
    if (src.liveClosed) this.open.delete(src);
    else this.open.add(src);
    if (this.listenerCount('event') > 0) this.emit('event', { type: 'session', session: src.snapshot() });
  }

  scanned(e: Omit<Extract<LiveEvent, { type: 'scan' }>, 'type'>): void {
    if (this.listenerCount('event') > 0) this.emit('event', { type: 'scan', ...e });
  }

  sessions(): LiveSession[] {
    return [...this.open].map((s) => s.snapshot());
  }
}
