// The notice that replaces an incoming infected or blocked message. It keeps the original's identity headers (byte
// for byte, so threading and encoded words survive), prefixes the subject, and says in plain words what was found,
// where, by which engine, and how to get the original back. It carries nothing of the original body.
import { splitFields, type RawField } from './headers.js';
import type { Verdict } from './types.js';
import { verdictHeaderValue } from './verdict.js';

/**
 * Headers copied from the original: what a client needs to show the notice in place of the message and thread it.
 * In-Reply-To and References put the notice in the original's thread.
 */
const KEPT = ['date', 'from', 'to', 'cc', 'reply-to', 'in-reply-to', 'references'] as const;

/**
 * The notice is a different message, so it gets its own Message-ID. Reusing the original's would make the original,
 * once exported from quarantine and delivered again, look like a duplicate of the notice: Thunderbird, Gmail and
 * offlineimap drop or merge messages by Message-ID, so the user would never see the released original. The
 * original's id is kept in its own header (not in References, which would make the notice a reply to a message the
 * user does not have). Derived from the quarantine id, so the same quarantined message always gets the same notice id.
 */
export function noticeMessageId(quarantineId: string): string {
  return `<${quarantineId.replace(/[^A-Za-z0-9.-]/g, '')}.notice@mailshield.invalid>`;
}

export const ORIGINAL_ID_HEADER = 'X-MailShield-Original-Message-ID';

export interface NoticeInput {
  fields: RawField[];
  verdict: Extract<Verdict, { kind: 'infected' | 'blocked' }>;
  quarantineId: string;
  subjectPrefix: string;
  originalSize: number;
  /** Decoded original subject, for the body. */
  subject?: string;
  now: Date;
}

export function exportCommand(id: string): string {
  return `mailshield quarantine export ${id} --out original.eml`;
}

/** RFC 2047 encoded-word for non-ASCII header text (B encoding, chunked so each word stays under 75 chars). */
function encodeWords(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (Buffer.byteLength(cur + ch) > 45) {
      words.push(cur);
      cur = '';
    }
    cur += ch;
  }
  if (cur) words.push(cur);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join('\r\n ');
}

function rfc2822Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * Folds a structured header at "; " boundaries, but only past 900 characters: the verdict header is read by scripts
 * and filters (procmail, Sieve, grep) that expect it on one line, and RFC 5322 only requires lines under 998.
 */
function foldStructured(name: string, value: string): string {
  const parts = value.split('; ');
  let line = `${name}: ${parts[0]}`;
  const lines: string[] = [];
  for (const p of parts.slice(1)) {
    if (line.length + 2 + p.length > 900) {
      lines.push(line + ';');
      line = ` ${p}`;
    } else line += `; ${p}`;
  }
  lines.push(line);
  return lines.join('\r\n');
}

function subjectField(fields: RawField[], prefix: string): string {
  const orig = fields.find((f) => f.name === 'subject');
  const value = orig ? orig.raw.slice(orig.raw.indexOf(':') + 1).replace(/^[ \t]+/, '') : '';
  if (!prefix) return `Subject: ${value}`;
  // An encoded-word prefix must be separated from what follows by folding whitespace; an ASCII prefix is plain text.
  const pre = /^[\x20-\x7e]*$/.test(prefix) ? prefix : `${encodeWords(prefix.trimEnd())} `;
  return value ? `Subject: ${pre}${value}` : `Subject: ${pre.trimEnd()}`;
}

function bodyText(n: NoticeInput): string {
  const v = n.verdict;
  const what =
    v.kind === 'infected'
      ? `The virus (or test file) "${v.signature}" was found.`
      : `An attachment was blocked by the rule "${v.rule}"${v.detail ? `: ${v.detail}` : ''}.`;
  const where = v.part === 'the message' ? 'the message as a whole' : v.part;
  return [
    'MailShield removed this message because it is dangerous, and put the original in quarantine.',
    '',
    `What was found:  ${what}`,
    `Where:           ${where}`,
    `Found by:        the ${v.engine} engine`,
    `Quarantine id:   ${n.quarantineId}`,
    ...(n.subject !== undefined ? [`Original subject: ${n.subject.replace(/[\r\n\t]+/g, ' ')}`] : []),
    `Original size:   ${n.originalSize} bytes`,
    '',
    'Nothing of the original message is included here. If you are sure the original is safe, you can get it',
    'back with this command on the computer that runs MailShield:',
    '',
    `    ${exportCommand(n.quarantineId)}`,
    '',
  ].join('\r\n');
}

