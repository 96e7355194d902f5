// The IMAP shield: a literal-aware relay between a mail client and its IMAP server that scans every message before
// the client sees any of it, whichever way the client asks for it. Pure: events in, commands out (src/core/session.ts).
//
// Shape of the work:
// - Both directions go through an ImapTokenizer (lines and literals). Responses to the client and commands to the
//   server go through an `Ordered` output per leg, so a response that waits for a scan holds back everything after
//   it without stopping the session from reading on.
// - Content in a FETCH response is either the whole message (BODY[], RFC822, BINARY[] without origin: captured and
//   scanned in place) or a part or range of it. For a part, the verdict must still be about the whole message, so
//   the shield fetches the whole message itself by UID, in the same upstream session, under its own tag, and filters
//   that response out of the client's stream. Verdicts are cached by (mailbox, UIDVALIDITY, UID), so a client reading
//   a message in chunks causes one scan and one quarantine entry.
// - APPEND content is captured from the client and reaches the server only after a clean verdict.
// - Content goes upstream with .PEEK; the shield stores \Seen itself once the client has the content (seen.ts).
// - Items that describe a message (header, ENVELOPE, BODYSTRUCTURE, RFC822.SIZE) are held until its verdict, scanning
//   small messages ahead, and describe the notice when it is replaced (header-view.ts).
// Beside this file: upstream-setup.ts (greeting and upstream STARTTLS, before relaying), verdict-cache.ts (verdicts
// by message), append.ts (APPEND state and decisions), fetch.ts (FETCH items), fetch-command.ts (what the shield
// changes in a FETCH command), session-state.ts (the session's records), ordered.ts (the ordered outputs).
import { ShieldError } from '../../core/errors.js';
import { routeEvent, type SessionEventHandlers } from '../../core/session-events.js';
import {
  log,
  send,
  type Leg,
  type Session,
  type SessionCommand,
  type SessionEvent,
  type SessionOptions,
} from '../../core/session.js';
import { heldClientInputBytes } from '../../core/limits.js';
import { ClientStartTlsGuard } from '../../core/starttls-guard.js';
import { UpstreamSetupStepper, type SetupOutcome } from '../../core/upstream-setup.js';
import { shapedNoticeBody } from '../../scan/notice.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { appendRefusal, nonSyncLiteral, type AppendMessage, type AppendState } from './append.js';
import { capabilitiesIn, rewriteCapabilityLine, ServerCapabilities } from './capabilities.js';
import { commandHead, mailboxKey, partialCounts, type CommandHead } from './command.js';
import { contentItem, fetchStart, FetchItemParser, noticePart, unquote, type ContentItem } from './fetch.js';
import { planFetch } from './fetch-command.js';
import { isDescriptive, isTopHeader, noticeValue, ServedHeaders } from './header-view.js';
import { Ordered, type Group } from './ordered.js';
import {
  bye,
  byePlain,
  byeUnavailable,
  continuation,
  keepalive,
  literalMarker,
  shieldTagged,
  tagged,
} from './replies.js';
import { ImapTokenizer, type LiteralSpec, type Token } from './tokenizer.js';
import { hasSeen, SeenState, setsSeenItem, withSeen } from './seen.js';
import {
  itemKey,
  type Capture,
  type FetchContext,
  type HeldDesc,
  type HeldPart,
  type InFlight,
  type LiteralSink,
  type OwnFetch,
  type Waiter,
} from './session-state.js';
import { UpstreamSetup } from './upstream-setup.js';
import { cachedVerdict, scanFailureText, VerdictCache, type CachedVerdict } from './verdict-cache.js';

/** `setup`: greeting, CAPABILITY and STARTTLS with the server (upstream-setup.ts); `relay` once the client is greeted. */
type Phase = 'wait-start' | 'setup' | 'relay' | 'closed';

/** A client command being received (between its first line and its last line). */
interface ClientCommand {
  head: CommandHead;
  kind: 'forward' | 'append' | 'swallow';
  group: Group | null;
  text: string;
  sink: LiteralSink;
  /** SELECT/EXAMINE: the mailbox name may be a literal; its bytes are part of the key. */
  keepLiteralText: boolean;
  onEnd?: () => void;
  append?: AppendState;
}

const KEEPALIVE_TIMER = 'imap-scan-keepalive';

export function createImapSession(opts: SessionOptions): Session {
  return new ImapSession(opts);
}

class ImapSession implements Session, SessionEventHandlers {
  private phase: Phase = 'wait-start';
  private out: SessionCommand[] = [];
  private readonly toClient = new Ordered();
  private readonly toUpstream = new Ordered();
  private clientTok: ImapTokenizer;
  private upTok: ImapTokenizer;
  private clientSecure: boolean;
  private readonly startTls: ClientStartTlsGuard;
  private startTlsTag = '';

  private tagSeq = 0;
  private captureSeq = 0;
  private readonly upCaps = new ServerCapabilities();
  private readonly setup: UpstreamSetupStepper<string>;

  private cmd: ClientCommand | null = null;
  private clientMode: 'command' | 'idle' | 'auth' = 'command';
  private modeGroup: Group | null = null;
  private modeTag = '';
  private readonly inflight = new Map<string, InFlight>();

  private resp:
    | { kind: 'pass'; group: Group }
    | { kind: 'fetch'; ctx: FetchContext; sink: LiteralSink }
    | { kind: 'own'; own: OwnFetch; sink: LiteralSink }
    | { kind: 'drop' }
    | null = null;

  private readonly verdicts = new VerdictCache();
  private readonly ownByKey = new Map<string, OwnFetch>();
  private readonly ownByTag = new Map<string, OwnFetch>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly servedHeaders = new ServedHeaders();
  private readonly seen = new SeenState();
  private readonly captures = new Map<number, Capture>();
  private keepaliveArmed = false;

  constructor(private readonly opts: SessionOptions) {
    this.clientSecure = opts.clientSecure;
    this.startTls = new ClientStartTlsGuard(heldClientInputBytes(opts.limits));
    this.clientTok = this.newTokenizer('client');
    this.upTok = this.newTokenizer('upstream');
    this.setup = new UpstreamSetupStepper(
      new UpstreamSetup(opts.account.upstreamTls === 'starttls', this.upCaps, () => this.newTag()),
      opts.limits.upstreamGreetingTimeoutMs,
      opts.account.upstream,
      () => this.upTok.drain().length,
    );
  }

  internalErrorReply(error: ShieldError): string {
    return byeUnavailable(error.toReplyText());
  }

