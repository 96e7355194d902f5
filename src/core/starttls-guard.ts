// Client-side STARTTLS (POP3 STLS, IMAP STARTTLS, SMTP STARTTLS), one mechanism for all three protocols.
//
// Two rules, both about bytes and order:
// - The go-ahead is the client's answer to its STARTTLS, so it goes out only after every answer still due to commands
//   pipelined before it. The session decides *when* (it knows what is outstanding) and calls `goAhead` then; until
//   then the client's bytes are held here, bounded, and never parsed as commands.
// - Bytes after the STARTTLS command are either a pipelined ClientHello (a TLS handshake record: handed to the TLS
//   layer) or plaintext the client could not have meant to send in clear before reading the go-ahead: injected
//   (CVE-2011-0411 class), discarded with MS_ERR_CLIENT_STARTTLS_INJECTION, never acted on.
import { log, send, type SessionCommand } from './session.js';

/** The TLS record content type of a handshake (RFC 8446 §5.1); src/tls/record.ts holds the rest of the wire vocabulary. */
const TLS_HANDSHAKE_CONTENT_TYPE = 22;

/**
 * Whether bytes a client sent after a STARTTLS go-ahead begin a TLS handshake record: those are its ClientHello,
 * handed to the TLS layer; anything else is plaintext injected before the handshake.
 */
function startsHandshakeRecord(bytes: Buffer): boolean {
  return bytes.length > 0 && bytes[0] === TLS_HANDSHAKE_CONTENT_TYPE;
}

export type GuardState =
  /** No STARTTLS in progress: the session reads client bytes itself. */
  | 'none'
  /** STARTTLS accepted, go-ahead not yet sent: bytes are held. */
  | 'waiting'
  /** Go-ahead and start-tls sent; bytes still reaching the session were sent in clear: injected. */
  | 'handshaking';

export class ClientStartTlsGuard {
  private st: GuardState = 'none';
  private held: Buffer[] = [];
  private heldBytes = 0;
  private injectionLogged = false;

  /** `maxHeldBytes`: what may wait behind STARTTLS; a ClientHello is a few KB. */
  constructor(private readonly maxHeldBytes: number) {}

  get state(): GuardState {
    return this.st;
  }

  /** While active, the session must not read client commands: bytes go to `push`. */
  get active(): boolean {
    return this.st !== 'none';
  }

  /** The session accepted STARTTLS; `rest` is what its framer had buffered after the command line. */
  begin(rest: Buffer): void {
    this.st = 'waiting';
    this.held = [];
    this.heldBytes = 0;
    this.injectionLogged = false;
    this.hold(rest);
  }

  /** Client bytes while active. Returns false when more is held than allowed: the session refuses and closes. */
  push(data: Buffer, out: SessionCommand[]): boolean {
    if (this.st === 'handshaking') {
      // The driver hands the socket to TLS on start-tls; plaintext reaching us now was sent before the go-ahead.
      this.logInjection(data.length, out);
      return true;
    }
    if (this.st === 'none') return true;
    return this.hold(data);
  }

  /** Every earlier answer is out: send the go-ahead and hand the socket to TLS, with a pipelined ClientHello. */
  goAhead(reply: string | Buffer, out: SessionCommand[]): void {
    if (this.st !== 'waiting') return;
    const tail = Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    this.st = 'handshaking';
    out.push(send('client', reply));
    if (startsHandshakeRecord(tail)) {
      out.push({ type: 'start-tls', leg: 'client', pending: tail });
      return;
    }
    out.push({ type: 'start-tls', leg: 'client' });
    this.logInjection(tail.length, out);
  }

  /** The client handshake finished: the session reads commands again (with a fresh framer). */
  tlsReady(): void {
    this.st = 'none';
    this.held = [];
    this.heldBytes = 0;
  }

  private hold(data: Buffer): boolean {
    if (data.length === 0) return true;
    this.held.push(data);
    this.heldBytes += data.length;
    return this.heldBytes <= this.maxHeldBytes;
  }

  private logInjection(bytes: number, out: SessionCommand[]): void {
    if (bytes === 0 || this.injectionLogged) return;
    this.injectionLogged = true;
    out.push(
      log('warn', 'discarded plaintext the client sent after STARTTLS', {
        code: 'MS_ERR_CLIENT_STARTTLS_INJECTION',
        bytes,
      }),
    );
  }
}
