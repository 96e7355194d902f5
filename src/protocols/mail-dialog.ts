// The probe's side of a mail protocol conversation, sans I/O: which command asks for capabilities or STARTTLS in each
// protocol, when a reply is complete, how capabilities read, and which STARTTLS hygiene problems a transcript shows.
// src/io/probe-starttls.ts moves the bytes; everything that decides anything is here, so it is unit-tested.

import { LINE_TOO_LONG, LineSplitter, lineEnd } from '../core/line-framer.js';

export type MailProtocol = 'pop3' | 'imap' | 'smtp';

/** How a reply ends: one line, a POP3 multi-line block, an IMAP tagged completion, or an SMTP last line. */
export type ReplyShape =
  { kind: 'line' } | { kind: 'pop3-multi' } | { kind: 'imap-tagged'; tag: string } | { kind: 'smtp' };

export interface Reply {
  /** Lines without their line ending. */
  lines: string[];
}

/** Longest reply the probe buffers; a server that sends more is broken or hostile, and the probe stops. */
export const MAX_REPLY_BYTES = 256 * 1024;

export class ReplyTooLong extends Error {}

/**
 * Collects server bytes and hands out complete replies. Bytes are scanned once (the scan position is kept), so a
 * reply trickling in one byte at a time costs O(bytes), not O(bytes²).
 */
export class ReplyReader {
  // The bound is on the whole reply (checked in push), so a single line can never reach the splitter's limit.
  private readonly splitter = new LineSplitter(MAX_REPLY_BYTES + 1);
  private lines: string[] = [];
  private lineBytes = 0;

  push(chunk: Buffer): void {
    this.splitter.push(chunk);
    if (this.splitter.buffered + this.lineBytes > MAX_REPLY_BYTES)
      throw new ReplyTooLong(`server reply longer than ${MAX_REPLY_BYTES} bytes`);
  }

  /** The next complete reply of the given shape, or null until more bytes arrive. */
  next(shape: ReplyShape): Reply | null {
    for (;;) {
      const bytes = this.splitter.next();
      if (bytes === null) return null;
      if (bytes === LINE_TOO_LONG) throw new ReplyTooLong(`server reply longer than ${MAX_REPLY_BYTES} bytes`);
      const line = bytes.toString('latin1', 0, lineEnd(bytes));
      this.lines.push(line);
      this.lineBytes += bytes.length;
      if (isLastLine(shape, this.lines, line)) {
        const reply = { lines: this.lines };
        this.lines = [];
        this.lineBytes = 0;
        return reply;
      }
    }
  }

  /** Bytes received after the last complete reply: after a STARTTLS go-ahead these must be empty. */
  takeRest(): Buffer {
    const rest = Buffer.concat([
      Buffer.from(this.lines.map((l) => `${l}\r\n`).join(''), 'latin1'),
      this.splitter.takeRest(),
    ]);
    this.lines = [];
    this.lineBytes = 0;
    return rest;
  }
}

function isLastLine(shape: ReplyShape, lines: string[], line: string): boolean {
  switch (shape.kind) {
    case 'line':
      return true;
    case 'pop3-multi':
      // A -ERR (or anything but +OK) ends at its first line; +OK runs until the lone dot.
      return lines.length === 1 ? !line.startsWith('+OK') : line === '.';
    case 'imap-tagged':
      return line.startsWith(`${shape.tag} `);
    case 'smtp':
      return /^\d{3}(?: |$)/.test(line);
  }
}

export interface ProtocolScript {
  greeting: ReplyShape;
  capability: { command: string; shape: ReplyShape };
  starttls: { command: string; shape: ReplyShape };
  quit: string;
}

/** The name we announce in EHLO: clearly a probe, and a syntactically valid domain. */
export const EHLO_NAME = 'mailshield-probe.invalid';

