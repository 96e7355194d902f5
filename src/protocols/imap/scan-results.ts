// IMAP scan results: what a verdict (or a failed capture) does to the held FETCH or APPEND it belongs to.
import { ShieldError } from '../../core/errors.js';
import { log, send } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { literalMarker } from './replies.js';
import { cachedVerdict, scanFailureText } from './verdict-cache.js';
import { ImapAppendRelay } from './append-relay.js';

export abstract class ImapScanResults extends ImapAppendRelay {
  // ---------------------------------------------------------------- scan results

  onScanDone(id: number, result: ScanAction): void {
    const cap = this.captures.get(id);
    this.captures.delete(id);
    if (!cap || cap.failed) {
      this.out.push({ type: 'capture-discard', id });
      return;
    }
    this.out.push(
      log(result.action === 'release' ? 'debug' : 'info', 'message scanned', {
        action: result.action,
        verdict: result.verdict.kind,
      }),
    );
    switch (cap.kind) {
      case 'append':
        cap.msg.result = result;
        this.settleAppend(cap.state);
        return;
      case 'own': {
        this.out.push({ type: 'capture-discard', id });
        this.ownByKey.delete(cap.own.key);
        const v = cachedVerdict(result);
        if (!v) {
          this.failWaiters(cap.own.key, scanFailureText(result));
          return;
        }
        this.verdicts.remember(cap.own.key, v);
        this.resolveWaiters(cap.own.key, v);
        return;
      }
      case 'full': {
        const { ctx, slot } = cap;
        ctx.fullPending--;
        const v = cachedVerdict(result);
        if (!v || ctx.failed) {
          this.out.push({ type: 'capture-discard', id });
          if (!v) this.failFetch(ctx, scanFailureText(result));
          return;
        }
        const uid = ctx.parser.uid;
        if (uid !== null && ctx.epochKey) this.verdicts.remember(this.verdicts.key(ctx.epochKey, uid), v);
        else if (!ctx.done) ctx.verdicts.push(v);
        for (const d of ctx.descs) if (d.done) this.resolveDesc(d, v);
        if (result.action === 'release') {
          const size = result.bytes?.length ?? cap.size;
          this.toClient.resolve(slot, [
            send('client', literalMarker(size, cap.binary)),
            { type: 'send-capture', id, to: 'client', framing: 'raw' },
            { type: 'capture-discard', id },
          ]);
        } else if (v.kind === 'infected') {
          this.toClient.resolve(slot, [
            send('client', Buffer.concat([Buffer.from(literalMarker(v.notice.length, cap.binary)), v.notice])),
            { type: 'capture-discard', id },
          ]);
        }
        return;
      }
    }
  }

  onCaptureFailed(id: number, error: ShieldError): void {
    const cap = this.captures.get(id);
    if (!cap || cap.failed) return;
    cap.failed = true;
    this.out.push(log('warn', 'capture failed', { code: error.code }));
    this.out.push({ type: 'capture-discard', id });
    switch (cap.kind) {
      case 'append':
        cap.msg.failed = error;
        this.captures.delete(id);
        this.settleAppend(cap.state);
        return;
      case 'own':
        this.ownByKey.delete(cap.own.key);
        this.failWaiters(cap.own.key, error.toReplyText());
        return;
      case 'full':
        cap.ctx.fullPending--;
        this.failFetch(cap.ctx, error.toReplyText());
        return;
    }
  }
}