  handle(event: SessionEvent): SessionCommand[] {
    this.out = [];
    if (this.phase === 'closed') {
      // Captures still finishing after the end must be let go.
      if (event.type === 'scan-done') this.out.push({ type: 'capture-discard', id: event.id });
      return this.out;
    }
    routeEvent(event, this);
    this.maybeStartTlsGoAhead();
    this.flush();
    return this.out;
  }

  // ---------------------------------------------------------------- driver events (core/session-events.ts)

  onStart(): void {
    this.phase = 'setup';
    this.setup.begin(this.out);
    this.pumpUpstream();
  }

  onUpstreamFailed(error: ShieldError): void {
    this.failUpstream(error);
  }

  onUpstreamData(data: Buffer): void {
    if (this.phase === 'setup' && this.setup.awaitingTls) {
      this.setup.injected(data.length, this.out);
    } else {
      this.upTok.push(data);
      this.pumpUpstream();
    }
  }

  onTlsFailed(leg: Leg, error: ShieldError): void {
    if (leg === 'upstream') this.failUpstream(error);
    else this.closeAll('client TLS failed', { code: error.code });
  }

  onTimer(name: string): void {
    const o = this.setup.timer(name);
    if (o.kind === 'fail') this.failUpstream(o.error);
    if (name === KEEPALIVE_TIMER) {
      this.keepaliveArmed = false;
      if (this.toClient.heldAtBoundary) this.out.push(send('client', keepalive()));
    }
  }

  // ---------------------------------------------------------------- plumbing

  private newTokenizer(leg: 'client' | 'upstream'): ImapTokenizer {
    const l = this.opts.limits;
    // Server literals are not limited here: they stream, and a captured one is bounded by the spool (maxMessageBytes).
    return new ImapTokenizer({
      maxLineBytes: l.maxLineBytes,
      maxLiteralBytes: leg === 'client' ? Math.min(l.maxLiteralBytes, l.maxMessageBytes) : Number.MAX_SAFE_INTEGER,
    });
  }

  private newTag(): string {
    return `ms${++this.tagSeq}.${this.opts.connId}`;
  }

  private flush(): void {
    if (this.phase === 'closed') return;
    // Writing a FETCH response to the client can queue the STORE that sets \Seen: upstream is flushed again after.
    this.out.push(...this.toUpstream.flush(), ...this.toClient.flush(), ...this.toUpstream.flush());
    const held = this.toClient.heldAtBoundary;
    if (held && !this.keepaliveArmed) {
      this.keepaliveArmed = true;
      this.out.push({ type: 'set-timer', name: KEEPALIVE_TIMER, ms: this.opts.limits.scanKeepaliveMs });
    } else if (!held && this.keepaliveArmed) {
      this.keepaliveArmed = false;
      this.out.push({ type: 'clear-timer', name: KEEPALIVE_TIMER });
    }
  }

  private toClientNow(data: string | Buffer): void {
    const g = this.toClient.open();
    this.toClient.push(g, send('client', data));
    this.toClient.close(g);
  }

  private closeAll(msg: string, fields?: Record<string, unknown>): void {
    if (this.phase === 'closed') return;
    this.out.push(log('info', msg, fields));
    this.out.push(...this.toUpstream.flush(), ...this.toClient.flush());
    for (const [id] of this.captures) this.out.push({ type: 'capture-discard', id });
    this.captures.clear();
    if (this.keepaliveArmed) this.out.push({ type: 'clear-timer', name: KEEPALIVE_TIMER });
    this.setup.abandon(this.out);
    this.out.push({ type: 'close', leg: 'both' });
    this.phase = 'closed';
  }

  /** The upstream cannot be used: say why in the client's own alert and close. */
  private failUpstream(error: ShieldError): void {
    this.out.push(log('warn', 'imap upstream failed', { code: error.code }));
    // Written directly: nothing else may reach the client any more.
    this.out.push(send('client', bye(error.toReplyText())));
    this.closeAll('imap session ends', { code: error.code });
  }

  onClosed(leg: 'client' | 'upstream'): void {
    if (leg === 'upstream' && this.phase !== 'relay') {
      this.failUpstream(
        new ShieldError('MS_ERR_UPSTREAM_CLOSED', 'The mail server closed the connection before the session started'),
      );
      return;
    }
    this.closeAll(`${leg} closed the connection`);
  }

  onTlsReady(leg: 'client' | 'upstream'): void {
    if (leg === 'client') {
      this.clientSecure = true;
      this.startTls.tlsReady();
      this.clientTok = this.newTokenizer('client');
      this.out.push(log('info', 'client STARTTLS complete'));
      return;
    }
    if (this.phase !== 'setup' || !this.setup.awaitingTls) return;
    this.upTok = this.newTokenizer('upstream');
    this.runSetup(this.setup.tlsReady(this.out), null);
  }

  private get offerStartTls(): boolean {
    return this.opts.account.clientTls === 'starttls' && !this.clientSecure;
  }

  private rewriteCaps(line: string): string {
    const caps = capabilitiesIn(line);
    if (!caps) return line;
    this.upCaps.set(caps);
    return rewriteCapabilityLine(line, { offerStartTls: this.offerStartTls });
  }

  // ---------------------------------------------------------------- upstream: greeting and STARTTLS

  private pumpUpstream(): void {
    for (;;) {
      if (this.phase === 'closed' || this.phase === 'wait-start' || this.setup.awaitingTls) return;
      const tok = this.upTok.next();
      if (!tok) return;
      if (tok.type === 'error') {
        this.failUpstream(
          new ShieldError('MS_ERR_UPSTREAM_PROTOCOL', 'The mail server sent a line longer than mailshield accepts', {
            offered: `more than ${this.opts.limits.maxLineBytes} bytes without a line end`,
            fix: 'raise limits.maxLineBytes',
          }),
        );
        return;
      }
      if (this.phase === 'relay') this.upToken(tok);
      else this.setupToken(tok);
    }
  }

  private setupToken(tok: Token): void {
    if (tok.type !== 'line') return; // literals during setup carry nothing the shield needs
    this.runSetup(this.setup.unit(tok.data.toString('latin1'), this.out), tok.data);
  }

