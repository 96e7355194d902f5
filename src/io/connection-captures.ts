// The capture store of a connection: each captured message is spooled, scanned once, streamed to a leg when the
// session says so, and discarded when nothing reads it any more.
import { asShieldError, ShieldError } from '../core/errors.js';
import type { SessionCommand } from '../core/session.js';
import { DotStuffer } from '../core/dot-stuffing.js';
import type { ScanAction } from '../core/scan-contract.js';
import { Capture } from './connection-record.js';
import { ConnectionLegs } from './connection-legs.js';

export abstract class ConnectionCaptures extends ConnectionLegs {
  protected async scan(id: number): Promise<void> {
    const cap = this.captures.get(id);
    if (!cap) return;
    let result: ScanAction;
    // Taken off the capture: from here the scan is finished, never abandoned (a discard now only drops the spool).
    const live = cap.live;
    cap.live = null;
    try {
      const body = await cap.spool.finish();
      const msg = {
        account: this.deps.account.name,
        protocol: this.deps.account.protocol,
        direction: cap.direction,
        ...body,
        connId: this.id,
        upstreamTls: this.upstreamTls,
      };
      result = await (live ? live.finish(msg) : this.deps.scanner.scan(msg));
    } catch (e) {
      live?.abort();
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

  protected sendCapture(c: Extract<SessionCommand, { type: 'send-capture' }>): void {
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
    // A capture is sent after its verdict, so complete; reading and queueing follow this one flag either way.
    const reusesBuffer = !replaced && cap.spool.onDisk;
    this.queues[c.to].stream(
      async function* (this: ConnectionCaptures) {
        try {
          const stuffer = framing === 'raw' ? null : new DotStuffer();
          const out = (b: Buffer) => (stuffer ? stuffer.push(b) : b);
          if (prefix) yield out(prefix);
          if (replaced) yield out(replaced);
          // A spooled message is read through one reused buffer: the queue asks for the next chunk only once the
          // socket has written this one (reusesBuffer). One in memory goes out as the chunks it arrived in.
          else for await (const chunk of reusesBuffer ? cap.spool.readReusing() : cap.spool.read()) yield out(chunk);
          if (stuffer) yield stuffer.end();
          if (suffix) yield suffix;
        } finally {
          cap.readers--;
          this.maybeDiscard(c.id, cap);
        }
      }.bind(this),
      { reusesBuffer },
    );
  }

  /** Frees a capture's live scan (worker, clamd socket) when the capture will never be complete. */
  protected abandonLive(cap: Capture): void {
    const live = cap.live;
    cap.live = null;
    live?.abort();
  }

  protected maybeDiscard(id: number, cap: Capture): void {
    if (!cap.discardRequested || cap.readers > 0) return;
    this.captures.delete(id);
    void cap.spool.discard();
  }
}
