// The SMTP submission shield as a pure state machine (see src/core/session.ts for the vocabulary).
//
// Shape of a session:
//   1. Upstream setup. Implicit TLS: the driver already did it; relay the server's greeting. STARTTLS: read the
//      greeting, say EHLO, require STARTTLS in the answer, send STARTTLS, read 220, start TLS. Only then is the
//      client greeted (with the server's own greeting text), so the upstream leg is encrypted before the client's
//      EHLO or AUTH is relayed. A missing or refused STARTTLS is a downgrade: the client gets 421 and the session
//      ends; there is no plaintext fallback.
//   2. Relay. Client commands are relayed one reply at a time, in order. MAIL/RCPT/RSET may be pipelined to the
//      server when it offers PIPELINING (RFC 2920 lets them sit anywhere in a group); any other command waits until
//      every earlier reply was relayed, so replies always reach the client in command order and a command we answer
//      ourselves can never overtake a server reply. We read everything the client sends (bounded), so neither side
//      can deadlock us by not reading.
//   3. DATA. Design choice: the server sees DATA only after the scan.
//      We answer the client's DATA with our own 354, capture and scan the message, and only for a clean message send
//      DATA to the server, wait for its 354, stream the message and relay the server's final reply unchanged. This is
//      the only order that gives both guarantees at once:
//        - "the server never receives an infected message": had we sent DATA first, the server would be in its data
//          phase during the scan, and the only ways out are "." (which submits the message) or dropping the
//          connection (which kills the client's session);
//        - "nothing is accepted on the server's behalf": 354 is an invitation, not an acceptance; the 250 the client
//          sees is the server's. If the server refuses DATA itself (say 554, no valid recipients), that reply is
//          relayed unchanged too.
//      The price is that a server-side DATA refusal arrives after the client sent its body, which is harmless.
//      An infected message gets 554 5.7.1, a scanner failure 451 4.7.0, and the server gets RSET (its reply is
//      swallowed) so the session stays usable for the next message.
//   4. Bare line endings and SMTP smuggling (CVE-2023-51766 class: servers disagree on where "<LF>.<LF>" ends a
//      message, so bytes after a fake end can run as a second, forged transaction). The message ends only at
//      <CR><LF>.<CR><LF>. Under smtp.bareLineEndings: normalize (the default) a bare LF or CR is a line end and
//      becomes CRLF and a NUL is removed, then the driver dot-stuffs the message again for the server, so no client
//      bytes can end the server's DATA early whatever its parser does (data-decoder.ts has the rules). The bytes
//      scanned and quarantined are that normalized message, exactly what goes upstream. Under `reject` the first such
//      byte gets 554 and the session closes: the client's idea of where the message ends is unknown, so we never
//      go back to reading commands in the middle of its data. (Normalizing keeps DKIM signatures valid: DKIM signs
//      the CRLF form of a message, RFC 6376 section 5.3.)
import { ShieldError } from '../../core/errors.js';
import { log } from '../../core/session.js';
import type { Leg, Session, SessionOptions } from '../../core/session.js';
import type { SessionEventHandlers } from '../../core/session-events.js';
import type { ClientUnit } from './framer.js';
import { R, oneLine, ours } from './replies.js';
import { PIPELINABLE, type Flight } from './session-core.js';
import { SmtpDataFlow } from './data-flow.js';

export { SHIELD_EHLO_NAME } from './upstream-setup.js';

class SmtpSession extends SmtpDataFlow implements Session, SessionEventHandlers {
  internalErrorReply(error: ShieldError): string {
    return ours(421, '4.3.0', error.toReplyText());
  }

  // ---- driver events (core/session-events.ts) ---------------------------------------------------------------------

  onStart(): void {
    if (this.phase !== 'wait-start') return;
    this.phase = 'setup';
    this.setup.begin(this.out);
    this.pumpUpstream();
  }

  onUpstreamFailed(error: ShieldError): void {
    if (this.phase === 'closed') return;
    this.failBeforeGreeting(error);
  }