  /** Acts on what the upstream setup decided; `line` is the server line it answers, if any. */
  private runSetup(o: SetupOutcome, line: Buffer | null): void {
    switch (o.kind) {
      case 'pending':
        return;
      case 'refused':
        if (line) this.out.push(send('client', line));
        this.closeAll('mail server refused the connection');
        return;
      case 'fail':
        this.failUpstream(o.error);
        return;
      case 'done': {
        const greeting = o.greeting.toString('latin1');
        this.startRelay(o.rewrite ? this.rewriteCaps(greeting) : greeting);
        return;
      }
    }
  }

  private startRelay(greeting: string): void {
    this.phase = 'relay';
    this.toClientNow(greeting);
    this.pumpClient();
  }

  // ---------------------------------------------------------------- client commands

  onClientData(data: Buffer): void {
    if (this.startTls.active) {
      if (!this.startTls.push(data, this.out)) this.tooMuchClientInput();
      return;
    }
    this.clientTok.push(data);
    this.pumpClient();
    // Before the greeting (and while a partial line grows) nothing consumes client bytes: bounded, not buffered.
    if (this.phase !== 'closed' && this.clientTok.buffered > heldClientInputBytes(this.opts.limits)) {
      this.tooMuchClientInput();
    }
  }

  private tooMuchClientInput(): void {
    const limit = heldClientInputBytes(this.opts.limits);
    const e = new ShieldError(
      'MS_ERR_CLIENT_PROTOCOL',
      `The client sent more than ${limit} bytes without waiting for the answers`,
      { required: 'wait for the greeting and for the STARTTLS go-ahead' },
    );
    this.toClientNow(byePlain(e.toReplyText()));
    this.closeAll('client sent too much ahead of the answers', { code: e.code });
  }

  private pumpClient(): void {
    while (this.phase === 'relay' && !this.startTls.active) {
      const tok = this.clientTok.next();
      if (!tok) return;
      if (tok.type === 'error') {
        const e = new ShieldError(
          'MS_ERR_CLIENT_LINE_TOO_LONG',
          'The client sent a line longer than mailshield accepts',
          {
            required: `at most ${this.opts.limits.maxLineBytes} bytes`,
            fix: 'raise limits.maxLineBytes',
          },
        );
        this.toClientNow(byePlain(e.toReplyText()));
        this.closeAll('client protocol error', { code: e.code });
        return;
      }
      if (tok.type === 'literal') this.clientLiteral(tok.data, tok.last);
      else if (tok.literal?.tooLarge && !tok.literal.sync) {
        this.nonSyncTooLarge(tok.data, tok.literal);
        return;
      } else this.clientLine(tok.data, tok.literal);
    }
  }

  private clientLiteral(data: Buffer, last: boolean): void {
    const c = this.cmd;
    if (!c) return;
    if (c.keepLiteralText && c.text.length < this.opts.limits.maxLineBytes) c.text += data.toString('latin1');
    this.sinkLiteral(c.sink, data, last);
  }

  private clientLine(data: Buffer, lit: LiteralSpec | null): void {
    if (this.cmd) {
      this.continueCommand(this.cmd, data, lit);
      return;
    }
    if (this.clientMode !== 'command' && this.modeGroup) {
      // IDLE's DONE, or SASL responses during AUTHENTICATE: passed on as they are, never logged.
      this.toUpstream.push(this.modeGroup, send('upstream', data));
      if (this.clientMode === 'idle') {
        this.toUpstream.close(this.modeGroup);
        this.clientMode = 'command';
        this.modeGroup = null;
      }
      return;
    }
    const text = data.toString('latin1');
    const head = commandHead(text) ?? { tag: '*', verb: '' };
    const needsTls = this.offerStartTls;
    switch (head.verb) {
      case 'STARTTLS':
        this.clientStartTls(head, lit);
        return;
      case 'LOGIN':
      case 'AUTHENTICATE':
        if (needsTls) {
          const e = new ShieldError('MS_ERR_CLIENT_TLS_REQUIRED', 'Log in only after STARTTLS', {
            required: 'STARTTLS first',
            fix: 'turn on STARTTLS (or SSL/TLS) in the mail client for this account',
          });
          this.out.push(log('warn', 'login before STARTTLS refused', { code: e.code }));
          this.refuse(head, lit, shieldTagged(head.tag, 'NO', 'PRIVACYREQUIRED', e.toReplyText()));
          return;
        }
        break;
      case 'COMPRESS':
        this.refuse(
          head,
          lit,
          shieldTagged(head.tag, 'NO', 'CANNOT', 'compression is not available through mailshield'),
        );
        return;
      case 'APPEND':
        this.startAppend(head, data, lit);
        return;
      default:
        break;
    }
    this.startForward(head, data, lit);
  }

  /** Answers a command locally; its literals, if the client sends them anyway, are swallowed. */
  private refuse(head: CommandHead, lit: LiteralSpec | null, reply: string): void {
    const c: ClientCommand = {
      head,
      kind: 'swallow',
      group: null,
      text: '',
      sink: { to: 'drop' },
      keepLiteralText: false,
    };
    c.onEnd = () => this.toClientNow(reply);
    this.cmd = c;
    this.swallowFragment(c, lit);
  }

  private swallowFragment(c: ClientCommand, lit: LiteralSpec | null): void {
    if (lit && !lit.sync) {
      c.sink = { to: 'drop' };
      return;
    }
    // A synchronizing literal is never sent without our go-ahead, so the command ends here.
    if (lit) this.clientTok.cancelLiteral();
    this.cmd = null;
    c.onEnd?.();
  }

  private startForward(head: CommandHead, data: Buffer, lit: LiteralSpec | null): void {
    let line = data;
    const info: InFlight = { verb: head.verb, partials: new Map() };
    if (head.verb === 'FETCH' || head.verb === 'UID FETCH') {
      const plan = planFetch(data.toString('latin1'));
      if (plan) {
        info.plan = plan;
        if (plan.line !== data.toString('latin1')) line = Buffer.from(plan.line, 'latin1');
      }
    }
    if (lit?.tooLarge) {
      this.refuseTooLarge(head, lit);
      return;
    }
    // The mailbox changes once the server runs this; until its reply, no verdict can be tied to a mailbox.
    if (head.verb === 'SELECT' || head.verb === 'EXAMINE' || head.verb === 'CLOSE' || head.verb === 'UNSELECT') {
      this.verdicts.mailboxChangeSent();
      this.seen.mailboxChangeSent();
    }
    const group = this.toUpstream.open();
    const c: ClientCommand = {
      head,
      kind: 'forward',
      group,
      text: '',
      sink: { to: 'upstream', group },
      keepLiteralText: head.verb === 'SELECT' || head.verb === 'EXAMINE',
      onEnd: () => {
        if (head.verb === 'FETCH' || head.verb === 'UID FETCH') info.partials = partialCounts(c.text);
        if (head.verb === 'SELECT' || head.verb === 'EXAMINE') info.mailbox = mailboxKey(c.text);
      },
    };
    if (head.tag !== '*') this.inflight.set(head.tag, info);
    if (head.verb === 'IDLE' || head.verb === 'AUTHENTICATE') {
      this.clientMode = head.verb === 'IDLE' ? 'idle' : 'auth';
      this.modeGroup = group;
      this.modeTag = head.tag;
    }
    this.cmd = c;
    this.forwardFragment(c, line, lit);
  }

