// The POP3 shield as a sans-I/O state machine: upstream STLS before the client sees anything, greeting passthrough
// (APOP timestamps survive), CAPA rewriting, client STLS with injection defence, login gating, and capture + scan of
// every RETR. Pipelined commands are answered in client order even while a scan is pending.
//
// Two queues keep that order honest. `awaiting` lists the responses expected from upstream, in the order commands
// were sent there; `outQueue` lists every client-visible answer in the order the client asked. An entry's client
// output is held in `entry.out` until every earlier answer has been written, so a slow scan of message 1 never lets
// the reply to a later command overtake it, while captures of later messages keep streaming to the spool.
import { ShieldError } from '../../core/errors.js';
import type { SessionEventHandlers } from '../../core/session-events.js';
import { log, send, type Leg, type Session, type SessionOptions } from '../../core/session.js';
import { LINE_TOO_LONG, LineFramer, encodeMultiline, messageNumber, parseCommand, topOf, type Line } from './framer.js';
import { ListBodyRewriter } from './list-view.js';
import * as R from './replies.js';
import { Entry } from './session-core.js';
import { Pop3Verdicts } from './verdicts.js';

class Pop3Session extends Pop3Verdicts implements Session, SessionEventHandlers {
  protected override whenClosed(): boolean {
    return this.phase === 'closed';
  }

