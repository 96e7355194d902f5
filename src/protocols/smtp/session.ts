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
import { log, send } from '../../core/session.js';
import type { Leg, Session, SessionCommand, SessionEvent, SessionOptions } from '../../core/session.js';
import { routeEvent, type SessionEventHandlers } from '../../core/session-events.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { heldClientInputBytes } from '../../core/limits.js';
import { ClientStartTlsGuard } from '../../core/starttls-guard.js';
import { UpstreamSetupStepper, type SetupOutcome } from '../../core/upstream-setup.js';
import { ClientFramer, ReplyFramer } from './framer.js';
import type { BareKind } from './data-decoder.js';
import type { ClientUnit, Reply } from './framer.js';
import { R, oneLine, ours, rewriteEhlo } from './replies.js';
import { HeaderSniffer, signatureFor } from './signature.js';
import type { SignatureParts } from './signature.js';
import { SmtpUpstreamSetup } from './upstream-setup.js';

export { SHIELD_EHLO_NAME } from './upstream-setup.js';

type Flight =
  /** A client command whose reply is relayed unchanged; `verb` tracks the transaction. */
  | { kind: 'relay'; verb: string }
  | { kind: 'ehlo' }
  | { kind: 'auth' }
  | { kind: 'quit' }
  /** Our own RSET after a refused message; its reply is not the client's business. */
  | { kind: 'rset' }
  | { kind: 'data-cmd'; id: number; parts: SignatureParts }
  | { kind: 'data-final'; id: number };

/** `setup`: the upstream setup (upstream-setup.ts) before the client is greeted. */
type Phase = 'wait-start' | 'setup' | 'ready' | 'client-tls' | 'closed';

interface Capture {
  id: number;
  state: 'receiving' | 'scanning' | 'delivering';
  sniffer: HeaderSniffer | null;
  failed: ShieldError | null;
  /** Content lines that begin with a dot; a footer is only added when there are none (see sendCapture). */
  dotLines: number;
}

const PIPELINABLE = new Set(['MAIL', 'RCPT', 'RSET']);

class SmtpSession implements Session, SessionEventHandlers {
  private out: SessionCommand[] = [];
  private phase: Phase = 'wait-start';
  private readonly client: ClientFramer;
  private readonly up: ReplyFramer;
  private readonly setup: UpstreamSetupStepper<Reply>;
  private readonly stls: ClientStartTlsGuard;
  private greeted = false;
  private secure: boolean;
  private needHelo = false;
  private inflight: Flight[] = [];
  private held: ClientUnit | null = null;
  private authCont = false;
  private txn = { mail: false, rcpts: 0 };
  private upSize: number | null = null;
  private upPipelining = false;
  private capture: Capture | null = null;
  private nextId = 1;
  /** Unframed client input allowed to wait while the session is blocked (pipelined commands). */
  private readonly backlogCap: number;

  constructor(private readonly opts: SessionOptions) {
    this.client = new ClientFramer(opts.limits.maxLineBytes);
    this.up = new ReplyFramer(opts.limits.maxLineBytes);
    this.secure = opts.clientSecure;
    this.backlogCap = Math.max(4 * opts.limits.maxLineBytes, 1024 * 1024);
    this.setup = new UpstreamSetupStepper(
      new SmtpUpstreamSetup(opts.account.upstreamTls === 'starttls'),
      opts.limits.upstreamGreetingTimeoutMs,
      opts.account.upstream,
      () => this.up.discard(),
    );
    this.stls = new ClientStartTlsGuard(heldClientInputBytes(opts.limits));
  }

  handle(ev: SessionEvent): SessionCommand[] {
    this.out = [];
    // A throw here reaches the shared guard (src/core/session-guard.ts), which answers with internalErrorReply.
    routeEvent(ev, this);
    return this.out;
  }

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

  // ---- helpers ----

  /** A method, not a field test, because handlers called in between may close the session. */
  private closed(): boolean {
    return this.phase === 'closed';
  }

  private toClient(s: string | Buffer): void {
    this.out.push(send('client', s));
  }

  private toUpstream(s: string | Buffer): void {
    this.out.push(send('upstream', s));
  }

  private closeAll(): void {
    this.phase = 'closed';
    this.setup.abandon(this.out);
    if (this.capture) {
      this.out.push({ type: 'capture-discard', id: this.capture.id });
      this.capture = null;
    }
    this.out.push({ type: 'close', leg: 'both' });
  }

  private resetTxn(): void {
    this.txn = { mail: false, rcpts: 0 };
  }

  private sizeCap(): number {
    const lim = this.opts.limits.maxMessageBytes;
    return this.upSize && this.upSize > 0 ? Math.min(lim, this.upSize) : lim;
  }

  private failBeforeGreeting(err: ShieldError): void {
    this.out.push(log('warn', 'upstream not usable; refusing the client', { code: err.code, error: err.message }));
    // 4.4.2: the connection to the server broke down (RFC 3463); 4.7.0: a security refusal.
    const enhanced = err.code === 'MS_ERR_UPSTREAM_GREETING_TIMEOUT' ? '4.4.2' : '4.7.0';
    this.toClient(ours(421, enhanced, err.toReplyText()));
    this.closeAll();
  }

  private greetClient(greeting: Buffer): void {
    this.greeted = true;
    this.toClient(greeting);
    this.pumpClient();
  }

  // ---- upstream ----

  onUpstreamData(data: Buffer): void {
    if (this.phase === 'closed') return;
    if (this.setup.awaitingTls) return this.setup.injected(data.length, this.out);
    this.up.push(data);
    if (this.phase !== 'wait-start') this.pumpUpstream();
  }

  private pumpUpstream(): void {
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
  private afterSetup(o: SetupOutcome, r: Reply | null): void {
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

  private onReply(r: Reply): void {
    if (this.phase === 'ready') this.relayReply(r);
  }

  private relayReply(r: Reply): void {
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
          return;
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
  private sendCapture(id: number, parts: SignatureParts): SessionCommand {
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

  private dropCapture(id: number): void {
    this.out.push({ type: 'capture-discard', id });
    if (this.capture?.id === id) this.capture = null;
  }

  private rsetUpstream(): void {
    this.toUpstream('RSET\r\n');
    this.inflight.push({ kind: 'rset' });
    this.resetTxn();
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

  private canProcess(u: ClientUnit): boolean {
    if (this.inflight.length === 0) return true;
    if (u.type !== 'line' || this.authCont || !this.upPipelining) return false;
    if (!PIPELINABLE.has(verbOf(u.line))) return false;
    return this.inflight.every((f) => (f.kind === 'relay' && PIPELINABLE.has(f.verb)) || f.kind === 'rset');
  }

  private pumpClient(): void {
    while (this.phase === 'ready') {
      if (this.capture && this.capture.state !== 'receiving') return;
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

  private onLineTooLong(): void {
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

  private onLine(line: Buffer): void {
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

  private onStartTls(): void {
    if (this.opts.account.clientTls !== 'starttls') return this.toClient(R.noStartTls);
    if (this.secure) return this.toClient(R.tlsActive);
    this.phase = 'client-tls';
    this.stls.begin(this.client.takeRest());
    // STARTTLS is not pipelinable (canProcess): every earlier reply has already gone out, so the go-ahead is due now.
    this.stls.goAhead(R.startTls, this.out);
  }

  private onData(): void {
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

  private onDataEnd(end: Extract<ClientUnit, { type: 'data-end' }>): void {
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
  private onBareRefused(kind: BareKind): void {
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
