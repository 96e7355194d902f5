// The one internal-error guard, shared by every protocol session, and the capture registry around it. The driver talks
// only to a GuardedSession. If a session's handle() throws, or the driver itself hits an unexpected error, the client
// is answered in its own protocol (the session supplies the words: POP3 -ERR, IMAP BYE, SMTP 421) with MS_ERR_INTERNAL,
// the error is logged, every capture is discarded and both legs close. The process never goes down for one
// connection's bug, and a dead session is never fed again.
import { ShieldError } from './errors.js';
import { CaptureRegistry } from './capture-registry.js';
import { log, send, type Session, type SessionCommand, type SessionEvent } from './session.js';

export class GuardedSession implements Session {
  private readonly captures = new CaptureRegistry();
  private dead = false;

  constructor(
    private readonly inner: Session,
    private readonly what: string,
  ) {}

  /** The session failed or was closed by the guard; nothing reaches it any more. */
  get failed(): boolean {
    return this.dead;
  }

  handle(event: SessionEvent): SessionCommand[] {
    if (this.dead) return [];
    let cmds: SessionCommand[];
    try {
      cmds = this.inner.handle(event);
    } catch (e) {
      return this.fail(e, `the ${this.what} session failed on a ${event.type} event`);
    }
    return this.captures.filter(cmds);
  }

  internalErrorReply(error: ShieldError): string | Buffer {
    return this.inner.internalErrorReply(error);
  }

  /**
   * Ends the connection after an unexpected error (thrown by the session or met by the driver): the client's
   * explanation, a log line with the cause, every capture discarded, both legs closed. Idempotent.
   */
  fail(cause: unknown, where: string): SessionCommand[] {
    if (this.dead) return [];
    this.dead = true;
    const error = new ShieldError('MS_ERR_INTERNAL', 'mailshield hit an internal error and closed the connection', {
      fix: 'try again; if it keeps happening, report it with the log line of this connection',
      cause,
    });
    const out: SessionCommand[] = [
      log('error', 'internal error', {
        code: error.code,
        where,
        error: cause instanceof Error ? cause.message : String(cause),
        stack: cause instanceof Error ? cause.stack : undefined,
      }),
    ];
    try {
      out.push(send('client', this.inner.internalErrorReply(error)));
    } catch {
      // A session too broken to word its reply still gets closed.
    }
    out.push(...this.captures.discardAll(), { type: 'close', leg: 'both' });
    return out;
  }

  /** The connection is ending outside the session (shutdown, idle timeout, a vanished leg): sweep the captures. */
  end(): SessionCommand[] {
    return this.captures.discardAll();
  }
}