  protected override afterEvent(): void {
    this.resumeDeferred();
    // Answers that became ready go out before the commands they unblocked, so the transcript reads in order.
    this.flush();
    if (this.phase === 'ready') this.pumpClient();
    this.flush();
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------------

  onStart(): void {
    if (this.phase !== 'init') return;
    this.phase = 'setup';
    this.setup.begin(this.out);
    // A greeting that arrived before `start` is waiting in the framer.
    this.onUpstreamData(Buffer.alloc(0));
  }

  onUpstreamFailed(error: ShieldError): void {
    this.failUpstream(error);
  }

  onTlsFailed(leg: Leg, error: ShieldError): void {
    if (leg === 'upstream') this.failUpstream(error);
    else this.abort('error', 'client TLS handshake failed', error);
  }

  onTimer(name: string): void {
    const o = this.setup.timer(name);
    if (o.kind === 'fail') this.failUpstream(o.error);
  }

  protected failUpstream(error: ShieldError): void {
    this.out.push(log('error', 'upstream failed', { code: error.code, error: error.message }));
    this.out.push(send('client', R.upstreamFailed(error)));
    this.discardAll();
    this.setup.abandon(this.out);
    this.out.push({ type: 'close', leg: 'both' });
    this.phase = 'closed';
  }

  protected abort(level: 'warn' | 'error', msg: string, error?: ShieldError): void {
    this.out.push(log(level, msg, error ? { code: error.code, error: error.message } : undefined));
    this.discardAll();
    this.setup.abandon(this.out);
    this.out.push({ type: 'close', leg: 'both' });
    this.phase = 'closed';
  }

  protected discardAll(): void {
    for (const id of this.liveCaptures) this.out.push({ type: 'capture-discard', id });
    this.liveCaptures.clear();
  }

  onTlsReady(leg: 'client' | 'upstream'): void {
    if (leg === 'upstream') {
      if (this.phase !== 'setup' || !this.setup.awaitingTls) return;
      // Forget everything learned in plaintext; the client now sees the original greeting (its APOP timestamp too).
      this.upIn = new LineFramer(this.opts.limits.maxLineBytes);
      this.out.push(log('info', 'upstream STLS complete'));
      this.afterSetup(this.setup.tlsReady(this.out), null);
      return;
    }
    if (this.stls.state !== 'handshaking') return;
    // The client must ask CAPA again; nothing it sent in plaintext survives (RFC 2595 §4).
    this.stls.tlsReady();
    this.clientSecure = true;
    this.clientIn.drain();
    this.out.push(log('info', 'client STLS complete'));
  }

  onClosed(leg: 'client' | 'upstream'): void {
    if (leg === 'client') {
      // Never QUIT upstream for a vanished client: QUIT commits its DELEs (RFC 1939 UPDATE state).
      const midTransfer = this.awaiting.length > 0 || this.liveCaptures.size > 0;
      const fields = midTransfer ? { code: 'MS_ERR_CLIENT_VANISHED' } : undefined;
      this.out.push(log(midTransfer ? 'warn' : 'info', 'client closed', fields));
      this.discardAll();
      this.out.push({ type: 'close', leg: 'both' });
      this.phase = 'closed';
      return;
    }
    if (this.phase !== 'ready') {
      this.failUpstream(
        new ShieldError(
          'MS_ERR_UPSTREAM_CLOSED',
          `the mail server ${this.opts.account.upstream} closed the connection before greeting`,
          {
            fix: 'check that upstream and upstreamTls match the server (995 is implicit TLS, 110 is STLS)',
          },
        ),
      );
      return;
    }
    const what = this.awaiting[0];
    if (what) {
      const e = new ShieldError(
        'MS_ERR_UPSTREAM_CLOSED',
        what.kind === 'retr'
          ? `the mail server closed the connection in the middle of message ${what.msg}; nothing was kept`
          : `the mail server closed the connection before answering ${what.verb}`,
      );
      this.out.push(log('warn', 'upstream closed mid-response', { code: e.code, verb: what.verb }));
      const later = new ShieldError('MS_ERR_UPSTREAM_CLOSED', 'the mail server closed the connection before answering');
      for (const entry of this.awaiting) this.failEntry(entry, R.upstreamLost(entry === what ? e : later));
      this.awaiting.length = 0;
      this.upBody = false;
    }
    this.closing = true;
  }

  /** Answers an entry with an error line, dropping any capture it had. */
  protected failEntry(entry: Entry, reply: Buffer): void {
    if (entry.capture !== undefined) this.discard(entry.capture);
    this.unpend(entry);
    if (!entry.started) entry.out.push(send('client', reply));
    entry.done = true;
  }

  protected discard(id: number): void {
    if (this.liveCaptures.delete(id)) this.out.push({ type: 'capture-discard', id });
  }

  protected unpend(e: Entry): void {
    if (!e.pending || e.msg === undefined) return;
    e.pending = false;
    const left = (this.pendingVerdict.get(e.msg) ?? 1) - 1;
    if (left > 0) this.pendingVerdict.set(e.msg, left);
    else this.pendingVerdict.delete(e.msg);
  }

  // ---- client side -----------------------------------------------------------------------------------------------

  onClientData(data: Buffer): void {
    if (this.stls.active) {
      if (!this.stls.push(data, this.out)) this.tooMuchClientInput();
      return;
    }
    this.clientIn.push(data);
    if (this.clientIn.buffered > this.maxHeldClientBytes) this.tooMuchClientInput();
  }

  protected tooMuchClientInput(): void {
    this.out.push(send('client', R.inputTooLarge(this.maxHeldClientBytes)));
    this.abort('warn', 'client sent too much ahead of replies');
  }

  protected pumpClient(): void {
    while (this.phase === 'ready' && !this.closing && !this.stls.active) {
      const line = this.heldLine ?? this.clientIn.next();
      this.heldLine = null;
      if (line === null) return;
      if (line === LINE_TOO_LONG) {
        this.out.push(send('client', R.lineTooLong(this.opts.limits.maxLineBytes)));
        this.abort(
          'warn',
          'client line too long',
          new ShieldError('MS_ERR_CLIENT_LINE_TOO_LONG', 'client line too long'),
        );
        return;
      }
      if (this.authActive) {
        // SASL continuation lines are credentials, not commands: relay them and never log them.
        this.out.push(send('upstream', line.bytes));
        continue;
      }
      if (!this.command(line)) {
        this.heldLine = line;
        return;
      }
      // Per command, so the output does not depend on how many commands one read carried.
      this.flush();
    }
  }

  /**
   * Decides the deferred commands whose message has its verdict now. What the command makes (an upstream command, a
   * local answer, a hidden RETR) takes the placeholder's place in outQueue, so the client's order holds; upstream
   * answers are matched by `awaiting`, which follows the order commands went up.
   */
  protected resumeDeferred(): void {
    for (let i = 0; i < this.outQueue.length; i++) {
      const d = this.outQueue[i]!.deferred;
      if (!d || this.pendingVerdict.has(d.msg) || this.phase !== 'ready') continue;
      if (this.closing) {
        const e = new ShieldError('MS_ERR_UPSTREAM_CLOSED', 'the mail server closed the connection before answering');
        this.outQueue[i] = { kind: 'local', verb: '', out: [send('client', R.upstreamLost(e))], done: true };
        continue;
      }
      this.outQueue.splice(i, 1);
      const tail = this.outQueue.length;
      this.command(d.line);
      const made = this.outQueue.splice(tail);
      this.outQueue.splice(i, 0, ...made);
      i += made.length - 1;
    }
  }

  protected enqueue(entry: Entry, upstream?: Buffer): void {
    this.outQueue.push(entry);
    if (upstream) {
      this.awaiting.push(entry);
      this.out.push(send('upstream', upstream));
    }
  }

  protected local(verb: string, reply: Buffer): void {
    this.outQueue.push({ kind: 'local', verb, out: [send('client', reply)], done: true });
  }

  /** Handles one client command. Returns false when it must wait for a pending verdict. */
  protected command(line: Line): boolean {
    const { verb, args } = parseCommand(line.text);
    const keep = this.opts.config.pop3.keepInfectedOnServer;
    if ((verb === 'DELE' && keep) || verb === 'TOP') {
      const n = messageNumber(args[0]);
      if (n !== null && this.pendingVerdict.has(n)) {
        this.outQueue.push({ kind: 'local', verb, out: [], done: false, deferred: { line, msg: n } });
        return true;
      }
    }
    // The server hangs up after QUIT; a pipelined QUIT waits until every earlier answer (a scan may be slow) is out.
    if (verb === 'QUIT' && this.outQueue.length > 0) return false;
    // Only the verb: arguments of USER/PASS/APOP/AUTH are credentials, and other arguments tell nothing useful.
    this.out.push(log('debug', 'command', { verb }));
    const gated = ['USER', 'PASS', 'APOP', 'AUTH'];
    if (gated.includes(verb) && this.opts.account.clientTls === 'starttls' && !this.clientSecure) {
      this.out.push(log('warn', 'login before STLS refused', { code: 'MS_ERR_CLIENT_TLS_REQUIRED', verb }));
      this.local(verb, R.tlsRequired(verb));
      return true;
    }
    switch (verb) {
      case 'STLS':
        return this.startStls();
      case 'CAPA':
        this.enqueue({ kind: 'capa', verb, out: [], done: false }, line.bytes);
        return true;
      case 'LIST':
      case 'UIDL': {
        const e: Entry = { kind: args.length === 0 ? 'multi' : 'single', verb, out: [], done: false };
        if (verb === 'LIST' && args.length === 0)
          e.list = new ListBodyRewriter(this.listSizes, this.opts.limits.maxLineBytes);
        this.enqueue(e, line.bytes);
        return true;
      }
      case 'AUTH':
        if (args.length === 0) {
          // Bare AUTH lists mechanisms as a multi-line answer (Outlook asks this).
          this.enqueue({ kind: 'multi', verb, out: [], done: false }, line.bytes);
        } else {
          this.authActive = true;
          this.enqueue({ kind: 'auth', verb, out: [], done: false }, line.bytes);
        }
        return true;
      case 'RETR': {
        const n = messageNumber(args[0]);
        // A RETR mailshield could not number would come back as an unscanned body: never forward it.
        if (n === null || args.length !== 1) {
          this.local(verb, R.badArguments(verb, 'one message number'));
          return true;
        }
        this.retr(n, line.bytes);
        return true;
      }
      case 'TOP':
        return this.top(line, args);
      case 'DELE': {
        const n = messageNumber(args[0]);
        const v = n === null ? undefined : this.verdicts.get(n);
        if (keep && n !== null && v && v.kind !== 'released') {
          this.out.push(log('info', 'infected message kept on server', { msg: n }));
          this.local(verb, R.keptOnServer(n));
          return true;
        }
        this.enqueue({ kind: 'single', verb, out: [], done: false }, line.bytes);
        return true;
      }
      default:
        // Unknown commands are relayed as-is and answered with one line, as every RFC 1939 extension without a
        // multi-line answer is.
        this.enqueue({ kind: 'single', verb, out: [], done: false }, line.bytes);
        return true;
    }
  }

  protected retr(n: number, upstreamLine: Buffer, top?: Entry['top']): void {
    const entry: Entry = { kind: 'retr', verb: top ? 'TOP' : 'RETR', msg: n, out: [], done: false, pending: true };
    if (top) entry.top = top;
    this.enqueue(entry, upstreamLine);
    this.pendingVerdict.set(n, (this.pendingVerdict.get(n) ?? 0) + 1);
  }

  /**
   * TOP of a message mailshield has judged gets the same verdict. TOP n m>0 of an unjudged message is sent upstream
   * as a hidden RETR n: the whole message is scanned (a verdict from the first m lines would miss an attachment
   * further down), and only when it is clean does the client's own TOP go upstream. Scanning the TOP answer itself
   * was rejected because the pipeline would quarantine a truncated message as if it were complete. TOP n 0 (the
   * header only) is scanned ahead the same way, so the header a client lists is the notice's if the message is
   * replaced; only a message LIST showed to be above limits.scanAheadMaxBytes gets its original header unscanned.
   */
  protected top(line: Line, args: string[]): boolean {
    const n = messageNumber(args[0]);
    const lines = args[1] !== undefined && /^\d{1,9}$/.test(args[1]) ? Number(args[1]) : null;
    if (n === null || lines === null || args.length !== 2) {
      this.local('TOP', R.badArguments('TOP', 'a message number and a line count'));
      return true;
    }
    const v = this.verdicts.get(n);
    if (v?.kind === 'replaced') {
      const body = topOf(v.notice, lines);
      this.local('TOP', Buffer.concat([R.replacedOk(v.notice.length, v.quarantineId), encodeMultiline(body)]));
    } else if (v?.kind === 'refused') {
      this.local('TOP', R.refused(n, v.reply));
    } else if (
      v?.kind === 'released' ||
      (lines === 0 && (this.listedSizes.get(n) ?? 0) > this.opts.limits.scanAheadMaxBytes)
    ) {
      this.enqueue({ kind: 'multi', verb: 'TOP', out: [], done: false }, line.bytes);
    } else {
      this.out.push(log('debug', 'TOP of an unscanned message: retrieving it to scan first', { msg: n }));
      this.retr(n, Buffer.from(`RETR ${n}\r\n`, 'latin1'), { lines, command: line.bytes });
    }
    return true;
  }

  protected startStls(): boolean {
    if (this.opts.account.clientTls !== 'starttls' || this.clientSecure) {
      this.local('STLS', R.stlsUnavailable(this.clientSecure ? 'secured' : 'not-offered', this.opts.account.clientTls));
      return true;
    }
    // Everything behind the STLS line is either a pipelined ClientHello or injected plaintext; decide when answering.
    this.stls.begin(this.clientIn.drain());
    this.outQueue.push({ kind: 'stls', verb: 'STLS', out: [], done: false });
    return true;
  }

  /** Runs when the STLS entry reaches the head of outQueue: every earlier answer has been written. */
  protected answerStls(entry: Entry): void {
    entry.done = true;
    this.stls.goAhead(R.stlsGoAhead(), this.out);
  }
}

export function createPop3Session(opts: SessionOptions): Session {
  return new Pop3Session(opts);
}