  onTlsReady(leg: Leg): void {
    if (leg === 'upstream' && this.phase === 'setup') {
      this.afterSetup(this.setup.tlsReady(this.out), null);
    } else if (leg === 'client' && this.phase === 'client-tls') {
      this.stls.tlsReady();
      this.secure = true;
      this.needHelo = true;
      this.resetTxn();
      this.phase = 'ready';
      this.out.push(log('info', 'client TLS established', { stage: 'starttls' }));
      this.pumpClient();
    }
  }

  onTlsFailed(leg: Leg, error: ShieldError): void {
    if (this.phase === 'closed') return;
    if (leg === 'upstream' && !this.greeted) {
      this.failBeforeGreeting(error);
    } else {
      this.out.push(log('warn', `${leg} TLS failed`, { code: error.code, error: error.message }));
      this.closeAll();
    }
  }

  onTimer(name: string): void {
    const o = this.setup.timer(name);
    if (o.kind === 'fail' && this.phase !== 'closed') this.failBeforeGreeting(o.error);
  }

  // ---- client ----

  onClientData(data: Buffer): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'client-tls') {
      this.stls.push(data, this.out);
      return;
    }
    if (!this.greeted) {
      // RFC 5321 section 4.3.1: the client waits for the greeting. Early talk is a broken or hostile client.
      this.out.push(log('warn', 'client sent data before the greeting', { code: 'MS_ERR_CLIENT_PROTOCOL' }));
      this.toClient(R.earlyTalker);
      return this.closeAll();
    }
    this.client.push(data);
    this.pumpClient();
    if (!this.closed() && !this.client.inData && this.client.buffered > this.backlogCap) {
      this.out.push(log('warn', 'client pipelined too much input', { code: 'MS_ERR_CLIENT_PROTOCOL' }));
      this.toClient(R.tooMuchPipelined);
      this.closeAll();
    }
  }

  /**
   * Whether a client unit may be acted on now. With server PIPELINING, MAIL/RCPT/RSET may join a group behind other
   * pipelinable commands, and behind a submitted message: RFC 2920 lets message content open a group, so the next
   * transaction's MAIL and RCPT reach the server right behind the message's end, not a round trip later (overlap
   * across messages, issue 15). The replies still come back, and are relayed, in command order.
   */
  protected canProcess(u: ClientUnit): boolean {
    if (this.inflight.length === 0) return true;
    if (u.type !== 'line' || this.authCont || !this.upPipelining) return false;
    if (!PIPELINABLE.has(verbOf(u.line))) return false;
    return this.inflight.every(
      (f) => (f.kind === 'relay' && PIPELINABLE.has(f.verb)) || f.kind === 'rset' || f.kind === 'data-final',
    );
  }

  protected pumpClient(): void {
    while (this.phase === 'ready') {
      // While a message is scanned or its DATA awaits the server's 354, nothing may go upstream before it; the
      // client's next commands wait in the framer (bounded by backlogCap).
      if (this.capture && this.capture.state !== 'receiving' && this.capture.state !== 'submitted') return;
      const u = this.held ?? this.client.next();
      this.held = null;
      if (!u) return;
      if (u.type === 'data') {
        this.out.push({ type: 'capture-data', id: this.capture!.id, data: u.data });
        this.capture!.sniffer?.push(u.data);
        continue;
      }
      if (u.type === 'data-end') {
        this.capture!.dotLines = u.dotLines;
        this.onDataEnd(u);
        continue;
      }
      if (u.type === 'data-invalid') return this.onBareRefused(u.kind);
      if (!this.canProcess(u)) {
        this.held = u;
        return;
      }
      if (u.type === 'line-too-long') this.onLineTooLong();
      else this.onLine(u.line);
    }
  }

  protected onLineTooLong(): void {
    this.out.push(log('warn', 'client line too long', { code: 'MS_ERR_CLIENT_LINE_TOO_LONG' }));
    if (this.authCont) {
      // The server waits for a SASL response: cancel the exchange (RFC 4954 "*") and relay its answer.
      this.authCont = false;
      this.toUpstream('*\r\n');
      this.inflight.push({ kind: 'auth' });
      return;
    }
    this.toClient(R.lineTooLong(this.opts.limits.maxLineBytes));
  }

  protected onLine(line: Buffer): void {
    if (this.authCont) {
      // A SASL response (or "*"): relayed as is, never parsed or logged.
      this.authCont = false;
      this.toUpstream(Buffer.concat([line, Buffer.from('\r\n')]));
      this.inflight.push({ kind: 'auth' });
      return;
    }
    const verb = verbOf(line);
    const relay = (f: Flight) => {
      this.toUpstream(Buffer.concat([line, Buffer.from('\r\n')]));
      this.inflight.push(f);
    };
    this.out.push(log('debug', 'client command', { verb }));
    switch (verb) {
      case 'EHLO':
        return relay({ kind: 'ehlo' });
      case 'HELO':
        return relay({ kind: 'relay', verb });
      case 'STARTTLS':
        return this.onStartTls();
      case 'AUTH':
        if (this.opts.account.clientTls === 'starttls' && !this.secure) {
          this.out.push(log('warn', 'client tried AUTH before STARTTLS', { code: 'MS_ERR_CLIENT_TLS_REQUIRED' }));
          return this.toClient(R.tlsRequired);
        }
        if (this.needHelo) return this.toClient(R.heloFirst);
        // The mechanism name only: an initial response may carry credentials.
        this.out.push(log('info', 'client AUTH', { stage: 'auth', mechanism: argWord(line, 1).toUpperCase() }));
        return relay({ kind: 'auth' });
      case 'BDAT': {
        const n = Number(argWord(line, 1));
        if (Number.isSafeInteger(n) && n > 0) this.client.skip(n);
        return this.toClient(R.noChunking);
      }
      case 'DATA':
        return this.onData();
      case 'MAIL':
      case 'RCPT':
        if (this.needHelo) return this.toClient(R.heloFirst);
        return relay({ kind: 'relay', verb });
      case 'QUIT':
        return relay({ kind: 'quit' });
      default:
        return relay({ kind: 'relay', verb });
    }
  }

  protected onStartTls(): void {
    if (this.opts.account.clientTls !== 'starttls') return this.toClient(R.noStartTls);
    if (this.secure) return this.toClient(R.tlsActive);
    this.phase = 'client-tls';
    this.stls.begin(this.client.takeRest());
    // STARTTLS is not pipelinable (canProcess): every earlier reply has already gone out, so the go-ahead is due now.
    this.stls.goAhead(R.startTls, this.out);
  }

  onClosed(leg: 'client' | 'upstream'): void {
    if (this.phase === 'closed') return;
    if (leg === 'client') {
      if (this.capture?.state === 'receiving')
        // Half a message: discarded, never delivered or quarantined as if complete.
        this.out.push(log('warn', 'client vanished in the middle of DATA', { code: 'MS_ERR_CLIENT_VANISHED' }));
      return this.closeAll();
    }
    if (!this.greeted)
      return this.failBeforeGreeting(
        new ShieldError('MS_ERR_UPSTREAM_CLOSED', 'the mail server closed the connection before the session began'),
      );
    this.out.push(log('warn', 'upstream closed the connection', { code: 'MS_ERR_UPSTREAM_CLOSED' }));
    this.toClient(R.upstreamGone);
    this.closeAll();
  }
}

function verbOf(line: Buffer): string {
  const sp = line.indexOf(0x20);
  return line
    .subarray(0, sp < 0 ? Math.min(line.length, 16) : Math.min(sp, 16))
    .toString('latin1')
    .toUpperCase();
}

function argWord(line: Buffer, n: number): string {
  return oneLine(line.toString('latin1')).split(/\s+/)[n] ?? '';
}

export function createSmtpSession(opts: SessionOptions): Session {
  return new SmtpSession(opts);
}
