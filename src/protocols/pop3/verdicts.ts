// POP3 verdicts: what a finished scan (or a failed capture) does to the held answer: released as is, replaced by
// the notice, or refused.
import { ShieldError } from '../../core/errors.js';
import { log, send, type SessionCommand } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { encodeMultiline, topOf } from './framer.js';
import * as R from './replies.js';
import { Entry } from './session-core.js';
import { Pop3UpstreamReplies } from './upstream-replies.js';

export abstract class Pop3Verdicts extends Pop3UpstreamReplies {
  // ---- scanning --------------------------------------------------------------------------------------------------

  onScanDone(id: number, result: ScanAction): void {
    const e = this.byCapture.get(id);
    if (!e || e.done) return;
    this.byCapture.delete(id);
    const n = e.msg!;
    this.unpend(e);
    this.out.push(log('info', 'message scanned', { msg: n, action: result.action, verdict: result.verdict.kind }));
    const discard: SessionCommand = { type: 'capture-discard', id };
    switch (result.action) {
      case 'release':
        this.verdicts.set(n, { kind: 'released' });
        if (e.top) {
          // Clean: now the client's own TOP may go upstream; its answer passes through.
          this.discard(id);
          if (this.closing) {
            this.failEntry(
              e,
              R.upstreamLost(new ShieldError('MS_ERR_UPSTREAM_CLOSED', 'the mail server closed the connection')),
            );
            return;
          }
          e.kind = 'multi';
          this.awaiting.push(e);
          this.out.push(send('upstream', e.top.command));
          return;
        }
        e.out.push(send('client', e.status!), { type: 'send-capture', id, to: 'client', framing: 'pop3-dot' }, discard);
        break;
      case 'replace': {
        this.verdicts.set(n, { kind: 'replaced', notice: result.notice, quarantineId: result.quarantineId });
        const body = e.top ? topOf(result.notice, e.top.lines) : result.notice;
        e.out.push(
          send(
            'client',
            Buffer.concat([R.replacedOk(result.notice.length, result.quarantineId), encodeMultiline(body)]),
          ),
          discard,
        );
        break;
      }
      case 'refuse':
        this.verdicts.set(n, { kind: 'refused', reply: result.reply });
        e.out.push(send('client', R.refused(n, result.reply)), discard);
        break;
      case 'tempfail':
        this.verdicts.delete(n);
        e.out.push(send('client', R.scanTempfail(n, result.reason)), discard);
        break;
    }
    e.done = true;
  }

  onCaptureFailed(id: number, error: ShieldError): void {
    const e = this.byCapture.get(id);
    if (!e || e.done) return;
    this.out.push(log('warn', 'capture failed', { msg: e.msg, code: error.code, error: error.message }));
    e.captureFailed = error;
    // Still reading its body: keep swallowing it, answer at its end. Otherwise answer now.
    if (!this.awaiting.includes(e)) this.resolveCaptureFailed(e, error);
  }

  protected resolveCaptureFailed(e: Entry, error: ShieldError): void {
    this.byCapture.delete(e.capture!);
    this.unpend(e);
    e.out.push(send('client', R.scanFailed(e.msg!, error)), { type: 'capture-discard', id: e.capture! });
    e.done = true;
  }
}
