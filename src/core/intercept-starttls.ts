// The plaintext phase of an intercepted STARTTLS connection (ports 25, 110, 143, 587), pure. Until the client's
// ClientHello names the server (SNI) mailshield cannot know whether the connection is one to intercept, so it relays
// the greeting and the capability dialogue between the client and the real server unchanged, watching for the
// client's STARTTLS and the server's go-ahead. Only then does the driver read the ClientHello and decide. Commands
// that would carry credentials or mail in clear (AUTH, LOGIN, USER, MAIL) are refused, not relayed: such a client
// bypasses both TLS and the scanner, and relaying it silently would pretend it was protected.
import { ShieldError } from './errors.js';
import { LINE_TOO_LONG, LineSplitter, lineEnd } from './line-framer.js';
import type { InterceptProtocol } from './intercept.js';
import type { Session, SessionCommand, SessionEvent } from './session.js';

export type WatchOutput =
  | { type: 'to-upstream'; data: Buffer }
  | { type: 'to-client'; data: Buffer }
  /** Send `reply` to the client and close both legs. */
  | { type: 'refuse'; reply: Buffer; error: ShieldError }
  /**
   * The server gave its go-ahead (already relayed). The client's next bytes are its ClientHello; `pending` holds any
   * already received. `discarded` counts server bytes after the go-ahead, which were dropped (CVE-2011-0411 class).
   */
  | { type: 'tls'; pending: Buffer; discarded: number };

/** Commands relayed before STARTTLS: capability queries and the polite ends. Everything else is refused. */
const ALLOWED: Record<InterceptProtocol, readonly string[]> = {
  smtp: ['EHLO', 'HELO', 'NOOP', 'RSET', 'QUIT'],
  imap: ['CAPABILITY', 'NOOP', 'LOGOUT', 'ID'],
  pop3: ['CAPA', 'NOOP', 'QUIT'],
};
const STARTTLS: Record<InterceptProtocol, string> = { smtp: 'STARTTLS', imap: 'STARTTLS', pop3: 'STLS' };

/** What the next server reply answers. */
type Expect =
  { kind: 'greeting' } | { kind: 'reply'; multi: boolean; tag?: string } | { kind: 'starttls'; tag?: string };

export class StartTlsWatch {
  private readonly fromClient: LineSplitter;
  private readonly fromServer: LineSplitter;
  private readonly expect: Expect[] = [{ kind: 'greeting' }];
  /** Inside a POP3 multi-line reply (CAPA). */
  private inMulti = false;
  private state: 'plain' | 'starttls-sent' | 'done' = 'plain';

  constructor(
    private readonly protocol: InterceptProtocol,
    maxLineBytes: number,
  ) {
    this.fromClient = new LineSplitter(maxLineBytes);
    this.fromServer = new LineSplitter(maxLineBytes);
  }

  /** True once the go-ahead was seen: the driver owns the sockets again. */
  get finished(): boolean {
    return this.state === 'done';
  }

  client(data: Buffer): WatchOutput[] {
    if (this.state === 'done') return [];
    this.fromClient.push(data);
    // After STARTTLS the client's bytes are TLS: keep them whole for the ClientHello reader.
    if (this.state === 'starttls-sent') return [];
    const out: WatchOutput[] = [];
    for (;;) {
      const line = this.fromClient.next();
      if (line === null) return out;
      if (line === LINE_TOO_LONG)
        return [...out, this.refusal(this.plaintext('a command line longer than allowed'), '')];
      const text = line.subarray(0, lineEnd(line)).toString('latin1');
      const words = text.split(' ');
      const tag = this.protocol === 'imap' ? words.shift() : undefined;
      const verb = (words[0] ?? '').toUpperCase();
      if (verb === STARTTLS[this.protocol]) {
        this.state = 'starttls-sent';
        this.expect.push({ kind: 'starttls', tag });
        out.push({ type: 'to-upstream', data: line });
        return out;
      }
      if (!ALLOWED[this.protocol].includes(verb))
        return [...out, this.refusal(this.plaintext(verb || 'an empty line'), tag ?? '')];
      this.expect.push({ kind: 'reply', multi: this.protocol === 'pop3' && verb === 'CAPA', tag });
      out.push({ type: 'to-upstream', data: line });
    }
  }

