// The POP3 shield as a sans-I/O state machine: upstream STLS before the client sees anything, greeting passthrough
// (APOP timestamps survive), CAPA rewriting, client STLS with injection defence, login gating, and capture + scan of
// every RETR. Pipelined commands are answered in client order even while a scan is pending.
//
// Two queues keep that order honest. `awaiting` lists the responses expected from upstream, in the order commands
// were sent there; `outQueue` lists every client-visible answer in the order the client asked. An entry's client
// output is held in `entry.out` until every earlier answer has been written, so a slow scan of message 1 never lets
// the reply to a later command overtake it, while captures of later messages keep streaming to the spool.
import { ShieldError } from '../../core/errors.js';
import { routeEvent, type SessionEventHandlers } from '../../core/session-events.js';
import {
  log,
  send,
  type Leg,
  type SessionCommand,
  type Session,
  type SessionEvent,
  type SessionOptions,
} from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { heldClientInputBytes } from '../../core/limits.js';
import { ClientStartTlsGuard } from '../../core/starttls-guard.js';
import { UpstreamSetupStepper, type SetupOutcome } from '../../core/upstream-setup.js';
import {
  DotDecoder,
  LINE_TOO_LONG,
  LineFramer,
  encodeMultiline,
  messageNumber,
  parseCommand,
  statusOf,
  topOf,
  type Line,
} from './framer.js';
import { ListBodyRewriter, rewriteListStatus, type ListSizes } from './list-view.js';
import * as R from './replies.js';
import { Pop3UpstreamSetup } from './upstream-setup.js';

type Phase =
  /** Waiting for the driver's `start` or `upstream-failed`. */
  | 'init'
  /** The upstream setup (upstream-setup.ts): greeting, and for STARTTLS also CAPA, STLS and the handshake. */
  | 'setup'
  | 'ready'
  | 'closed';

type Verdict =
  | { kind: 'released' }
  | { kind: 'replaced'; notice: Buffer; quarantineId: string }
  | { kind: 'refused'; reply: string };

interface Entry {
  kind:
    | 'single' // one status line
    | 'multi' // status line, then a body relayed as-is (LIST, UIDL, TOP of a clean message, ...)
    | 'capa' // multi-line, rewritten
    | 'auth' // SASL exchange: "+ " continuations, then +OK/-ERR
    | 'retr' // multi-line, captured and scanned; also the hidden RETR that gets TOP a verdict
    | 'stls' // answered by mailshield when it reaches the head of outQueue
    | 'local'; // answered by mailshield, no upstream involvement
  verb: string;
  /** Message number for RETR/TOP. */
  msg?: number;
  /** For a TOP whose verdict is being fetched by a hidden RETR: the client's line count and its raw command. */
  top?: { lines: number; command: Buffer };
  out: SessionCommand[];
  done: boolean;
  /** Something of this answer already went into `out` (used when the upstream vanishes mid-answer). */
  started?: boolean;
  status?: Buffer;
  decoder?: DotDecoder;
  capture?: number;
  captureFailed?: ShieldError;
  /** Counted in `pendingVerdict` until its verdict (or failure) is known. */
  pending?: boolean;
  capa?: { lines: string[]; bytes: number };
  /** LIST without an argument: its scan listings show replaced messages with the notice's size. */
  list?: ListBodyRewriter;
}

/** A body line keyword of CAPA (RFC 2449), upper-cased. */
const capaKeyword = (l: string) => (l.split(' ')[0] ?? '').toUpperCase();

export function createPop3Session(opts: SessionOptions): Session {
  return new Pop3Session(opts);
}

