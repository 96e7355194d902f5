// The upstream leg before relaying starts, shared by POP3, IMAP and SMTP: the server's greeting and, for upstreamTls:
// starttls, its capabilities (CAPA/CAPABILITY/EHLO), STARTTLS and the handshake. Each protocol supplies a *dialect*, a
// pure step machine that reads the server's units (lines, SMTP replies) and says what to do next. The stepper around
// it owns what every protocol needs the same way: one timer over the whole phase (a server that accepts TCP or TLS and
// never greets must not hold the client until the idle timeout), the state "waiting for the upstream handshake", and
// the CVE-2011-0411 rule that bytes after the server's go-ahead are dropped. Pure: it returns commands for the driver.
import { ShieldError } from './errors.js';
import { log, send, type SessionCommand } from './session.js';

export type SetupStep =
  /** Nothing to do: a unit the setup does not wait for. */
  | { kind: 'wait' }
  /** A command of the shield's own for the server. */
  | { kind: 'send'; line: string }
  /** The server turned the connection away in its greeting: pass its words on to the client and close. */
  | { kind: 'refused' }
  | { kind: 'fail'; error: ShieldError }
  /** The server said go ahead: start TLS on the upstream leg. */
  | { kind: 'start-tls' }
  /** Setup is done: greet the client with `greeting`; `rewrite` asks the session to rewrite capabilities in it. */
  | { kind: 'done'; greeting: Buffer; rewrite: boolean };

export interface SetupDialect<U> {
  /** A unit from the server while the setup runs. */
  unit(u: U): SetupStep;
  /** The upstream handshake after the go-ahead finished; what was learned before it must be forgotten. */
  tlsReady(): SetupStep;
  /** What the setup waits for now, for the timeout's explanation ("greeting", "reply to STARTTLS"). */
  readonly waitingFor: string;
}

/** What the session has to do after a step; sends, start-tls and the timer are already in `out`. */
export type SetupOutcome =
  | { kind: 'pending' }
  | { kind: 'refused' }
  | { kind: 'fail'; error: ShieldError }
  | { kind: 'done'; greeting: Buffer; rewrite: boolean };

export const SETUP_TIMER = 'upstream-setup';

type State = 'idle' | 'running' | 'tls' | 'over';

export class UpstreamSetupStepper<U> {
  private state: State = 'idle';
  private injectionLogged = false;

  constructor(
    private readonly dialect: SetupDialect<U>,
    private readonly timeoutMs: number,
    private readonly upstream: string,
    /** Takes what the session's framer still buffers, for the go-ahead: returns how many bytes it dropped. */
    private readonly drainPlain: () => number,
  ) {}

  /** The upstream is connected (and handshaken, for implicit TLS): the phase and its timer start. */
  begin(out: SessionCommand[]): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    out.push({ type: 'set-timer', name: SETUP_TIMER, ms: this.timeoutMs });
  }

  /** Units are read only while this is true; between the go-ahead and the handshake they are injected bytes. */
  get running(): boolean {
    return this.state === 'running';
  }

  get awaitingTls(): boolean {
    return this.state === 'tls';
  }

  get over(): boolean {
    return this.state === 'over';
  }

  unit(u: U, out: SessionCommand[]): SetupOutcome {
    if (this.state !== 'running') return { kind: 'pending' };
    return this.apply(this.dialect.unit(u), out);
  }

  tlsReady(out: SessionCommand[]): SetupOutcome {
    if (this.state !== 'tls') return { kind: 'pending' };
    this.state = 'running';
    this.injectionLogged = false;
    return this.apply(this.dialect.tlsReady(), out);
  }

  /** A timer fired; only the setup's own timer, while the setup runs, ends it. */
  timer(name: string): SetupOutcome {
    if (name !== SETUP_TIMER || (this.state !== 'running' && this.state !== 'tls')) return { kind: 'pending' };
    this.state = 'over';
    const s = Math.round(this.timeoutMs / 100) / 10;
    return {
      kind: 'fail',
      error: new ShieldError(
        'MS_ERR_UPSTREAM_GREETING_TIMEOUT',
        `the mail server ${this.upstream} did not send its ${this.dialect.waitingFor} within ${s} s`,
        {
          fix: 'check that upstream and upstreamTls match the server (an implicit-TLS port stays silent to plaintext), or raise limits.upstreamGreetingTimeoutMs',
        },
      ),
    };
  }

  /** The session ends before the setup did: the timer must not outlive it. */
  abandon(out: SessionCommand[]): void {
    if (this.state === 'running' || this.state === 'tls') out.push({ type: 'clear-timer', name: SETUP_TIMER });
    this.state = 'over';
  }

  /** Bytes the server sent after its STARTTLS go-ahead and before the handshake: dropped and logged once. */
  injected(bytes: number, out: SessionCommand[]): void {
    if (bytes === 0 || this.injectionLogged) return;
    this.injectionLogged = true;
    out.push(
      log('warn', 'discarded bytes the mail server sent after its STARTTLS go-ahead', {
        code: 'MS_ERR_UPSTREAM_STARTTLS_INJECTION',
        bytes,
      }),
    );
  }

  private apply(step: SetupStep, out: SessionCommand[]): SetupOutcome {
    switch (step.kind) {
      case 'wait':
        return { kind: 'pending' };
      case 'send':
        out.push(send('upstream', step.line));
        return { kind: 'pending' };
      case 'start-tls':
        this.state = 'tls';
        out.push({ type: 'start-tls', leg: 'upstream' });
        // Whatever is already buffered after the go-ahead was sent in clear before TLS.
        this.injected(this.drainPlain(), out);
        return { kind: 'pending' };
      case 'refused':
      case 'fail':
      case 'done':
        this.state = 'over';
        out.push({ type: 'clear-timer', name: SETUP_TIMER });
        return step;
    }
  }
}

/** A server line for an error message: printable ASCII, bounded. */
export function printable(s: string): string {
  return s
    .replace(/[^\x20-\x7e]/g, ' ')
    .trim()
    .slice(0, 200);
}
