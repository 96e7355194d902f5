// The replies mailshield itself says on the client leg, and the EHLO rewrite. Every reply we originate carries an
// enhanced status code and "mailshield:" so a user can tell it from the mail server's own words.

/** One reply line, CRLF-terminated. `text` is flattened to one line: it may carry a peer's words. */
export function reply(code: number, enhanced: string, text: string): string {
  return `${code} ${enhanced} ${oneLine(text)}\r\n`;
}

/** A reply of our own, marked as ours. */
export function ours(code: number, enhanced: string, text: string): string {
  return reply(code, enhanced, `mailshield: ${text}`);
}

export function oneLine(s: string, max = 900): string {
  const flat = s.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e\t]/g, '?');
  return flat.length > max ? flat.slice(0, max - 3) + '...' : flat;
}

/** Formats a multi-line reply. */
export function multiline(code: number, lines: string[]): string {
  return lines.map((l, i) => `${code}${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
}

export const R = {
  startTls: reply(220, '2.0.0', 'Ready to start TLS'),
  dataGo: '354 End data with <CR><LF>.<CR><LF>\r\n',
  lineTooLong: (limit: number) => ours(500, '5.5.2', `line too long (the limit is ${limit} bytes)`),
  tlsRequired: ours(
    530,
    '5.7.0',
    'Must issue a STARTTLS command first (this listener hides AUTH until the connection is encrypted, so a password ' +
      'never crosses it in clear; enable STARTTLS in the mail client) (MS_ERR_CLIENT_TLS_REQUIRED)',
  ),
  noStartTls: ours(502, '5.5.1', 'STARTTLS is not offered on this listener'),
  tlsActive: ours(503, '5.5.1', 'TLS is already active'),
  noChunking: ours(502, '5.5.1', 'BDAT (CHUNKING) is not offered; use DATA'),
  heloFirst: ours(503, '5.5.1', 'send EHLO first (a fresh EHLO is required after STARTTLS)'),
  needMail: ours(503, '5.5.1', 'need MAIL and an accepted RCPT before DATA'),
  noRcpt: ours(554, '5.5.1', 'no valid recipients'),
  tooBig: (limit: number) =>
    ours(552, '5.3.4', `message too big: the size limit is ${limit} bytes (limits.maxMessageBytes or the server SIZE)`),
  bareRefused: (kind: 'LF' | 'CR' | 'NUL') =>
    ours(
      554,
      '5.6.0',
      `message refused: it contains a ${kind === 'NUL' ? 'NUL byte' : `bare ${kind}`} (SMTP requires CRLF line endings ` +
        'and no NUL, RFC 5321 section 2.3.8) and this listener has smtp.bareLineEndings: reject; it was not sent and ' +
        'the connection closes. Fix the sending program, or set smtp.bareLineEndings: normalize ' +
        '(MS_ERR_CLIENT_BARE_LINE_ENDING)',
    ),
  earlyTalker: ours(554, '5.5.1', 'protocol error: command sent before the greeting (MS_ERR_CLIENT_PROTOCOL)'),
  tooMuchPipelined: ours(421, '4.5.0', 'too much pipelined input; closing (MS_ERR_CLIENT_PROTOCOL)'),
  upstreamGone: ours(421, '4.4.2', 'the mail server closed the connection; try again (MS_ERR_UPSTREAM_CLOSED)'),
  upstreamBroken: (why: string) =>
    ours(421, '4.4.0', `the mail server sent a reply mailshield cannot read (${why}) (MS_ERR_UPSTREAM_PROTOCOL)`),
} as const;

export interface EhloRewrite {
  /** Offer our own STARTTLS (client leg is STARTTLS and not yet secured). */
  offerStartTls: boolean;
  /** Hide AUTH (client leg is STARTTLS and not yet secured). */
  hideAuth: boolean;
}

export interface EhloFacts {
  /** SIZE the server advertised; 0 means "no fixed limit" (RFC 1870); null when absent. */
  size: number | null;
  pipelining: boolean;
}

// CHUNKING is removed because BDAT would need its own capture path to the scan; BINARYMIME requires CHUNKING
// (RFC 3030). The server's STARTTLS is about the upstream leg, which mailshield already secured.
const DROP = new Set(['STARTTLS', 'CHUNKING', 'BINARYMIME']);

/** Rewrites a 250 EHLO reply's lines (texts after "250-"/"250 "). Everything else passes unchanged. */
export function rewriteEhlo(texts: string[], opts: EhloRewrite): { text: string; facts: EhloFacts } {
  const [greeting, ...exts] = texts;
  const out: string[] = [greeting ?? ''];
  const facts: EhloFacts = { size: null, pipelining: false };
  for (const e of exts) {
    const kw = (/^[A-Za-z0-9][A-Za-z0-9-]*/.exec(e)?.[0] ?? '').toUpperCase();
    if (DROP.has(kw)) continue;
    // "AUTH=PLAIN" is the pre-RFC form some clients still read.
    if (opts.hideAuth && (kw === 'AUTH' || e.toUpperCase().startsWith('AUTH='))) continue;
    if (kw === 'SIZE') {
      const n = /^SIZE\s+(\d+)/i.exec(e);
      facts.size = n ? Number(n[1]) : 0;
    }
    if (kw === 'PIPELINING') facts.pipelining = true;
    out.push(e);
  }
  if (opts.offerStartTls) out.push('STARTTLS');
  return { text: multiline(250, out), facts };
}

/** True when a 250 EHLO reply offers STARTTLS. */
export function offersStartTls(texts: string[]): boolean {
  return texts.slice(1).some((t) => /^STARTTLS\b/i.test(t.trim()));
}