class Pop3Session implements Session, SessionEventHandlers {
  private phase: Phase = 'init';
  private out: SessionCommand[] = [];
  private clientSecure: boolean;
  private readonly clientIn: LineFramer;
  private upIn: LineFramer;
  /** A client line pulled from the framer but held: it needs a verdict that is still being scanned. */
  private heldLine: Line | null = null;
  /** Non-null while a body is being read from upstream (bytes go to the decoder of awaiting[0]). */
  private upBody = false;
  private readonly awaiting: Entry[] = [];
  private readonly outQueue: Entry[] = [];
  private readonly byCapture = new Map<number, Entry>();
  /** Captures whose capture-discard has not been emitted yet. */
  private readonly liveCaptures = new Set<number>();
  private nextCapture = 1;
  private readonly verdicts = new Map<number, Verdict>();
  /** Sizes from LIST answers: TOP n 0 of a message above limits.scanAheadMaxBytes is not scanned ahead. */
  private readonly listedSizes = new Map<number, number>();
  private readonly listSizes: ListSizes = {
    listed: (n, size) => this.listedSizes.set(n, size),
    replacedSize: (n) => {
      const v = this.verdicts.get(n);
      return v?.kind === 'replaced' ? v.notice.length : undefined;
    },
  };
  /** Per message number: how many RETRs are on their way or being scanned. */
  private readonly pendingVerdict = new Map<number, number>();
  private authActive = false;
  /** Client sent STLS; bytes after it are held until mailshield answers, then belong to TLS or are dropped. */
  private readonly stls: ClientStartTlsGuard;
  private readonly setup: UpstreamSetupStepper<Line>;
  /** Close both legs once every queued answer is written. */
  private closing = false;
  /** Bound on client bytes held ahead of their replies; a pipelining client needs a few lines, not megabytes. */
  private readonly maxHeldClientBytes: number;

  constructor(private readonly opts: SessionOptions) {
    this.clientSecure = opts.clientSecure;
    this.clientIn = new LineFramer(opts.limits.maxLineBytes);
    this.upIn = new LineFramer(opts.limits.maxLineBytes);
    this.maxHeldClientBytes = heldClientInputBytes(opts.limits);
    this.stls = new ClientStartTlsGuard(this.maxHeldClientBytes);
    this.setup = new UpstreamSetupStepper(
      new Pop3UpstreamSetup(opts.account.upstreamTls === 'starttls', opts.account.upstream),
      opts.limits.upstreamGreetingTimeoutMs,
      opts.account.upstream,
      () => this.upIn.drain().length,
    );
  }

  internalErrorReply(error: ShieldError): Buffer {
    return R.internalError(error);
  }

