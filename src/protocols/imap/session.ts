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
import type { SessionEventHandlers } from '../../core/session-events.js';
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
import { commandHead, mailboxKey, partialCounts, type CommandHead } from './command.js';
import { planFetch } from './fetch-command.js';
import { byePlain, keepalive, shieldTagged, tagged } from './replies.js';
import type { LiteralSpec } from './tokenizer.js';
import type { InFlight } from './session-state.js';
import { ClientCommand, KEEPALIVE_TIMER } from './session-core.js';
import { ImapScanResults } from './scan-results.js';

class ImapSession extends ImapScanResults implements Session, SessionEventHandlers {
  protected override whenClosed(event: SessionEvent): boolean {
    if (this.phase !== 'closed') return false;
    // Captures still finishing after the end must be let go.
    if (event.type === 'scan-done') this.out.push({ type: 'capture-discard', id: event.id });
    return true;
  }

  protected override afterEvent(): void {
    this.maybeStartTlsGoAhead();
    this.flush();
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

  protected tooMuchClientInput(): void {
    const limit = heldClientInputBytes(this.opts.limits);
    const e = new ShieldError(
      'MS_ERR_CLIENT_PROTOCOL',
      `The client sent more than ${limit} bytes without waiting for the answers`,
      { required: 'wait for the greeting and for the STARTTLS go-ahead' },
    );
    this.toClientNow(byePlain(e.toReplyText()));
    this.closeAll('client sent too much ahead of the answers', { code: e.code });
  }

  protected pumpClient(): void {
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

  protected clientLiteral(data: Buffer, last: boolean): void {
    const c = this.cmd;
    if (!c) return;
    if (c.keepLiteralText && c.text.length < this.opts.limits.maxLineBytes) c.text += data.toString('latin1');
    this.sinkLiteral(c.sink, data, last);
  }

  protected clientLine(data: Buffer, lit: LiteralSpec | null): void {
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
  protected refuse(head: CommandHead, lit: LiteralSpec | null, reply: string): void {
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

  protected swallowFragment(c: ClientCommand, lit: LiteralSpec | null): void {
    if (lit && !lit.sync) {
      c.sink = { to: 'drop' };
      return;
    }
    // A synchronizing literal is never sent without our go-ahead, so the command ends here.
    if (lit) this.clientTok.cancelLiteral();
    this.cmd = null;
    c.onEnd?.();
  }

  protected startForward(head: CommandHead, data: Buffer, lit: LiteralSpec | null): void {
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

  protected literalTooLarge(lit: LiteralSpec): ShieldError {
    const e = new ShieldError('MS_ERR_CLIENT_LITERAL_TOO_LARGE', 'The message is larger than mailshield accepts', {
      offered: `${lit.size} bytes`,
      required: `at most ${Math.min(this.opts.limits.maxLiteralBytes, this.opts.limits.maxMessageBytes)} bytes`,
      fix: 'raise limits.maxLiteralBytes and limits.maxMessageBytes',
    });
    this.out.push(log('warn', e.message, { code: e.code, size: lit.size }));
    return e;
  }

  /** A synchronizing literal waits for our go-ahead, so refusing it is enough: the client sends a new command. */
  protected refuseTooLarge(head: CommandHead, lit: LiteralSpec): void {
    this.refuse(head, lit, shieldTagged(head.tag, 'NO', 'TOOBIG', this.literalTooLarge(lit).toReplyText()));
  }

  /**
   * A non-synchronizing literal beyond the limit is already on its way, and reading it only to throw it away would
   * let a client keep the shield busy for as long as it likes (RFC 7888 §4 allows closing instead). The command is
   * answered NO [TOOBIG], the session says BYE and closes; nothing of the literal is read or passed on.
   */
  protected nonSyncTooLarge(line: Buffer, lit: LiteralSpec): void {
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

  protected continueCommand(c: ClientCommand, data: Buffer, lit: LiteralSpec | null): void {
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

  protected forwardFragment(c: ClientCommand, data: Buffer, lit: LiteralSpec | null): void {
    const g = c.group!;
    if (c.text.length < this.opts.limits.maxLineBytes) c.text += data.toString('latin1');
    this.toUpstream.push(g, send('upstream', data));
    if (lit) return;
    this.cmd = null;
    c.onEnd?.();
    // IDLE and AUTHENTICATE stay open: what the client sends next belongs to them, and nothing may be put between.
    if (this.modeGroup !== g) this.toUpstream.close(g);
  }

  protected clientStartTls(head: CommandHead, lit: LiteralSpec | null): void {
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
  protected maybeStartTlsGoAhead(): void {
    if (this.phase !== 'relay' || this.startTls.state !== 'waiting' || this.inflight.size > 0) return;
    const cmds: SessionCommand[] = [];
    this.startTls.goAhead(tagged(this.startTlsTag, 'OK', null, 'Begin TLS negotiation now'), cmds);
    // One group, so the handshake starts right after the go-ahead and nothing slips in between.
    const g = this.toClient.open();
    for (const c of cmds) this.toClient.push(g, c);
    this.toClient.close(g);
  }
}

export function createImapSession(opts: SessionOptions): Session {
  return new ImapSession(opts);
}
