// Every line mailshield itself says to a POP3 client. The client shows -ERR text in its error dialog, so each refusal
// names what happened, why, and what to change. Response codes in brackets are RFC 2449/3206 ([SYS/TEMP], [AUTH]).
import type { ShieldError } from '../../core/errors.js';

/** One CRLF-terminated line; CR/LF inside `text` would end the line early, so they become spaces. */
export function line(text: string): Buffer {
  return Buffer.from(text.replace(/[\r\n]+/g, ' ') + '\r\n', 'latin1');
}

const err = (code: string | null, text: string) => line(`-ERR ${code ? `[${code}] ` : ''}mailshield: ${text}`);

export const stlsGoAhead = (): Buffer => line('+OK Begin TLS negotiation');

/** The session or the driver failed internally (session-guard.ts); the connection closes after it. */
export const internalError = (e: ShieldError): Buffer => err('SYS/TEMP', e.toReplyText());

/** Greeting (or reply) when the upstream leg failed: the whole explanation, then the session closes. */
export const upstreamFailed = (e: ShieldError): Buffer => err('SYS/TEMP', e.toReplyText());

/** A client on a STARTTLS listener tried to log in before STLS. */
export const tlsRequired = (verb: string): Buffer =>
  err(
    'AUTH',
    `${verb} refused: issue STLS first; this listener (clientTls: starttls) accepts passwords only over TLS so they ` +
      'never cross the network in plaintext; enable STARTTLS/STLS in the mail client (MS_ERR_CLIENT_TLS_REQUIRED)',
  );

export const stlsUnavailable = (why: 'secured' | 'not-offered', clientTls: string): Buffer =>
  err(
    null,
    why === 'secured'
      ? 'STLS refused: this connection already uses TLS'
      : `STLS refused: this listener does not offer STLS (clientTls: ${clientTls})`,
  );

export const badArguments = (verb: string, usage: string): Buffer =>
  err(null, `${verb} needs ${usage}; not sent to the mail server`);

export const lineTooLong = (limit: number): Buffer =>
  err(null, `command line longer than ${limit} bytes (limits.maxLineBytes); closing (MS_ERR_CLIENT_LINE_TOO_LONG)`);

export const inputTooLarge = (limit: number): Buffer =>
  err(null, `more than ${limit} bytes of commands sent ahead of their replies; closing (MS_ERR_CLIENT_PROTOCOL)`);

export const scanTempfail = (n: number, reason: string): Buffer =>
  err('SYS/TEMP', `could not scan message ${n}: ${reason}; it stays on the server, try again later`);

export const scanFailed = (n: number, e: ShieldError): Buffer =>
  err(e.temporary ? 'SYS/TEMP' : 'SYS/PERM', `could not scan message ${n}: ${e.toReplyText()}; it stays on the server`);

export const refused = (n: number, reply: string): Buffer => err('SYS/PERM', `message ${n} refused: ${reply}`);

export const upstreamLost = (e: ShieldError): Buffer => err('SYS/TEMP', e.toReplyText());

/** The status line before a notice that replaced an infected message. */
export const replacedOk = (size: number, quarantineId: string): Buffer =>
  line(`+OK ${size} octets (mailshield replaced this message; original in quarantine ${quarantineId})`);

export const keptOnServer = (n: number): Buffer =>
  line(`+OK mailshield kept infected message ${n} on the server (pop3.keepInfectedOnServer: true)`);