  private literalTooLarge(lit: LiteralSpec): ShieldError {
    const e = new ShieldError('MS_ERR_CLIENT_LITERAL_TOO_LARGE', 'The message is larger than mailshield accepts', {
      offered: `${lit.size} bytes`,
      required: `at most ${Math.min(this.opts.limits.maxLiteralBytes, this.opts.limits.maxMessageBytes)} bytes`,
      fix: 'raise limits.maxLiteralBytes and limits.maxMessageBytes',
    });
    this.out.push(log('warn', e.message, { code: e.code, size: lit.size }));
    return e;
  }

  /** A synchronizing literal waits for our go-ahead, so refusing it is enough: the client sends a new command. */
  private refuseTooLarge(head: CommandHead, lit: LiteralSpec): void {
    this.refuse(head, lit, shieldTagged(head.tag, 'NO', 'TOOBIG', this.literalTooLarge(lit).toReplyText()));
  }

  /**
   * A non-synchronizing literal beyond the limit is already on its way, and reading it only to throw it away would
   * let a client keep the shield busy for as long as it likes (RFC 7888 §4 allows closing instead). The command is
   * answered NO [TOOBIG], the session says BYE and closes; nothing of the literal is read or passed on.
   */
  private nonSyncTooLarge(line: Buffer, lit: LiteralSpec): void {
    const e = this.literalTooLarge(lit);
    const tag = this.cmd?.head.tag ?? commandHead(line.toString('latin1'))?.tag ?? '*';
    this.out.push(...this.toClient.flush());
    // Lines can only be written between responses; in the middle of one the close alone must say it.
    if (this.toClient.idle || this.toClient.heldAtBoundary) {
      const no = tag === '*' ? '' : shieldTagged(tag, 'NO', 'TOOBIG', e.toReplyText());
      this.out.push(
        send('client', no + byePlain('closing the connection: the client sent a literal that is too large')),
      );
    }
    this.closeAll('client literal too large', { code: e.code, size: lit.size });
  }

  private continueCommand(c: ClientCommand, data: Buffer, lit: LiteralSpec | null): void {
    if (c.kind === 'swallow') {
      this.swallowFragment(c, lit);
      return;
    }
    if (c.kind === 'append') {
      this.appendFragment(c, data, lit);
      return;
    }
    if (lit?.tooLarge) {
      // Part of the command is already on its way: end it there (the server answers BAD) and drop the rest.
      this.toUpstream.push(
        c.group!,
        send('upstream', Buffer.concat([data.subarray(0, lit.markerOffset), Buffer.from('\r\n')])),
      );
      this.toUpstream.close(c.group!);
      c.kind = 'swallow';
      c.onEnd = undefined;
      this.swallowFragment(c, lit);
      return;
    }
    this.forwardFragment(c, data, lit);
  }

  private forwardFragment(c: ClientCommand, data: Buffer, lit: LiteralSpec | null): void {
    const g = c.group!;
    if (c.text.length < this.opts.limits.maxLineBytes) c.text += data.toString('latin1');
    this.toUpstream.push(g, send('upstream', data));
    if (lit) return;
    this.cmd = null;
    c.onEnd?.();
    // IDLE and AUTHENTICATE stay open: what the client sends next belongs to them, and nothing may be put between.
    if (this.modeGroup !== g) this.toUpstream.close(g);
  }

  private clientStartTls(head: CommandHead, lit: LiteralSpec | null): void {
    if (this.opts.account.clientTls !== 'starttls' || this.clientSecure || lit) {
      const why = this.clientSecure ? 'TLS is already active' : 'STARTTLS is not offered on this listener';
      this.refuse(head, lit, shieldTagged(head.tag, 'BAD', null, why));
      return;
    }
    // Held by the guard until every command pipelined before STARTTLS has its answer (maybeStartTlsGoAhead).
    this.startTls.begin(this.clientTok.drain());
    this.startTlsTag = head.tag;
  }

  /** The go-ahead follows the tagged replies of every earlier command, never overtakes them. */
  private maybeStartTlsGoAhead(): void {
    if (this.phase !== 'relay' || this.startTls.state !== 'waiting' || this.inflight.size > 0) return;
    const cmds: SessionCommand[] = [];
    this.startTls.goAhead(tagged(this.startTlsTag, 'OK', null, 'Begin TLS negotiation now'), cmds);
    // One group, so the handshake starts right after the go-ahead and nothing slips in between.
    const g = this.toClient.open();
    for (const c of cmds) this.toClient.push(g, c);
    this.toClient.close(g);
  }

  // ---------------------------------------------------------------- APPEND

  // Captured from the client, sent on to the server only after a clean verdict (append.ts says why and how).

  private startAppend(head: CommandHead, data: Buffer, lit: LiteralSpec | null): void {
    const group = this.toUpstream.open();
    const state: AppendState = { tag: head.tag, group, msgs: [], complete: false, settled: false, released: false };
    const info: InFlight = { verb: head.verb, partials: new Map(), append: state };
    this.inflight.set(head.tag, info);
    const c: ClientCommand = {
      head,
      kind: 'append',
      group,
      text: '',
      sink: { to: 'drop' },
      keepLiteralText: false,
      append: state,
    };
    this.cmd = c;
    this.appendFragment(c, data, lit);
  }