  handle(event: SessionEvent): SessionCommand[] {
    this.out = [];
    if (this.phase === 'closed') return [];
    routeEvent(event, this);
    // Answers that became ready go out before the commands they unblocked, so the transcript reads in order.
    this.flush();
    if (this.phase === 'ready') this.pumpClient();
    this.flush();
    return this.out;
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

  private failUpstream(error: ShieldError): void {
    this.out.push(log('error', 'upstream failed', { code: error.code, error: error.message }));
    this.out.push(send('client', R.upstreamFailed(error)));
    this.discardAll();
    this.setup.abandon(this.out);
    this.out.push({ type: 'close', leg: 'both' });
    this.phase = 'closed';
  }

  private abort(level: 'warn' | 'error', msg: string, error?: ShieldError): void {
    this.out.push(log(level, msg, error ? { code: error.code, error: error.message } : undefined));
    this.discardAll();
    this.setup.abandon(this.out);
    this.out.push({ type: 'close', leg: 'both' });
    this.phase = 'closed';
  }

  private discardAll(): void {
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
  private failEntry(entry: Entry, reply: Buffer): void {
    if (entry.capture !== undefined) this.discard(entry.capture);
    this.unpend(entry);
    if (!entry.started) entry.out.push(send('client', reply));
    entry.done = true;
  }

  private discard(id: number): void {
    if (this.liveCaptures.delete(id)) this.out.push({ type: 'capture-discard', id });
  }

  private unpend(e: Entry): void {
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

  private tooMuchClientInput(): void {
    this.out.push(send('client', R.inputTooLarge(this.maxHeldClientBytes)));
    this.abort('warn', 'client sent too much ahead of replies');
  }

  private pumpClient(): void {
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

  private enqueue(entry: Entry, upstream?: Buffer): void {
    this.outQueue.push(entry);
    if (upstream) {
      this.awaiting.push(entry);
      this.out.push(send('upstream', upstream));
    }
  }

  private local(verb: string, reply: Buffer): void {
    this.outQueue.push({ kind: 'local', verb, out: [send('client', reply)], done: true });
  }

  /** Handles one client command. Returns false when it must wait for a pending verdict. */
  private command(line: Line): boolean {
    const { verb, args } = parseCommand(line.text);
    const keep = this.opts.config.pop3.keepInfectedOnServer;
    if (verb === 'DELE' && keep) {
      const n = messageNumber(args[0]);
      if (n !== null && this.pendingVerdict.has(n)) return false;
    }
    if (verb === 'TOP') {
      const n = messageNumber(args[0]);
      if (n !== null && this.pendingVerdict.has(n)) return false;
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

  private retr(n: number, upstreamLine: Buffer, top?: Entry['top']): void {
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
  private top(line: Line, args: string[]): boolean {
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

  private startStls(): boolean {
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
  private answerStls(entry: Entry): void {
    entry.done = true;
    this.stls.goAhead(R.stlsGoAhead(), this.out);
  }

  // ---- upstream side ---------------------------------------------------------------------------------------------

  onUpstreamData(data: Buffer): void {
    if (this.phase === 'setup' && this.setup.awaitingTls) {
      this.setup.injected(data.length, this.out);
      return;
    }
    if (this.phase === 'init') {
      this.upIn.push(data);
      return;
    }
    let rest: Buffer = data;
    while (this.phase !== 'closed') {
      if (this.upBody) {
        if (rest.length === 0) return;
        rest = this.bodyData(rest);
        continue;
      }
      this.upIn.push(rest);
      rest = Buffer.alloc(0);
      const line = this.upIn.next();
      if (line === null) return;
      if (line === LINE_TOO_LONG) {
        this.upstreamProtocolError(`a response line longer than ${this.opts.limits.maxLineBytes} bytes`);
        return;
      }
      if (this.phase === 'setup') {
        this.afterSetup(this.setup.unit(line, this.out), line);
        if (this.setup.awaitingTls) return;
        continue;
      }
      this.upstreamLine(line);
      if (this.upBody) rest = this.upIn.drain();
    }
  }

  private upstreamProtocolError(what: string): void {
    const e = new ShieldError('MS_ERR_UPSTREAM_PROTOCOL', `the mail server sent ${what}`);
    if (this.phase !== 'ready') {
      this.failUpstream(e);
      return;
    }
    this.out.push(log('error', 'upstream protocol error', { code: e.code }));
    for (const entry of this.awaiting) this.failEntry(entry, R.upstreamLost(e));
    this.awaiting.length = 0;
    this.upBody = false;
    if (this.outQueue.length === 0) this.out.push(send('client', R.upstreamLost(e)));
    this.closing = true;
  }

  /** Acts on what the upstream setup decided; `line` is the server line it answers, if any. */
  private afterSetup(o: SetupOutcome, line: Line | null): void {
    switch (o.kind) {
      case 'pending':
        return;
      case 'refused':
        // The server turned us away (or is not POP3): show the client its words and stop.
        if (line) this.out.push(send('client', line.bytes));
        this.closing = true;
        this.phase = 'ready';
        return;
      case 'fail':
        this.failUpstream(o.error);
        return;
      case 'done':
        this.phase = 'ready';
        this.out.push(send('client', o.greeting));
        return;
    }
  }

  private upstreamLine(line: Line): void {
    if (this.phase === 'ready') this.responseLine(line, statusOf(line.text));
  }

  private responseLine(line: Line, st: ReturnType<typeof statusOf>): void {
    const e = this.awaiting[0];
    if (!e) {
      // Unsolicited (e.g. "-ERR autologout" before the server hangs up): the client should read it, in order.
      this.outQueue.push({ kind: 'local', verb: '', out: [send('client', line.bytes)], done: true });
      return;
    }
    if (e.capa) {
      this.capaLine(e, line);
      return;
    }
    if (st === null || (st === 'continue' && e.kind !== 'auth')) {
      this.upstreamProtocolError(`a line that is neither +OK nor -ERR in answer to ${e.verb}`);
      return;
    }
    if (st === 'err' || (st === 'ok' && (e.kind === 'single' || e.kind === 'auth'))) {
      const shown = st === 'ok' && e.verb === 'LIST' ? rewriteListStatus(line.bytes, this.listSizes) : line.bytes;
      e.out.push(send('client', shown));
      this.unpend(e);
      this.finishAwaited(e);
      if (e.kind === 'auth') this.authActive = false;
      return;
    }
    if (st === 'continue') {
      e.started = true;
      e.out.push(send('client', line.bytes));
      return;
    }
    switch (e.kind) {
      case 'multi':
        e.started = true;
        e.out.push(send('client', line.bytes));
        e.decoder = new DotDecoder();
        this.upBody = true;
        return;
      case 'capa':
        e.status = line.bytes;
        e.capa = { lines: [], bytes: 0 };
        return;
      case 'retr': {
        e.status = line.bytes;
        e.decoder = new DotDecoder();
        const id = this.nextCapture++;
        e.capture = id;
        this.byCapture.set(id, e);
        this.liveCaptures.add(id);
        this.out.push({ type: 'capture-start', id, direction: 'incoming' });
        this.upBody = true;
        return;
      }
      default:
        return;
    }
  }

  private finishAwaited(e: Entry): void {
    this.awaiting.shift();
    e.done = true;
  }

  /** CAPA is small, so it is collected and rewritten whole (bounded by one line limit in total). */
  private capaLine(e: Entry, line: Line): void {
    const capa = e.capa!;
    if (line.text !== '.') {
      capa.bytes += line.bytes.length;
      if (capa.bytes > this.opts.limits.maxLineBytes) {
        this.upstreamProtocolError('a CAPA answer larger than limits.maxLineBytes');
        return;
      }
      capa.lines.push(line.text);
      return;
    }
    const offerStls = this.opts.account.clientTls === 'starttls' && !this.clientSecure;
    const kept = capa.lines.filter((l) => {
      const k = capaKeyword(l);
      if (k === 'STLS') return false;
      // Until the client's TLS is up it must not be tempted to send a password.
      if (offerStls && (k === 'USER' || k === 'SASL')) return false;
      return true;
    });
    if (offerStls) kept.push('STLS');
    const body = kept.map((l) => (l.startsWith('.') ? '.' + l : l) + '\r\n').join('') + '.\r\n';
    e.out.push(send('client', Buffer.concat([e.status!, Buffer.from(body, 'latin1')])));
    this.finishAwaited(e);
  }

  /** Feeds body bytes to the entry being read; returns what follows the body. */
  private bodyData(data: Buffer): Buffer {
    const e = this.awaiting[0]!;
    const r = e.decoder!.push(data);
    if (e.kind === 'retr') {
      // One capture-data per read: a message full of dot lines would otherwise become one spool write per line.
      if (e.capture !== undefined && !e.captureFailed && r.out.length > 0)
        this.out.push({
          type: 'capture-data',
          id: e.capture,
          data: r.out.length === 1 ? r.out[0]! : Buffer.concat(r.out),
        });
    } else if (r.used > 0) {
      const body = data.subarray(0, r.used);
      e.out.push(send('client', e.list ? e.list.push(body) : body));
    }
    if (!r.done) return Buffer.alloc(0);
    this.upBody = false;
    this.awaiting.shift();
    if (e.kind === 'retr') {
      if (e.captureFailed) this.resolveCaptureFailed(e, e.captureFailed);
      else this.out.push({ type: 'capture-end', id: e.capture! });
    } else {
      e.done = true;
    }
    return data.subarray(r.used);
  }

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

  private resolveCaptureFailed(e: Entry, error: ShieldError): void {
    this.byCapture.delete(e.capture!);
    this.unpend(e);
    e.out.push(send('client', R.scanFailed(e.msg!, error)), { type: 'capture-discard', id: e.capture! });
    e.done = true;
  }

  // ---- output ----------------------------------------------------------------------------------------------------

  private flush(): void {
    while (this.phase !== 'closed' && this.outQueue.length > 0) {
      const e = this.outQueue[0]!;
      if (e.kind === 'stls' && !e.done) this.answerStls(e);
      for (const c of e.out) {
        if (c.type === 'capture-discard') {
          if (!this.liveCaptures.delete(c.id)) continue;
        }
        this.out.push(c);
      }
      e.out = [];
      if (!e.done) return;
      this.outQueue.shift();
    }
    if (this.closing && this.outQueue.length === 0 && this.phase !== 'closed') {
      this.discardAll();
      this.out.push({ type: 'close', leg: 'both' });
      this.phase = 'closed';
    }
  }
}