/** Builds the notice message (CRLF line ends, complete header and body). */
export function buildNotice(n: NoticeInput): Buffer {
  const head: string[] = [];
  for (const name of KEPT) for (const f of n.fields) if (f.name === name) head.push(f.raw);
  if (!n.fields.some((f) => f.name === 'date')) head.unshift(`Date: ${rfc2822Date(n.now)}`);
  if (!n.fields.some((f) => f.name === 'from')) head.push('From: MailShield <postmaster@localhost>');
  head.push(`Message-ID: ${noticeMessageId(n.quarantineId)}`);
  const origId = n.fields.find((f) => f.name === 'message-id');
  if (origId) head.push(`${ORIGINAL_ID_HEADER}:${origId.raw.slice(origId.raw.indexOf(':') + 1)}`);
  head.push(subjectField(n.fields, n.subjectPrefix));
  head.push('MIME-Version: 1.0');
  head.push(foldStructured('X-MailShield-Verdict', verdictHeaderValue(n.verdict, n.quarantineId)));
  const body = bodyText(n);
  // Plain ASCII with short lines goes as 7bit so it is readable raw; anything else (a Unicode file name) as base64.
  const ascii = /^[\x20-\x7e\r\n]*$/.test(body) && body.split('\r\n').every((l) => l.length <= 900);
  head.push('Content-Type: text/plain; charset=utf-8');
  head.push(`Content-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}`);
  const encodedBody = ascii
    ? body
    : (
        Buffer.from(body, 'utf8')
          .toString('base64')
          .match(/.{1,76}/g) ?? []
      ).join('\r\n') + '\r\n';
  // Header fields are latin1 strings holding the original bytes; the body part is ASCII either way.
  return Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), Buffer.from(encodedBody, 'ascii')]);
}

/** RFC 2045 quoted-printable of UTF-8 text with CRLF line breaks; output lines stay within 76 characters. */
export function quotedPrintable(text: string): string {
  return text
    .split('\r\n')
    .map((line) => {
      const bytes = Buffer.from(line, 'utf8');
      const out: string[] = [];
      let cur = '';
      bytes.forEach((b, i) => {
        const last = i === bytes.length - 1;
        const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
        const tok = literal ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
        if (cur.length + tok.length > 75) {
          out.push(cur + '=');
          cur = '';
        }
        cur += tok;
      });
      out.push(cur);
      return out.join('\r\n');
    })
    .join('\r\n');
}

/** The notice's header block (blank line included) and body. */
export function splitNotice(notice: Buffer): { header: Buffer; body: Buffer } {
  const end = notice.indexOf('\r\n\r\n');
  if (end < 0) return { header: notice, body: Buffer.alloc(0) };
  return { header: notice.subarray(0, end + 4), body: notice.subarray(end + 4) };
}

/** One field's unfolded value from a header block, or null. */
export function fieldValue(header: string, name: string): string | null {
  const f = splitFields(header).find((x) => x.name === name.toLowerCase());
  return f
    ? f.raw
        .slice(f.raw.indexOf(':') + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim()
    : null;
}

/** The explanation text of a notice, decoded (its body is 7bit or base64). */
function noticeText(notice: Buffer): string {
  const { header, body } = splitNotice(notice);
  const cte = fieldValue(header.toString('latin1'), 'content-transfer-encoding');
  return cte?.toLowerCase() === 'base64'
    ? Buffer.from(body.toString('ascii'), 'base64').toString('utf8')
    : body.toString('utf8');
}

/**
 * The notice's body shaped to fit a header that already went out: the original's header, served before any verdict
 * was known (a message above limits.scanAheadMaxBytes). A client that puts that header and this body together (s-nail
 * saves RFC822.HEADER + BODY[TEXT]) gets a well-formed message that shows the notice: for a multipart original, one
 * text part inside the original's own boundary; otherwise the text in the original's transfer encoding.
 */
export function shapedNoticeBody(notice: Buffer, originalHeader: Buffer): Buffer {
  const header = originalHeader.toString('latin1');
  const type = fieldValue(header, 'content-type') ?? '';
  const boundary = /^\s*multipart\//i.test(type) ? /boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(type) : null;
  const b = boundary ? (boundary[1] ?? boundary[2] ?? '') : '';
  if (b) {
    const { header: nh, body } = splitNotice(notice);
    const nhText = nh.toString('latin1');
    const part = [
      'MailShield replaced this message; the explanation is in the text part.',
      `--${b}`,
      `Content-Type: ${fieldValue(nhText, 'content-type') ?? 'text/plain; charset=utf-8'}`,
      `Content-Transfer-Encoding: ${fieldValue(nhText, 'content-transfer-encoding') ?? '7bit'}`,
      `X-MailShield-Verdict: ${fieldValue(nhText, 'x-mailshield-verdict') ?? 'replaced'}`,
      '',
      '',
    ].join('\r\n');
    const tail = body.subarray(body.length - 2).toString() === '\r\n' ? '' : '\r\n';
    return Buffer.concat([Buffer.from(part, 'latin1'), body, Buffer.from(`${tail}--${b}--\r\n`, 'latin1')]);
  }
  const text = noticeText(notice);
  const cte = (fieldValue(header, 'content-transfer-encoding') ?? '').toLowerCase();
  if (cte === 'base64')
    return Buffer.from(
      (
        Buffer.from(text, 'utf8')
          .toString('base64')
          .match(/.{1,76}/g) ?? []
      ).join('\r\n') + '\r\n',
      'ascii',
    );
  if (cte === 'quoted-printable') return Buffer.from(quotedPrintable(text), 'ascii');
  return Buffer.from(text, 'utf8');
}
