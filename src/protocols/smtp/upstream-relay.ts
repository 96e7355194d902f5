// SMTP upstream: set-up before the client is greeted (upstream-setup.ts has the steps), and relaying the server's
// replies to the client in command order.
import { ShieldError } from '../../core/errors.js';
import { log } from '../../core/session.js';
import type { SessionCommand } from '../../core/session.js';
import type { SetupOutcome } from '../../core/upstream-setup.js';
import type { Reply } from './framer.js';
import { R, rewriteEhlo } from './replies.js';
import type { SignatureParts } from './signature.js';
import { SmtpSessionCore } from './session-core.js';

export abstract class SmtpUpstreamRelay extends SmtpSessionCore {
  // ---- upstream ----

  onUpstreamData(data: Buffer): void {
    if (this.phase === 'closed') return;
    if (this.setup.awaitingTls) return this.setup.injected(data.length, this.out);
    this.up.push(data);
    if (this.phase !== 'wait-start') this.pumpUpstream();
  }

  protected pumpUpstream(): void {
    while (this.phase !== 'closed' && !this.setup.awaitingTls) {
      const u = this.up.next();
      if (!u) return;
      if (u.type === 'error') {
        const err = new ShieldError(
          'MS_ERR_UPSTREAM_PROTOCOL',
          `the mail server sent an unreadable reply: ${u.reason}`,
        );
        if (!this.greeted) return this.failBeforeGreeting(err);
        this.out.push(log('warn', 'upstream protocol error', { code: err.code, error: u.reason }));
        this.toClient(R.upstreamBroken(u.reason));
        return this.closeAll();
      }
      if (this.phase === 'setup') this.afterSetup(this.setup.unit(u.reply, this.out), u.reply);
      else this.onReply(u.reply);
    }
  }

  /** Acts on what the upstream setup decided; `r` is the server reply it answers, if any. */
  protected afterSetup(o: SetupOutcome, r: Reply | null): void {
    switch (o.kind) {
      case 'pending':
        return;
      case 'refused':
        // The server refuses service; its own words go to the client (nothing else is relayed in clear).
        this.out.push(log('warn', 'upstream refused the session in its greeting', { reply: r?.code }));
        if (r) this.toClient(r.raw);
        return this.closeAll();
      case 'fail':
        return this.failBeforeGreeting(o.error);
      case 'done':
        this.phase = 'ready';
        return this.greetClient(o.greeting);
    }
  }

  protected onReply(r: Reply): void {
    if (this.phase === 'ready') this.relayReply(r);
  }

  protected relayReply(r: Reply): void {
    const f = this.inflight.shift();
    if (!f) {
      // Unsolicited: typically "421 timeout" before the server hangs up. Relay it.
      this.toClient(r.raw);
      if (r.code === 421) this.closeAll();
      return;
    }
    const ok = r.code >= 200 && r.code < 300;
    switch (f.kind) {
      case 'relay':
        this.toClient(r.raw);
        if (ok) {
          if (f.verb === 'MAIL') this.txn.mail = true;
          else if (f.verb === 'RCPT') this.txn.rcpts++;
          else if (f.verb === 'RSET') this.resetTxn();
          else if (f.verb === 'HELO') {
            this.resetTxn();
            this.needHelo = false;
          }
        }
        break;
      case 'ehlo':
        if (r.code === 250) {
          const hidden = this.opts.account.clientTls === 'starttls' && !this.secure;
          const { text, facts } = rewriteEhlo(r.lines, { offerStartTls: hidden, hideAuth: hidden });
          this.upSize = facts.size;
          this.upPipelining = facts.pipelining;
          this.resetTxn();
          this.needHelo = false;
          this.toClient(text);
        } else this.toClient(r.raw);
        break;
      case 'auth':
        this.toClient(r.raw);
        // 334: the next client line is a SASL response, not a command.
        this.authCont = r.code === 334;
        if (r.code === 235) this.out.push(log('info', 'client authenticated', { stage: 'auth' }));
        break;
      case 'quit':
        this.toClient(r.raw);
        this.closeAll();
        return;
      case 'rset':
        if (!ok) this.out.push(log('warn', 'server refused our RSET', { reply: r.code }));
        break;
      case 'data-cmd':
        if (r.code === 354) {
          this.inflight.unshift({ kind: 'data-final', id: f.id });
          this.out.push(this.sendCapture(f.id, f.parts));
          if (this.capture?.id === f.id) this.capture.state = 'submitted';
          // The client's next MAIL and RCPT may follow the message at once (pumpClient, canProcess).
          break;
        }
        // The server refused DATA itself: its reply, unchanged.
        this.toClient(r.raw);
        this.dropCapture(f.id);
        break;
      case 'data-final':
        this.toClient(r.raw);
        this.out.push(log(ok ? 'info' : 'warn', 'message submitted', { stage: 'data', reply: r.code }));
        this.dropCapture(f.id);
        // The transaction ends with the final reply, whatever it was (RFC 5321 section 4.1.1.4).
        this.resetTxn();
        break;
    }
    this.pumpClient();
  }

  /**
   * The delivery command. The driver dot-stuffs `prefix` and the capture and then writes the terminator; its `suffix`
   * goes after the terminator. A footer must sit inside the message, so it is sent with 'raw' framing: the capture
   * goes out unstuffed, which is exact only because the session checked that no content line begins with a dot
   * (`footerOk`), then the footer (stuffed here) and the terminator as the suffix.
   */
  protected sendCapture(id: number, parts: SignatureParts): SessionCommand {
    if (parts.footer) {
      const footer = parts.footer.toString('latin1').replace(/^\./gm, '..');
      return {
        type: 'send-capture',
        id,
        to: 'upstream',
        framing: 'raw',
        suffix: Buffer.from(`${footer}.\r\n`, 'latin1'),
      };
    }
    return {
      type: 'send-capture',
      id,
      to: 'upstream',
      framing: 'smtp-dot',
      ...(parts.prefix ? { prefix: parts.prefix } : {}),
    };
  }

  protected dropCapture(id: number): void {
    this.out.push({ type: 'capture-discard', id });
    if (this.capture?.id === id) this.capture = null;
  }

  protected rsetUpstream(): void {
    this.toUpstream('RSET\r\n');
    this.inflight.push({ kind: 'rset' });
    this.resetTxn();
  }
}
