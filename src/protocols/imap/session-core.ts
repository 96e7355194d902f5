// The IMAP session's state and plumbing: what every room of the session shares. The rooms, one class chain:
// this file (state, ordering, output), responses.ts (upstream greeting, STARTTLS, response routing and mailbox
// state), fetch-intercept.ts (FETCH interception and the shield's own whole-message fetch), append-relay.ts
// (APPEND), scan-results.ts (verdicts) and session.ts (events, client commands).
import { EventDrivenSession } from '../../core/session-events.js';
import { ShieldError } from '../../core/errors.js';
import { log, send, type SessionOptions } from '../../core/session.js';
import { heldClientInputBytes } from '../../core/limits.js';
import { ClientStartTlsGuard } from '../../core/starttls-guard.js';
import { UpstreamSetupStepper, type SetupOutcome } from '../../core/upstream-setup.js';
import type { AppendState } from './append.js';
import { capabilitiesIn, rewriteCapabilityLine, ServerCapabilities } from './capabilities.js';
import type { CommandHead } from './command.js';
import { ServedHeaders } from './header-view.js';
import { Ordered, type Group } from './ordered.js';
import { bye, byeUnavailable } from './replies.js';
import { ImapTokenizer, type LiteralSpec } from './tokenizer.js';
import { SeenState } from './seen.js';
import type { Capture, FetchContext, HeldDesc, InFlight, LiteralSink, OwnFetch, Waiter } from './session-state.js';
import { UpstreamSetup } from './upstream-setup.js';
import { VerdictCache } from './verdict-cache.js';

/** `setup`: greeting, CAPABILITY and STARTTLS with the server (upstream-setup.ts); `relay` once the client is greeted. */
export type Phase = 'wait-start' | 'setup' | 'relay' | 'closed';

/** A client command being received (between its first line and its last line). */
export interface ClientCommand {
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

export const KEEPALIVE_TIMER = 'imap-scan-keepalive';

export abstract class ImapSessionCore extends EventDrivenSession {
  protected phase: Phase = 'wait-start';
  protected readonly toClient = new Ordered();
  protected readonly toUpstream = new Ordered();
  protected clientTok: ImapTokenizer;
  protected upTok: ImapTokenizer;
  protected clientSecure: boolean;
  protected readonly startTls: ClientStartTlsGuard;
  protected startTlsTag = '';

  protected tagSeq = 0;
  protected captureSeq = 0;
  protected readonly upCaps = new ServerCapabilities();
  protected readonly setup: UpstreamSetupStepper<string>;

  protected cmd: ClientCommand | null = null;
  protected clientMode: 'command' | 'idle' | 'auth' = 'command';
  protected modeGroup: Group | null = null;
  protected modeTag = '';
  protected readonly inflight = new Map<string, InFlight>();

  protected resp:
    | { kind: 'pass'; group: Group }
    | { kind: 'fetch'; ctx: FetchContext; sink: LiteralSink }
    | { kind: 'own'; own: OwnFetch; sink: LiteralSink }
    | { kind: 'drop' }
    | null = null;

  protected readonly verdicts = new VerdictCache();
  protected readonly ownByKey = new Map<string, OwnFetch>();
  protected readonly ownByTag = new Map<string, OwnFetch>();
  protected readonly waiters = new Map<string, Waiter[]>();
  protected readonly servedHeaders = new ServedHeaders();
  protected readonly seen = new SeenState();
  protected readonly captures = new Map<number, Capture>();
  protected keepaliveArmed = false;

  constructor(protected readonly opts: SessionOptions) {
    super();
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

  // ---------------------------------------------------------------- plumbing

  protected newTokenizer(leg: 'client' | 'upstream'): ImapTokenizer {
    const l = this.opts.limits;
    // Server literals are not limited here: they stream, and a captured one is bounded by the spool (maxMessageBytes).
    return new ImapTokenizer({
      maxLineBytes: l.maxLineBytes,
      maxLiteralBytes: leg === 'client' ? Math.min(l.maxLiteralBytes, l.maxMessageBytes) : Number.MAX_SAFE_INTEGER,
    });
  }

  protected newTag(): string {
    return `ms${++this.tagSeq}.${this.opts.connId}`;
  }

  protected flush(): void {
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

  protected toClientNow(data: string | Buffer): void {
    const g = this.toClient.open();
    this.toClient.push(g, send('client', data));
    this.toClient.close(g);
  }

  protected closeAll(msg: string, fields?: Record<string, unknown>): void {
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
  protected failUpstream(error: ShieldError): void {
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

  protected get offerStartTls(): boolean {
    return this.opts.account.clientTls === 'starttls' && !this.clientSecure;
  }

  protected rewriteCaps(line: string): string {
    const caps = capabilitiesIn(line);
    if (!caps) return line;
    this.upCaps.set(caps);
    return rewriteCapabilityLine(line, { offerStartTls: this.offerStartTls });
  }

  // Defined by later rooms in the chain.
  protected abstract runSetup(o: SetupOutcome, line: Buffer | null): void;
  protected abstract descDone(desc: HeldDesc): void;
  protected abstract failFetch(ctx: FetchContext, reason: string): void;
  protected abstract fetchFragment(ctx: FetchContext, data: Buffer, lit: LiteralSpec | null): void;
  protected abstract ownTagged(own: OwnFetch, text: string): void;
  protected abstract pumpClient(): void;
  protected abstract startFetch(data: Buffer, lit: LiteralSpec | null, prefixLength: number): void;
  protected abstract refuseTooLarge(head: CommandHead, lit: LiteralSpec): void;
}