  upstream(data: Buffer): WatchOutput[] {
    if (this.state === 'done') return [];
    this.fromServer.push(data);
    const out: WatchOutput[] = [];
    for (;;) {
      const line = this.fromServer.next();
      if (line === null) return out;
      if (line === LINE_TOO_LONG) {
        const error = new ShieldError(
          'MS_ERR_UPSTREAM_PROTOCOL',
          'the mail server sent a line longer than mailshield accepts before STARTTLS',
          { fix: 'raise limits.maxLineBytes' },
        );
        return [...out, this.refusal(error, '')];
      }
      out.push({ type: 'to-client', data: line });
      const verdict = this.replyEnd(line.subarray(0, lineEnd(line)).toString('latin1'));
      if (verdict === 'go-ahead') {
        this.state = 'done';
        const discarded = this.fromServer.takeRest().length;
        out.push({ type: 'tls', pending: this.fromClient.takeRest(), discarded });
        return out;
      }
      if (verdict === 'refused') {
        // The server declined STARTTLS: the client learns it from the relayed reply; it may only quit now.
        this.state = 'plain';
      }
    }
  }

  /** Classifies one server line against what it answers: null while a reply continues. */
  private replyEnd(text: string): 'go-ahead' | 'refused' | 'other' | null {
    const head = this.expect[0];
    if (this.protocol === 'imap') {
      if (text.startsWith('* ') || text.startsWith('+ ')) {
        if (head?.kind === 'greeting') this.expect.shift();
        return 'other';
      }
      const i = this.expect.findIndex((e) => e.kind !== 'greeting' && e.tag === text.split(' ')[0]);
      if (i < 0) return 'other';
      const [e] = this.expect.splice(i, 1);
      if (e?.kind !== 'starttls') return 'other';
      return /^\S+ OK\b/i.test(text) ? 'go-ahead' : 'refused';
    }
    if (this.protocol === 'smtp') {
      if (!/^\d{3}( |$)/.test(text)) return null;
      const e = this.expect.shift();
      if (e?.kind !== 'starttls') return 'other';
      return text.startsWith('220') ? 'go-ahead' : 'refused';
    }
    // POP3: one status line, or for CAPA's +OK a body up to ".".
    if (this.inMulti) {
      if (text !== '.') return null;
      this.inMulti = false;
      this.expect.shift();
      return 'other';
    }
    const ok = text.startsWith('+OK');
    if (head?.kind === 'reply' && head.multi && ok) {
      this.inMulti = true;
      return null;
    }
    const e = this.expect.shift();
    if (e?.kind !== 'starttls') return 'other';
    return ok ? 'go-ahead' : 'refused';
  }

  private plaintext(what: string): ShieldError {
    return new ShieldError(
      'MS_ERR_INTERCEPT_PLAINTEXT',
      `mailshield relays this port only after ${STARTTLS[this.protocol]}, but the mail client sent ${what} in clear first`,
      { fix: "set the account's connection security to STARTTLS (or SSL/TLS on the server's TLS port)" },
    );
  }

  private refusal(error: ShieldError, tag: string): WatchOutput {
    this.state = 'done';
    const starttls = STARTTLS[this.protocol];
    const text = error.toReplyText();
    const reply =
      this.protocol === 'smtp'
        ? `530 5.7.0 ${text}\r\n`
        : this.protocol === 'imap'
          ? `* BYE [ALERT] ${text}\r\n${tag ? `${tag} BAD [PRIVACYREQUIRED] ${starttls} first\r\n` : ''}`
          : `-ERR ${text}\r\n`;
    return { type: 'refuse', reply: Buffer.from(reply, 'latin1'), error };
  }
}

/** What the session is told the server greeted with; the real greeting already reached the client in clear. */
const STAND_IN_GREETING: Record<InterceptProtocol, string> = {
  smtp: '220 mailshield ESMTP\r\n',
  imap: '* OK mailshield\r\n',
  pop3: '+OK mailshield\r\n',
};

/**
 * Runs a protocol session on a connection whose STARTTLS already happened on both legs (the watch above relayed it).
 * The session is given the client leg as implicit TLS and the upstream as implicit TLS, so it expects a greeting from
 * the server and owes one to the client; after STARTTLS neither is sent. So the session gets a stand-in server
 * greeting and its own greeting to the client is dropped. Everything after that is the session's ordinary work.
 */
export function afterRelayedGreeting(inner: Session, protocol: InterceptProtocol): Session {
  let started = false;
  let dropGreeting = false;
  const filter = (cmds: SessionCommand[]): SessionCommand[] => {
    if (!dropGreeting) return cmds;
    const i = cmds.findIndex((c) => c.type === 'send' && c.to === 'client');
    if (i < 0) return cmds;
    dropGreeting = false;
    return [...cmds.slice(0, i), ...cmds.slice(i + 1)];
  };
  return {
    internalErrorReply: (error) => inner.internalErrorReply(error),
    handle(ev: SessionEvent): SessionCommand[] {
      if (ev.type !== 'start' || started) return filter(inner.handle(ev));
      started = true;
      dropGreeting = true;
      const greeting = Buffer.from(STAND_IN_GREETING[protocol], 'latin1');
      return filter([...inner.handle(ev), ...inner.handle({ type: 'data', from: 'upstream', data: greeting })]);
    },
  };
}