  private appendFragment(c: ClientCommand, data: Buffer, lit: LiteralSpec | null): void {
    const st = c.append!;
    if (!lit) {
      this.toUpstream.push(st.group, send('upstream', data));
      this.toUpstream.close(st.group);
      this.cmd = null;
      st.complete = true;
      this.settleAppend(st);
      return;
    }
    if (lit.tooLarge) {
      this.abandonAppend(st);
      this.inflight.delete(st.tag);
      this.cmd = null;
      this.refuseTooLarge(c.head, lit);
      return;
    }
    this.toUpstream.push(st.group, send('upstream', data.subarray(0, lit.markerOffset)));
    const id = ++this.captureSeq;
    const msg: AppendMessage = {
      id,
      size: lit.size,
      binary: lit.binary,
      marker: this.toUpstream.slot(st.group, true),
      gate: this.toUpstream.slot(st.group, false),
      data: this.toUpstream.slot(st.group, true),
      result: null,
      failed: null,
    };
    st.msgs.push(msg);
    this.captures.set(id, { kind: 'append', msg, state: st, failed: false });
    this.out.push({ type: 'capture-start', id, direction: 'outgoing' });
    c.sink = { to: 'capture', id };
    if (lit.sync) this.toClient.urgent([send('client', continuation('Ready for literal data'))]);
  }

  /** Drops what is queued for the server and lets the captures go. */
  private abandonAppend(st: AppendState): void {
    this.toUpstream.drop(st.group);
    for (const m of st.msgs) {
      this.captures.delete(m.id);
      this.out.push({ type: 'capture-discard', id: m.id });
    }
    st.settled = true;
  }

  private settleAppend(st: AppendState): void {
    if (st.settled || !st.complete) return;
    if (st.msgs.some((m) => m.result === null && m.failed === null)) return;
    const refusal = st.msgs.map((m) => appendRefusal(m)).find((r) => r !== null);
    if (refusal) {
      this.out.push(log(refusal.level, 'APPEND refused', { reason: refusal.logText }));
      this.abandonAppend(st);
      this.inflight.delete(st.tag);
      this.toClientNow(shieldTagged(st.tag, 'NO', refusal.code, refusal.text));
      return;
    }
    st.settled = true;
    st.released = true;
    for (const m of st.msgs) {
      const r = m.result as Extract<ScanAction, { action: 'release' }>;
      const size = r.bytes?.length ?? m.size;
      const nonSync = nonSyncLiteral(this.upCaps, size);
      this.toUpstream.resolve(m.marker, [send('upstream', literalMarker(size, m.binary, nonSync))]);
      if (nonSync) this.toUpstream.resolve(m.gate, []);
      this.toUpstream.resolve(m.data, [
        { type: 'send-capture', id: m.id, to: 'upstream', framing: 'raw' },
        { type: 'capture-discard', id: m.id },
      ]);
      this.captures.delete(m.id);
    }
  }

  // ---------------------------------------------------------------- upstream responses

  private upToken(tok: Token): void {
    if (tok.type === 'literal') {
      this.upLiteral(tok.data, tok.last);
      return;
    }
    if (tok.type === 'line') this.upLine(tok.data, tok.literal);
  }

  private upLiteral(data: Buffer, last: boolean): void {
    const r = this.resp;
    if (!r) return;
    if (r.kind === 'pass') this.toClient.push(r.group, send('client', data));
    else if (r.kind === 'fetch' || r.kind === 'own') this.sinkLiteral(r.sink, data, last);
  }

  private sinkLiteral(sink: LiteralSink, data: Buffer, last: boolean): void {
    switch (sink.to) {
      case 'upstream':
        this.toUpstream.push(sink.group, send('upstream', data));
        return;
      case 'client':
        this.toClient.push(sink.group, send('client', data));
        return;
      case 'capture': {
        const cap = this.captures.get(sink.id);
        if (!cap || cap.failed) return;
        if (cap.kind !== 'append') cap.size += data.length;
        if (data.length > 0) this.out.push({ type: 'capture-data', id: sink.id, data });
        if (last) this.out.push({ type: 'capture-end', id: sink.id });
        return;
      }
      case 'part': {
        const part = sink.part;
        if (part.ctx.failed) return;
        // A part waits in memory for the whole message's verdict; no part of a scannable message is larger than this.
        if (part.bytes + data.length > this.opts.limits.maxMessageBytes) {
          part.data = [];
          this.failFetch(part.ctx, 'the message part is larger than limits.maxMessageBytes and cannot be scanned');
          return;
        }
        part.data.push(data);
        part.bytes += data.length;
        return;
      }
      case 'desc': {
        const d = sink.desc;
        if (d.ctx.failed) return;
        d.bytes += data.length;
        if (d.bytes > this.opts.limits.maxMessageBytes) {
          this.failFetch(d.ctx, 'a header item is larger than limits.maxMessageBytes');
          return;
        }
        d.data.push(data);
        if (last) this.descDone(d);
        return;
      }
      case 'divert':
        sink.divert.data.push(data);
        return;
      case 'drop':
        return;
    }
  }

  private upLine(data: Buffer, lit: LiteralSpec | null): void {
    const r = this.resp;
    if (r) {
      if (r.kind === 'pass') {
        this.toClient.push(r.group, send('client', data));
        if (!lit) {
          this.toClient.close(r.group);
          this.resp = null;
        }
      } else if (r.kind === 'fetch') this.fetchFragment(r.ctx, data, lit);
      else if (!lit)
        this.resp = null; // the rest of our own response, or of one we drop
      else if (r.kind === 'own') r.sink = { to: 'drop' }; // a second literal in our own response is not the message
      return;
    }
    const text = data.toString('latin1');
    if (text.startsWith('+')) {
      this.upContinuation(data);
      if (lit) this.resp = { kind: 'drop' };
      return;
    }
    if (text.startsWith('*')) {
      const fs = fetchStart(text);
      if (fs) {
        this.startFetch(data, lit, fs.prefixLength);
        return;
      }
      this.trackUntagged(text);
      this.passResponse(lit ? data : Buffer.from(this.rewriteCaps(text), 'latin1'), lit);
      return;
    }
    const tag = text.slice(0, Math.max(0, text.indexOf(' ')));
    if (this.seen.takeOwn(tag)) {
      // The reply to our STORE of \Seen: the client never sent that command.
      if (!/^\S+ OK/i.test(text)) this.out.push(log('warn', 'the server did not set \\Seen', { reply: text.trim() }));
      if (lit) this.resp = { kind: 'drop' };
      return;
    }
    const own = this.ownByTag.get(tag);
    if (own) {
      this.ownTagged(own, text);
      if (lit) this.resp = { kind: 'drop' };
      return;
    }
    this.clientTagged(tag, text, data, lit);
  }

  private passResponse(data: Buffer, lit: LiteralSpec | null): void {
    const g = this.toClient.open();
    this.toClient.push(g, send('client', data));
    if (lit) this.resp = { kind: 'pass', group: g };
    else this.toClient.close(g);
  }

