// Socket side of `mailshield probe`'s mail conversations, on a socket src/io/upstream.ts opened: read the greeting,
// ask for capabilities, run the STARTTLS dance per protocol, and ask again over TLS. What counts as a complete reply, and what a transcript means,
// is decided in src/probe/mail-dialog.ts; this file only moves bytes and keeps time.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ShieldError } from '../core/errors.js';
import {
  ReplyReader,
  SCRIPTS,
  goAheadOk,
  greetingOk,
  parseCapabilities,
  type MailProtocol,
  type Reply,
  type ReplyShape,
  type StarttlsTranscript,
} from '../protocols/mail-dialog.js';

/**
 * A line conversation over one socket (plain or TLS). It owns the socket's 'data' events until release(), which
 * hands back whatever arrived after the last complete reply.
 */
export class Conversation {
  private readonly reader = new ReplyReader();
  private waiter: { shape: ReplyShape; resolve: (r: Reply | null) => void; reject: (e: Error) => void } | null = null;
  private ended = false;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer) => {
    try {
      this.reader.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.pump();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.pump();
  };
  private readonly onError = (e: Error) => this.fail(e);

  constructor(private readonly sock: Socket | TLSSocket) {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
    sock.on('error', this.onError);
  }

  private fail(e: Error): void {
    this.failure = e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(e);
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    const r = this.reader.next(w.shape);
    if (r) {
      this.waiter = null;
      w.resolve(r);
    } else if (this.ended) {
      this.waiter = null;
      w.resolve(null);
    }
  }

  /** The next reply of `shape`; null if the server closed first, or (with allowTimeout) if it stayed silent. */
  read(shape: ReplyShape, timeoutMs: number, what: string, allowTimeout = false): Promise<Reply | null> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        if (allowTimeout) resolve(null);
        else reject(new ShieldError('MS_ERR_UPSTREAM_TIMEOUT', `no ${what} from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        shape,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pump();
    });
  }

  send(line: string): void {
    this.sock.write(`${line}\r\n`);
  }

  /** Stops listening and returns the bytes received after the last complete reply. */
  release(): Buffer {
    this.sock.pause();
    this.sock.off('data', this.onData);
    this.sock.off('end', this.onEnd);
    this.sock.off('close', this.onEnd);
    this.sock.off('error', this.onError);
    return this.reader.takeRest();
  }
}

export interface PlainPhase {
  transcript: StarttlsTranscript;
  /** True when the server gave the go-ahead and the socket is ready for the ClientHello. */
  readyForTls: boolean;
}

/**
 * Greeting, capabilities and STARTTLS on a fresh plain connection. Anything the server sent after its go-ahead is
 * returned in the transcript (and dropped from the socket's path to TLS), never passed on.
 */
export async function plainPhase(sock: Socket, protocol: MailProtocol, timeoutMs: number): Promise<PlainPhase> {
  const script = SCRIPTS[protocol];
  const conv = new Conversation(sock);
  const transcript: StarttlsTranscript = {
    protocol,
    greeting: null,
    capabilities: null,
    starttlsReply: null,
    afterGoAhead: Buffer.alloc(0),
  };
  try {
    transcript.greeting = await conv.read(script.greeting, timeoutMs, 'greeting');
    if (!transcript.greeting || !greetingOk(protocol, transcript.greeting)) {
      conv.release();
      return { transcript, readyForTls: false };
    }
    conv.send(script.capability.command);
    const caps = await conv.read(script.capability.shape, timeoutMs, 'capability reply');
    transcript.capabilities = caps ? parseCapabilities(protocol, caps, transcript.greeting) : null;
    // PREAUTH forbids STARTTLS (RFC 3501 §6.2.1); asking anyway would only show the server's bug, not fix it.
    if (protocol === 'imap' && /^\* PREAUTH\b/i.test(transcript.greeting.lines[0] ?? '')) {
      conv.release();
      return { transcript, readyForTls: false };
    }
    // STARTTLS is tried even when not advertised: some servers support it unannounced, and the finding says so.
    conv.send(script.starttls.command);
    transcript.starttlsReply = await conv.read(script.starttls.shape, timeoutMs, 'STARTTLS reply');
    transcript.afterGoAhead = conv.release();
    const ok = transcript.starttlsReply !== null && goAheadOk(protocol, transcript.starttlsReply);
    return { transcript, readyForTls: ok };
  } catch (e) {
    conv.release();
    throw e;
  }
}

/** What the server says over an established connection (TLS, or plain when asked to): greeting and capabilities. */
export interface SecurePhase {
  greeting: Reply | null;
  capabilities: string[] | null;
  protocol: MailProtocol | null;
}

/** Guesses the protocol from a greeting on a port that does not imply one. */
function protocolOfGreeting(line: string): MailProtocol | null {
  if (line.startsWith('+OK')) return 'pop3';
  if (/^\* (OK|PREAUTH)\b/i.test(line)) return 'imap';
  if (/^220[ -]/.test(line)) return 'smtp';
  return null;
}

/**
 * After TLS: over implicit TLS, read the greeting first (of a known protocol, or of whatever the first line says it
 * is); after STARTTLS there is none. Then ask for capabilities again, because those learned before TLS are void.
 */
export async function securePhase(
  sock: TLSSocket,
  protocol: MailProtocol | null,
  opts: { expectGreeting: boolean; timeoutMs: number; greetingTimeoutMs: number },
): Promise<SecurePhase> {
  const conv = new Conversation(sock);
  const out: SecurePhase = { greeting: null, capabilities: null, protocol };
  try {
    if (opts.expectGreeting) {
      // SMTP greetings may be multi-line; an unknown protocol gets its first line, which tells us what it is.
      const shape: ReplyShape = protocol ? SCRIPTS[protocol].greeting : { kind: 'line' };
      const wait = protocol ? opts.timeoutMs : opts.greetingTimeoutMs;
      out.greeting = await conv.read(shape, wait, 'greeting', protocol === null);
      if (!out.greeting) return out;
      if (!protocol) {
        out.protocol = protocolOfGreeting(out.greeting.lines[0] ?? '');
        if (out.protocol === 'smtp' && /^220-/.test(out.greeting.lines[0] ?? '')) {
          const more = await conv.read({ kind: 'smtp' }, opts.timeoutMs, 'greeting');
          if (more) out.greeting = { lines: [...out.greeting.lines, ...more.lines] };
        }
      }
      if (!out.protocol || !greetingOk(out.protocol, out.greeting)) return out;
    }
    const p = out.protocol;
    if (!p) return out;
    conv.send(SCRIPTS[p].capability.command);
    const caps = await conv.read(SCRIPTS[p].capability.shape, opts.timeoutMs, 'capability reply');
    out.capabilities = caps ? parseCapabilities(p, caps, out.greeting) : null;
    conv.send(SCRIPTS[p].quit);
    return out;
  } finally {
    conv.release();
  }
}
