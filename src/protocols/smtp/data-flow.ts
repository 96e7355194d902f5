// SMTP DATA: our own 354, the capture and its scan, and delivery of a clean message (DATA upstream, the message,
// the server's own final reply); an infected one is refused and the server gets RSET. Why in this order: session.ts.
import { ShieldError } from '../../core/errors.js';
import { log } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import type { BareKind } from './data-decoder.js';
import type { ClientUnit } from './framer.js';
import { R, ours } from './replies.js';
import { HeaderSniffer, signatureFor } from './signature.js';
import { SmtpUpstreamRelay } from './upstream-relay.js';

export abstract class SmtpDataFlow extends SmtpUpstreamRelay {
  protected onData(): void {
    if (this.needHelo) return this.toClient(R.heloFirst);
    if (!this.txn.mail) return this.toClient(R.needMail);
    if (this.txn.rcpts === 0) return this.toClient(R.noRcpt);
    const id = this.nextId++;
    const sig = this.opts.config.actions.outgoingSignature;
    this.capture = {
      id,
      state: 'receiving',
      sniffer: sig.mode === 'footer' ? new HeaderSniffer() : null,
      failed: null,
      dotLines: 0,
    };
    this.toClient(R.dataGo);
    this.out.push({ type: 'capture-start', id, direction: 'outgoing' });
    this.client.startData(this.sizeCap(), this.opts.config.smtp.bareLineEndings);
  }

  protected onDataEnd(end: Extract<ClientUnit, { type: 'data-end' }>): void {
    const c = this.capture!;
    const { lf, cr, nul } = end.normalized;
    if (lf + cr + nul > 0)
      // Common and harmless (Python's smtplib sends LF), but worth a trace: it may also be a smuggling attempt.
      this.out.push(
        log('info', 'bare line endings normalized to CRLF', {
          code: 'MS_ERR_CLIENT_BARE_LINE_ENDING',
          bareLf: lf,
          bareCr: cr,
          nul,
        }),
      );
    if (c.failed || end.tooBig) {
      if (c.failed) this.toClient(ours(451, '4.3.0', c.failed.toReplyText()));
      else {
        this.out.push(log('warn', 'message too big', { code: 'MS_ERR_CLIENT_MESSAGE_TOO_LARGE', size: end.size }));
        this.toClient(R.tooBig(this.sizeCap()));
      }
      this.dropCapture(c.id);
      this.rsetUpstream();
      return;
    }
    c.state = 'scanning';
    this.out.push({ type: 'capture-end', id: c.id });
  }

  /** smtp.bareLineEndings: reject. The server never saw DATA, so closing leaves nothing half-sent there. */
  protected onBareRefused(kind: BareKind): void {
    this.out.push(
      log('warn', `message with ${kind === 'NUL' ? 'a NUL byte' : `a bare ${kind}`} refused; closing`, {
        code: 'MS_ERR_CLIENT_BARE_LINE_ENDING',
      }),
    );
    this.toClient(R.bareRefused(kind));
    this.closeAll();
  }

  onScanDone(id: number, result: ScanAction): void {
    const c = this.capture;
    if (this.phase === 'closed' || !c || c.id !== id || c.state !== 'scanning') return;
    switch (result.action) {
      case 'release': {
        const sig = this.opts.config.actions.outgoingSignature;
        let parts = signatureFor(sig, c.sniffer?.headers() ?? null);
        if (parts.footer && (c.dotLines > 0 || result.bytes))
          parts = {
            skipped: result.bytes ? 'the scan replaced the message bytes' : 'body has lines starting with a dot',
          };
        if (parts.skipped) this.out.push(log('info', 'outgoing signature skipped', { reason: parts.skipped }));
        c.state = 'delivering';
        this.toUpstream('DATA\r\n');
        this.inflight.push({ kind: 'data-cmd', id, parts });
        return;
      }
      case 'refuse':
      case 'replace': {
        const text = result.action === 'refuse' ? result.reply : 'message refused by the scan';
        const qid = result.quarantineId;
        const withId = text.includes(qid) ? text : `${text} (quarantine id ${qid})`;
        this.out.push(log('warn', 'outgoing message refused', { stage: 'data', quarantineId: qid }));
        this.toClient(ours(554, '5.7.1', withId));
        break;
      }
      case 'tempfail':
        this.out.push(log('warn', 'outgoing message tempfailed', { stage: 'data', reason: result.reason }));
        this.toClient(ours(451, '4.7.0', result.reason));
        break;
    }
    this.dropCapture(id);
    this.rsetUpstream();
    this.pumpClient();
  }

  onCaptureFailed(id: number, error: ShieldError): void {
    const c = this.capture;
    if (this.phase === 'closed' || !c || c.id !== id) return;
    this.out.push(log('warn', 'capture failed', { code: error.code, error: error.message }));
    if (c.state === 'receiving') {
      // Keep reading to the end of the message, then answer 451.
      c.failed = error;
      return;
    }
    if (c.state === 'scanning') {
      this.toClient(ours(451, '4.3.0', error.toReplyText()));
      this.dropCapture(id);
      this.rsetUpstream();
      this.pumpClient();
    }
  }
}