  private upContinuation(data: Buffer): void {
    const gate = this.toUpstream.waitingGate();
    if (gate) {
      // The server's go-ahead for an APPEND literal the shield is sending: the client already had ours.
      this.toUpstream.resolve(gate, []);
      return;
    }
    this.toClient.urgent([send('client', data)]);
  }

  private trackUntagged(text: string): void {
    const m = /^\* OK \[UIDVALIDITY (\d+)\]/i.exec(text);
    if (!m) return;
    let select: InFlight | null = null;
    for (const info of this.inflight.values()) if (info.verb === 'SELECT' || info.verb === 'EXAMINE') select = info;
    if (select) select.uidvalidity = Number(m[1]);
  }

  private clientTagged(tag: string, text: string, data: Buffer, lit: LiteralSpec | null): void {
    const info = this.inflight.get(tag);
    this.inflight.delete(tag);
    const ok = /^\S+ OK/i.test(text);
    if (info) {
      if (info.verb === 'SELECT' || info.verb === 'EXAMINE') {
        this.verdicts.selectAnswered(ok, info.mailbox ?? '', info.uidvalidity ?? null);
        this.seen.selectAnswered(info.verb, ok, text);
      } else if (info.verb === 'CLOSE' || info.verb === 'UNSELECT') {
        this.verdicts.closeAnswered(ok);
        this.seen.closeAnswered(ok);
      }
      if (info.append?.released && !ok) {
        // The server refused the APPEND before taking the literal: nothing more of it may follow.
        const gate = this.toUpstream.waitingGate();
        if (gate && gate.group === info.append.group) this.toUpstream.drop(info.append.group);
        for (const m of info.append.msgs) this.out.push({ type: 'capture-discard', id: m.id });
      }
    }
    if (this.clientMode !== 'command' && tag === this.modeTag && this.modeGroup) {
      this.toUpstream.close(this.modeGroup);
      this.clientMode = 'command';
      this.modeGroup = null;
    }
    const line = lit ? data : Buffer.from(this.rewriteCaps(text), 'latin1');
    const g = this.toClient.open();
    if (info && (info.verb === 'FETCH' || info.verb === 'UID FETCH')) {
      this.toClient.lazy(g, () => [
        info.failed ? send('client', shieldTagged(tag, 'NO', 'UNAVAILABLE', info.failed)) : send('client', line),
      ]);
    } else this.toClient.push(g, send('client', line));
    if (lit) this.resp = { kind: 'pass', group: g };
    else this.toClient.close(g);
  }

  // ---------------------------------------------------------------- FETCH responses

  private startFetch(data: Buffer, lit: LiteralSpec | null, prefixLength: number): void {
    const end = lit ? lit.markerOffset : data.length;
    const epochKey = this.verdicts.epochKey();
    if (lit) {
      const probe = new FetchItemParser();
      probe.feed(data.toString('latin1', prefixLength, end));
      const name = probe.literal();
      // Our own whole-message fetch answers with UID and BODY[], plus what a server adds to every FETCH (MODSEQ once
      // CONDSTORE is on, FLAGS when they changed). Should a client fetch of the same message look the same, the two
      // responses carry the same message bytes, so whichever is taken for ours the client still gets one. A client
      // fetch that sets \Seen or is renamed always has FLAGS (fetch-command.ts): then FLAGS means it is not ours.
      const plan = this.firstFetch()?.plan;
      const flagsOk = !plan || (!plan.setsSeen && plan.renames.size === 0);
      if (
        name === 'BODY[]' &&
        probe.uid !== null &&
        epochKey &&
        probe.names.slice(0, -1).every((n) => n === 'UID' || n === 'MODSEQ' || (flagsOk && n === 'FLAGS'))
      ) {
        const own = this.ownByKey.get(this.verdicts.key(epochKey, probe.uid));
        if (own && own.captureId === null) {
          const id = ++this.captureSeq;
          own.captureId = id;
          this.captures.set(id, { kind: 'own', own, size: 0, failed: false });
          this.out.push({ type: 'capture-start', id, direction: 'incoming' });
          this.resp = { kind: 'own', own, sink: { to: 'capture', id } };
          return;
        }
      }
    }
    const ctx = this.newFetchContext(epochKey);
    this.resp = { kind: 'fetch', ctx, sink: { to: 'drop' } };
    this.toClient.push(ctx.group, send('client', data.subarray(0, prefixLength)));
    this.fetchFragment(ctx, data.subarray(prefixLength), lit ? { ...lit, markerOffset: end - prefixLength } : null);
  }

  /** The client FETCH the server is answering (it runs pipelined commands in order). */
  private firstFetch(): InFlight | null {
    for (const i of this.inflight.values()) if (i.verb === 'FETCH' || i.verb === 'UID FETCH') return i;
    return null;
  }

  private newFetchContext(epochKey: string | null): FetchContext {
    return {
      parser: new FetchItemParser(),
      info: this.firstFetch(),
      epochKey,
      group: this.toClient.open(),
      slots: [],
      parts: [],
      descs: [],
      verdicts: [],
      fullPending: 0,
      divert: null,
      content: false,
      flagsSeen: null,
      done: false,
      failed: false,
    };
  }

  /** The cache key of the response's message, once its UID is known and the mailbox is. */
  private ctxKey(ctx: FetchContext): string | null {
    const uid = ctx.parser.uid;
    return uid !== null && ctx.epochKey ? this.verdicts.key(ctx.epochKey, uid) : null;
  }

  /** A fragment of a FETCH response (after its `* n FETCH (` prefix), up to a literal marker or the line end. */
  private fetchFragment(ctx: FetchContext, data: Buffer, lit: LiteralSpec | null): void {
    this.fetchText(ctx, data, lit ? lit.markerOffset : data.length);
    if (!lit) {
      this.toClient.lazy(ctx.group, () => this.afterDelivery(ctx));
      this.toClient.close(ctx.group);
      this.resp = null;
      this.finishFetch(ctx);
      return;
    }
    const r = this.resp;
    if (!r || r.kind !== 'fetch') return;
    const marker = data.subarray(lit.markerOffset);
    const name = ctx.parser.literal();
    if (name === null) {
      // A literal inside a nested value (an ENVELOPE subject): it belongs to whatever that value is going to.
      this.fetchEmit(ctx, marker);
      r.sink = ctx.divert ? { to: 'divert', divert: ctx.divert } : { to: 'client', group: ctx.group };
      return;
    }
    const desc = this.descFor(ctx, name);
    if (desc) {
      desc.data.push(marker);
      r.sink = { to: 'desc', desc };
      return;
    }
    this.contentStart(ctx, name, lit.size, lit.binary, marker);
  }