export const SCRIPTS: Record<MailProtocol, ProtocolScript> = {
  pop3: {
    greeting: { kind: 'line' },
    capability: { command: 'CAPA', shape: { kind: 'pop3-multi' } },
    starttls: { command: 'STLS', shape: { kind: 'line' } },
    quit: 'QUIT',
  },
  imap: {
    greeting: { kind: 'line' },
    capability: { command: 'p1 CAPABILITY', shape: { kind: 'imap-tagged', tag: 'p1' } },
    starttls: { command: 'p2 STARTTLS', shape: { kind: 'imap-tagged', tag: 'p2' } },
    quit: 'p9 LOGOUT',
  },
  smtp: {
    greeting: { kind: 'smtp' },
    capability: { command: `EHLO ${EHLO_NAME}`, shape: { kind: 'smtp' } },
    starttls: { command: 'STARTTLS', shape: { kind: 'smtp' } },
    quit: 'QUIT',
  },
};

/** Whether a greeting lets the conversation go on. An IMAP PREAUTH greeting is acceptable to read, but a finding. */
export function greetingOk(p: MailProtocol, r: Reply): boolean {
  const first = r.lines[0] ?? '';
  if (p === 'pop3') return first.startsWith('+OK');
  if (p === 'imap') return /^\* (OK|PREAUTH)\b/i.test(first);
  return /^220[ -]/.test(r.lines[r.lines.length - 1] ?? '') && first.startsWith('220');
}

/** Whether the reply to STARTTLS/STLS is the go-ahead. */
export function goAheadOk(p: MailProtocol, r: Reply): boolean {
  const last = r.lines[r.lines.length - 1] ?? '';
  if (p === 'pop3') return last.startsWith('+OK');
  if (p === 'imap') return /^p2 OK\b/i.test(last);
  return /^220(?: |$)/.test(last);
}

/**
 * Capabilities as a list of words/lines: POP3 CAPA lines, IMAP CAPABILITY atoms (from the response or the
 * greeting's response code), SMTP EHLO keywords with their parameters. Null when the server refused the command.
 */
export function parseCapabilities(p: MailProtocol, r: Reply, greeting?: Reply | null): string[] | null {
  if (p === 'pop3') {
    if (!(r.lines[0] ?? '').startsWith('+OK')) return null;
    return r.lines.slice(1, -1).map((l) => l.trim());
  }
  if (p === 'imap') {
    const last = r.lines[r.lines.length - 1] ?? '';
    const caps: string[] = [];
    for (const l of r.lines) {
      const m = /^\* CAPABILITY (.*)$/i.exec(l);
      if (m) caps.push(...m[1]!.trim().split(/\s+/));
    }
    if (caps.length === 0) {
      const code = /\[CAPABILITY ([^\]]*)\]/i.exec(`${greeting?.lines[0] ?? ''} ${last}`);
      if (code) caps.push(...code[1]!.trim().split(/\s+/));
    }
    if (!/^\S+ OK\b/i.test(last) && caps.length === 0) return null;
    return caps;
  }
  if (!(r.lines[0] ?? '').startsWith('250')) return null;
  // The first EHLO line is the server's name, not a keyword.
  return r.lines.slice(1).map((l) => l.slice(4).trim());
}

export type HygieneRule =
  | 'starttls-not-offered'
  | 'starttls-refused'
  | 'plaintext-auth-before-tls'
  | 'starttls-response-injection'
  | 'preauth'
  | 'greeting-refused';

export interface HygieneFinding {
  rule: HygieneRule;
  level: 'warning' | 'refusal';
  message: string;
}

function hasCap(caps: readonly string[], word: string): boolean {
  const w = word.toUpperCase();
  return caps.some(
    (c) => c.toUpperCase() === w || c.toUpperCase().startsWith(`${w} `) || c.toUpperCase().startsWith(`${w}=`),
  );
}

/** Whether the capabilities advertise STARTTLS (STLS for POP3). */
export function offersStarttls(p: MailProtocol, caps: readonly string[]): boolean {
  return hasCap(caps, p === 'pop3' ? 'STLS' : 'STARTTLS');
}

/**
 * Plaintext authentication offered before TLS, which invites a mail client to send its password in the clear:
 * POP3 USER or SASL, IMAP without LOGINDISABLED, SMTP AUTH. Returns what was offered, or null.
 */
