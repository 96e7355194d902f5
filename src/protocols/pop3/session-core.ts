// The POP3 session's state and its output: what every room of the session shares. The rooms: this file (state,
// output), upstream-replies.ts (upstream set-up, CAPA and the server's answers), verdicts.ts (scan results) and
// session.ts (events, lifecycle, client commands). Each room is a class in one chain.
import { EventDrivenSession } from '../../core/session-events.js';
import { ShieldError } from '../../core/errors.js';
import type { SessionCommand, SessionOptions } from '../../core/session.js';
import { heldClientInputBytes } from '../../core/limits.js';
import { ClientStartTlsGuard } from '../../core/starttls-guard.js';
import { UpstreamSetupStepper } from '../../core/upstream-setup.js';
import { DotDecoder, LineFramer, type Line } from './framer.js';
import { ListBodyRewriter, type ListSizes } from './list-view.js';
import * as R from './replies.js';
import { Pop3UpstreamSetup } from './upstream-setup.js';

export type Phase =
  /** Waiting for the driver's `start` or `upstream-failed`. */
  | 'init'
  /** The upstream setup (upstream-setup.ts): greeting, and for STARTTLS also CAPA, STLS and the handshake. */
  | 'setup'
  | 'ready'
  | 'closed';

export type Verdict =
  | { kind: 'released' }
  | { kind: 'replaced'; notice: Buffer; quarantineId: string }
  | { kind: 'refused'; reply: string };

export interface Entry {
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
  /**
   * A command that needs the verdict of a message still being scanned (TOP, DELE under keepInfectedOnServer). It
   * keeps its place among the answers and is decided once no scan of `msg` is pending (session.ts resumeDeferred),
   * so the commands after it go to the server at once instead of waiting behind the scan.
   */
  deferred?: { line: Line; msg: number };
  /** Counted in `pendingVerdict` until its verdict (or failure) is known. */
  pending?: boolean;
  capa?: { lines: string[]; bytes: number };
  /** LIST without an argument: its scan listings show replaced messages with the notice's size. */
  list?: ListBodyRewriter;
}

/** A body line keyword of CAPA (RFC 2449), upper-cased. */
export const capaKeyword = (l: string) => (l.split(' ')[0] ?? '').toUpperCase();

export abstract class Pop3SessionCore extends EventDrivenSession {
  protected phase: Phase = 'init';
  protected clientSecure: boolean;
  protected readonly clientIn: LineFramer;
  protected upIn: LineFramer;
  /** A client line pulled from the framer but held: a QUIT waiting for every earlier answer. */
  protected heldLine: Line | null = null;
  /** Non-null while a body is being read from upstream (bytes go to the decoder of awaiting[0]). */
  protected upBody = false;
  protected readonly awaiting: Entry[] = [];
  protected readonly outQueue: Entry[] = [];
  protected readonly byCapture = new Map<number, Entry>();
  /** Captures whose capture-discard has not been emitted yet. */
  protected readonly liveCaptures = new Set<number>();
  protected nextCapture = 1;
  protected readonly verdicts = new Map<number, Verdict>();
  /** Sizes from LIST answers: TOP n 0 of a message above limits.scanAheadMaxBytes is not scanned ahead. */
  protected readonly listedSizes = new Map<number, number>();
  protected readonly listSizes: ListSizes = {
    listed: (n, size) => this.listedSizes.set(n, size),
    replacedSize: (n) => {
      const v = this.verdicts.get(n);
      return v?.kind === 'replaced' ? v.notice.length : undefined;
    },
  };
  /** Per message number: how many RETRs are on their way or being scanned. */
  protected readonly pendingVerdict = new Map<number, number>();
  protected authActive = false;
  /** Client sent STLS; bytes after it are held until mailshield answers, then belong to TLS or are dropped. */
  protected readonly stls: ClientStartTlsGuard;
  protected readonly setup: UpstreamSetupStepper<Line>;
  /** Close both legs once every queued answer is written. */
  protected closing = false;
  /** Bound on client bytes held ahead of their replies; a pipelining client needs a few lines, not megabytes. */
  protected readonly maxHeldClientBytes: number;

  constructor(protected readonly opts: SessionOptions) {
    super();
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

  // ---- output ----------------------------------------------------------------------------------------------------

  protected flush(): void {
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

  // Defined by later rooms in the chain.
  protected abstract answerStls(entry: Entry): void;
  protected abstract discardAll(): void;
  protected abstract failEntry(entry: Entry, reply: Buffer): void;
  protected abstract failUpstream(error: ShieldError): void;
  protected abstract resolveCaptureFailed(e: Entry, error: ShieldError): void;
  protected abstract unpend(e: Entry): void;
  protected abstract discard(id: number): void;
}