  /**
   * Response text that is not literal content: passed on, except for what the parser marks as needing a change (an
   * item renamed back, a FLAGS list that gets \Seen, a quoted content string, an item that describes the message).
   */
  private fetchText(ctx: FetchContext, data: Buffer, end: number): void {
    const events = ctx.parser.feed(data.toString('latin1', 0, end));
    const awaiting = ctx.parser.awaitingValueOf;
    if (events.some((e) => e.type === 'name' && setsSeenItem(e.name)) || (awaiting && setsSeenItem(awaiting)))
      ctx.content = true;
    const renames = ctx.info?.plan?.renames;
    let pos = 0;
    for (const ev of events) {
      if (ev.type === 'name') {
        const rn = renames?.get(ev.name);
        if (rn && !ctx.divert) {
          this.fetchEmit(ctx, data.subarray(pos, ev.start));
          this.fetchEmit(ctx, Buffer.from(rn, 'latin1'));
          pos = ev.end;
        }
        continue;
      }
      this.fetchEmit(ctx, data.subarray(pos, ev.at));
      pos = ev.at;
      if (ev.type === 'start') this.divertStart(ctx, ev.name, ev.kind);
      else if (ctx.divert) this.divertEnd(ctx);
    }
    this.fetchEmit(ctx, data.subarray(pos, end));
  }

  private fetchEmit(ctx: FetchContext, bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (ctx.divert) ctx.divert.data.push(bytes);
    else this.toClient.push(ctx.group, send('client', bytes));
  }

  private divertStart(ctx: FetchContext, name: string, kind: 'atom' | 'quoted' | 'nested'): void {
    if (kind === 'quoted' && contentItem(name)) ctx.divert = { kind: 'quoted', name, data: [] };
    else if (kind === 'nested' && name === 'FLAGS' && ctx.info?.plan?.setsSeen)
      ctx.divert = { kind: 'flags', data: [] };
    else {
      const desc = this.descFor(ctx, name);
      if (desc) ctx.divert = { kind: 'desc', desc, data: desc.data };
    }
  }

  private divertEnd(ctx: FetchContext): void {
    const d = ctx.divert!;
    ctx.divert = null;
    switch (d.kind) {
      case 'quoted': {
        // Content in a quoted string is content all the same: scanned like a literal and sent on as one.
        const bytes = unquote(Buffer.concat(d.data));
        this.contentStart(ctx, d.name, bytes.length, false, Buffer.from(literalMarker(bytes.length, false)));
        const r = this.resp;
        if (r?.kind === 'fetch') {
          this.sinkLiteral(r.sink, bytes, true);
          r.sink = { to: 'drop' };
        }
        return;
      }
      case 'flags': {
        const flags = Buffer.concat(d.data).toString('latin1');
        ctx.flagsSeen = hasSeen(flags);
        const shown = ctx.content && this.seen.mailboxWritable ? withSeen(flags) : flags;
        this.fetchEmit(ctx, Buffer.from(shown, 'latin1'));
        return;
      }
      case 'desc':
        this.descDone(d.desc);
        return;
    }
  }

  /**
   * A held slot for an item that describes the message, unless the message is known to be clean. Its bytes are kept
   * and sent as they are, or replaced by the notice's (header-view.ts), once the verdict is known.
   */
  private descFor(ctx: FetchContext, name: string): HeldDesc | null {
    if (!isDescriptive(name) || ctx.failed) return null;
    const key = this.ctxKey(ctx);
    if (key && this.verdicts.get(key)?.kind === 'clean') return null;
    const slot = this.toClient.slot(ctx.group, true);
    ctx.slots.push(slot);
    const desc: HeldDesc = { ctx, slot, name, data: [], bytes: 0, done: false };
    ctx.descs.push(desc);
    return desc;
  }

  private descDone(desc: HeldDesc): void {
    desc.done = true;
    const key = this.ctxKey(desc.ctx);
    const v = key ? this.verdicts.get(key) : undefined;
    if (v) this.resolveDesc(desc, v);
  }

  /** `v` null: no verdict will come in time (too large to scan ahead, or the scan failed): the original goes out. */
  private resolveDesc(desc: HeldDesc, v: CachedVerdict | null): void {
    if (desc.ctx.failed || desc.slot.resolved) return;
    const original = Buffer.concat(desc.data);
    if (v?.kind === 'infected') {
      this.toClient.resolve(desc.slot, [send('client', noticeValue(desc.name, v.notice, original))]);
      return;
    }
    const key = this.ctxKey(desc.ctx);
    if (!v && key && isTopHeader(desc.name)) {
      const lf = original.indexOf(0x0a);
      if (lf >= 0 && original[0] === 0x7b) this.servedHeaders.add(key, original.subarray(lf + 1));
    }
    this.toClient.resolve(desc.slot, [send('client', original)]);
  }

  /** The response's describing items that still wait, once nothing more of it can give them a verdict. */
  private settleDescs(ctx: FetchContext): void {
    const pending = ctx.descs.filter((d) => d.done && !d.slot.resolved);
    if (pending.length === 0 || ctx.failed || !ctx.done || ctx.fullPending > 0) return;
    const key = this.ctxKey(ctx);
    const v = key ? this.verdicts.get(key) : undefined;
    if (v || !key) {
      for (const d of pending) this.resolveDesc(d, v ?? null);
      return;
    }
    // Scan-ahead: a small message is fetched and scanned now, so what the client sees of it is already the notice.
    const size = ctx.parser.size;
    if (size === null || size > this.opts.limits.scanAheadMaxBytes || ctx.epochKey !== this.verdicts.epochKey()) {
      for (const d of pending) this.resolveDesc(d, null);
      return;
    }
    const list = this.waiters.get(key) ?? [];
    for (const d of pending) list.push({ kind: 'desc', desc: d });
    this.waiters.set(key, list);
    this.ensureOwnFetch(ctx.parser.uid!, key);
  }

  /** Runs when the response has been written to the client: the moment the server would have set \Seen. */
  private afterDelivery(ctx: FetchContext): SessionCommand[] {
    const uid = ctx.parser.uid;
    if (!ctx.info?.plan?.setsSeen || !ctx.content || ctx.failed || ctx.flagsSeen === true || uid === null) return [];
    if (!this.seen.mailboxWritable || !ctx.epochKey || ctx.epochKey !== this.verdicts.epochKey()) return [];
    this.toUpstream.urgent([send('upstream', this.seen.store(this.newTag(), uid))]);
    return [];
  }