export function plaintextAuthOffered(p: MailProtocol, caps: readonly string[]): string | null {
  if (p === 'pop3') {
    const offered = caps.filter((c) => /^(USER|SASL)\b/i.test(c));
    return offered.length ? offered.join(', ') : null;
  }
  if (p === 'imap') {
    if (hasCap(caps, 'LOGINDISABLED')) return null;
    const auth = caps.filter((c) => /^AUTH=/i.test(c));
    return ['LOGIN', ...auth].join(', ');
  }
  const auth = caps.filter((c) => /^AUTH[ =]/i.test(c));
  return auth.length ? auth.join(', ') : null;
}

export interface StarttlsTranscript {
  protocol: MailProtocol;
  greeting: Reply | null;
  capabilities: string[] | null;
  /** Whether the STARTTLS command was sent, and the reply to it. */
  starttlsReply: Reply | null;
  /** Bytes the server sent after its go-ahead line and before our ClientHello. */
  afterGoAhead: Buffer;
}

/** STARTTLS hygiene findings from what the server said before TLS. */
export function starttlsFindings(t: StarttlsTranscript): HygieneFinding[] {
  const out: HygieneFinding[] = [];
  const p = t.protocol;
  const first = t.greeting?.lines[0] ?? '';
  if (p === 'imap' && /^\* PREAUTH\b/i.test(first)) {
    out.push({
      rule: 'preauth',
      level: 'refusal',
      message:
        'the server greets with PREAUTH: the session is authenticated before TLS, so STARTTLS is impossible ' +
        '(RFC 3501) and mailshield treats it as a downgrade',
    });
  }
  const caps = t.capabilities ?? [];
  const cmd = p === 'pop3' ? 'STLS' : 'STARTTLS';
  if (t.capabilities !== null && !offersStarttls(p, caps)) {
    out.push({
      rule: 'starttls-not-offered',
      level: 'refusal',
      message: `the server does not advertise ${cmd} in its ${SCRIPTS[p].capability.command.split(' ').pop()} reply`,
    });
  }
  const auth = plaintextAuthOffered(p, caps);
  if (t.capabilities !== null && auth) {
    out.push({
      rule: 'plaintext-auth-before-tls',
      level: 'warning',
      message: `the server offers authentication before TLS (${auth}); a misconfigured client could send its password in the clear`,
    });
  }
  if (t.starttlsReply && !goAheadOk(p, t.starttlsReply)) {
    out.push({
      rule: 'starttls-refused',
      level: 'refusal',
      message: `the server refused ${cmd}: ${t.starttlsReply.lines[t.starttlsReply.lines.length - 1] ?? ''}`,
    });
  }
  if (t.afterGoAhead.length > 0) {
    out.push({
      rule: 'starttls-response-injection',
      // The proxy discards such bytes (DESIGN.md §3) and carries on, so this is a warning about the server.
      level: 'warning',
      message:
        `the server sent ${t.afterGoAhead.length} byte(s) after its ${cmd} go-ahead and before TLS ` +
        `(${JSON.stringify(t.afterGoAhead.subarray(0, 60).toString('latin1'))}); they were discarded ` +
        '(the CVE-2011-0411 class of injection)',
    });
  }
  return out;
}

/** The protocol and TLS mode a well-known port implies; any other port is implicit TLS of unknown protocol. */
export function modeForPort(port: number): { mode: 'implicit' | 'starttls'; protocol: MailProtocol | null } {
  switch (port) {
    case 995:
      return { mode: 'implicit', protocol: 'pop3' };
    case 993:
      return { mode: 'implicit', protocol: 'imap' };
    case 465:
      return { mode: 'implicit', protocol: 'smtp' };
    case 110:
      return { mode: 'starttls', protocol: 'pop3' };
    case 143:
      return { mode: 'starttls', protocol: 'imap' };
    case 25:
    case 587:
      return { mode: 'starttls', protocol: 'smtp' };
    default:
      return { mode: 'implicit', protocol: null };
  }
}
