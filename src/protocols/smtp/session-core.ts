// The SMTP session's state and the helpers every part of it uses. The session is split into rooms by what it does:
// this file (state), upstream-relay.ts (upstream set-up and reply relay), data-flow.ts (DATA: capture, scan,
// delivery) and session.ts (events, client commands). Each room is a class in one chain.
import { EventDrivenSession } from '../../core/session-events.js';
import { ShieldError } from '../../core/errors.js';
import { log, send } from '../../core/session.js';
import type { SessionOptions } from '../../core/session.js';
import { heldClientInputBytes } from '../../core/limits.js';
import { ClientStartTlsGuard } from '../../core/starttls-guard.js';
import { UpstreamSetupStepper } from '../../core/upstream-setup.js';
import { ClientFramer, ReplyFramer } from './framer.js';
import type { ClientUnit, Reply } from './framer.js';
import { ours } from './replies.js';
import { HeaderSniffer } from './signature.js';
import type { SignatureParts } from './signature.js';
import { SmtpUpstreamSetup } from './upstream-setup.js';

export type Flight =
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
export type Phase = 'wait-start' | 'setup' | 'ready' | 'client-tls' | 'closed';

export interface Capture {
  id: number;
  /** `delivering`: clean, DATA sent upstream; `submitted`: the message and its end went upstream, the final reply
   * is awaited. */
  state: 'receiving' | 'scanning' | 'delivering' | 'submitted';
  sniffer: HeaderSniffer | null;
  failed: ShieldError | null;
  /** Content lines that begin with a dot; a footer is only added when there are none (see sendCapture). */
  dotLines: number;
}

export const PIPELINABLE = new Set(['MAIL', 'RCPT', 'RSET']);

export abstract class SmtpSessionCore extends EventDrivenSession {
  protected phase: Phase = 'wait-start';
  protected readonly client: ClientFramer;
  protected readonly up: ReplyFramer;
  protected readonly setup: UpstreamSetupStepper<Reply>;
  protected readonly stls: ClientStartTlsGuard;
  protected greeted = false;
  protected secure: boolean;
  protected needHelo = false;
  protected inflight: Flight[] = [];
  protected held: ClientUnit | null = null;
  protected authCont = false;
  protected txn = { mail: false, rcpts: 0 };
  protected upSize: number | null = null;
  protected upPipelining = false;
  protected capture: Capture | null = null;
  protected nextId = 1;
  /** Unframed client input allowed to wait while the session is blocked (pipelined commands). */
  protected readonly backlogCap: number;

  constructor(protected readonly opts: SessionOptions) {
    super();
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

  // ---- helpers ----

  /** A method, not a field test, because handlers called in between may close the session. */
  protected closed(): boolean {
    return this.phase === 'closed';
  }

  protected toClient(s: string | Buffer): void {
    this.out.push(send('client', s));
  }

  protected toUpstream(s: string | Buffer): void {
    this.out.push(send('upstream', s));
  }

  protected closeAll(): void {
    this.phase = 'closed';
    this.setup.abandon(this.out);
    if (this.capture) {
      this.out.push({ type: 'capture-discard', id: this.capture.id });
      this.capture = null;
    }
    this.out.push({ type: 'close', leg: 'both' });
  }

  protected resetTxn(): void {
    this.txn = { mail: false, rcpts: 0 };
  }

  protected sizeCap(): number {
    const lim = this.opts.limits.maxMessageBytes;
    return this.upSize && this.upSize > 0 ? Math.min(lim, this.upSize) : lim;
  }

  protected failBeforeGreeting(err: ShieldError): void {
    this.out.push(log('warn', 'upstream not usable; refusing the client', { code: err.code, error: err.message }));
    // 4.4.2: the connection to the server broke down (RFC 3463); 4.7.0: a security refusal.
    const enhanced = err.code === 'MS_ERR_UPSTREAM_GREETING_TIMEOUT' ? '4.4.2' : '4.7.0';
    this.toClient(ours(421, enhanced, err.toReplyText()));
    this.closeAll();
  }

  protected greetClient(greeting: Buffer): void {
    this.greeted = true;
    this.toClient(greeting);
    this.pumpClient();
  }

  // Defined by later rooms in the chain.
  protected abstract pumpClient(): void;
}