  private contentStart(ctx: FetchContext, name: string, size: number, binary: boolean, marker: Buffer): void {
    const r = this.resp;
    if (!r || r.kind !== 'fetch') return;
    const g = ctx.group;
    const item = contentItem(name);
    if (!item) {
      this.toClient.push(g, send('client', marker));
      r.sink = { to: 'client', group: g };
      return;
    }
    const key = this.ctxKey(ctx);
    const cached = key ? this.verdicts.get(key) : undefined;
    if (cached?.kind === 'clean') {
      this.toClient.push(g, send('client', marker));
      r.sink = { to: 'client', group: g };
      return;
    }
    if (cached?.kind === 'infected') {
      const count = item.origin === null ? null : (ctx.info?.partials.get(itemKey(item)) ?? size);
      const body = this.noticeBody(key!, cached.notice, item, count);
      this.toClient.push(g, send('client', Buffer.concat([Buffer.from(literalMarker(body.length, binary)), body])));
      r.sink = { to: 'drop' };
      return;
    }
    const slot = this.toClient.slot(g, true);
    ctx.slots.push(slot);
    if (item.full) {
      const id = ++this.captureSeq;
      ctx.fullPending++;
      this.captures.set(id, { kind: 'full', ctx, slot, binary, size: 0, failed: false });
      this.out.push({ type: 'capture-start', id, direction: 'incoming' });
      r.sink = { to: 'capture', id };
      return;
    }
    const part: HeldPart = { ctx, slot, item, itemKey: itemKey(item), marker, binary, data: [], bytes: 0 };
    ctx.parts.push(part);
    r.sink = { to: 'part', part };
  }

  /**
   * What of the notice a content item gets. A body after the original's header went out (the message was too large
   * to scan ahead) is shaped to that header, so the two still make one well-formed message.
   */
  private noticeBody(key: string, notice: Buffer, item: ContentItem, count: number | null): Buffer {
    const header = item.section === 'TEXT' ? this.servedHeaders.get(key) : undefined;
    if (!header) return noticePart(notice, item, count);
    const body = shapedNoticeBody(notice, header);
    if (item.origin === null) return body;
    const start = Math.min(item.origin, body.length);
    return body.subarray(start, count === null ? body.length : Math.min(body.length, start + count));
  }

  private finishFetch(ctx: FetchContext): void {
    ctx.done = true;
    const key = this.ctxKey(ctx);
    if (key) for (const v of ctx.verdicts) this.verdicts.remember(key, v);
    this.settleDescs(ctx);
    if (ctx.parts.length === 0 || ctx.failed) return;
    if (!key || ctx.epochKey !== this.verdicts.epochKey()) {
      this.failFetch(ctx, 'the message could not be identified for scanning; try again');
      return;
    }
    for (const part of ctx.parts) {
      const cached = this.verdicts.get(key);
      if (cached) {
        this.resolvePart(part, cached);
        continue;
      }
      const list = this.waiters.get(key) ?? [];
      list.push({ kind: 'part', part });
      this.waiters.set(key, list);
      this.ensureOwnFetch(ctx.parser.uid!, key);
    }
  }

  private ensureOwnFetch(uid: number, key: string): void {
    if (this.ownByKey.has(key)) return;
    const own: OwnFetch = { tag: this.newTag(), uid, key, captureId: null };
    this.ownByKey.set(key, own);
    this.ownByTag.set(own.tag, own);
    this.out.push(log('debug', 'fetching the whole message to scan it', { uid }));
    this.toUpstream.urgent([send('upstream', `${own.tag} UID FETCH ${uid} (UID BODY.PEEK[])\r\n`)]);
  }

  private ownTagged(own: OwnFetch, text: string): void {
    this.ownByTag.delete(own.tag);
    if (own.captureId !== null) return; // the scan settles the waiters
    this.ownByKey.delete(own.key);
    const why = /^\S+ OK/i.test(text)
      ? 'the message is no longer on the server'
      : 'the server would not return the whole message';
    this.failWaiters(own.key, `${why}; it could not be scanned`);
  }

  private resolvePart(part: HeldPart, v: CachedVerdict): void {
    if (part.ctx.failed) return;
    if (v.kind === 'clean') {
      this.toClient.resolve(part.slot, [
        send('client', part.marker),
        send('client', Buffer.concat(part.data, part.bytes)),
      ]);
      return;
    }
    const count = part.item.origin === null ? null : (part.ctx.info?.partials.get(part.itemKey) ?? part.bytes);
    const body = this.noticeBody(this.ctxKey(part.ctx) ?? '', v.notice, part.item, count);
    this.toClient.resolve(part.slot, [
      send('client', Buffer.concat([Buffer.from(literalMarker(body.length, part.binary)), body])),
    ]);
    part.data = [];
  }

  private resolveWaiters(key: string, v: CachedVerdict): void {
    const list = this.waiters.get(key) ?? [];
    this.waiters.delete(key);
    for (const w of list) {
      if (w.kind === 'part') this.resolvePart(w.part, v);
      else this.resolveDesc(w.desc, v);
    }
  }

  /** Parts cannot be given out without a verdict; describing items can: they show the original. */
  private failWaiters(key: string, reason: string): void {
    const list = this.waiters.get(key) ?? [];
    this.waiters.delete(key);
    for (const w of list) {
      if (w.kind === 'part') this.failFetch(w.part.ctx, reason);
    }
    for (const w of list) if (w.kind === 'desc') this.resolveDesc(w.desc, null);
  }

  /**
   * Content of this response cannot be given to the client. If nothing of the response has been written, it is
   * dropped and the FETCH's tagged reply becomes NO [UNAVAILABLE]; the client tries again later and the message stays
   * on the server. If some of it is already out, the content items become empty.
   */
  private failFetch(ctx: FetchContext, reason: string): void {
    if (ctx.failed) return;
    ctx.failed = true;
    this.out.push(log('warn', 'FETCH content withheld', { reason }));
    if (ctx.info) ctx.info.failed = reason;
    if (!ctx.group.started) {
      this.toClient.drop(ctx.group);
      return;
    }
    for (const d of ctx.descs) this.toClient.resolve(d.slot, [send('client', Buffer.concat(d.data))]);
    for (const s of ctx.slots) this.toClient.resolve(s, [send('client', '{0}\r\n')]);
  }

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
