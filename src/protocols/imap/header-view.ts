// The items that describe a message rather than carry its content: header sections, ENVELOPE, BODYSTRUCTURE, BODY
// (the structure), RFC822.SIZE. Once a message's verdict is "replaced", each of them must describe the notice, or a
// client assembles a message whose header and body disagree (Thunderbird lists the original subject over the notice;
// s-nail glues the original multipart header to the notice body). This file builds those items from the notice.
// ENVELOPE is rewritten from the original's, because the notice copies the original's Date, From, To, Cc, Reply-To
// and In-Reply-To byte for byte: only the subject, the sender, the Bcc and the Message-ID differ.
import { splitFields } from '../../scan/headers.js';
import { fieldValue, splitNotice } from '../../scan/notice.js';
import { literalMarker } from './replies.js';

const SECTION = /^BODY\[(?:(\d+(?:\.\d+)*)\.)?(HEADER(?:\.FIELDS(\.NOT)? ?\(([^)]*)\))?|MIME)\](?:<(\d+)>)?$/;

/** A FETCH response item (upper-cased name) that describes the message. */
export function isDescriptive(name: string): boolean {
  return (
    name === 'RFC822.HEADER' ||
    name === 'RFC822.SIZE' ||
    name === 'ENVELOPE' ||
    name === 'BODYSTRUCTURE' ||
    name === 'BODY' ||
    SECTION.test(name)
  );
}

/** A header item whose bytes are (a part of) the message's own top-level header. */
export function isTopHeader(name: string): boolean {
  const m = SECTION.exec(name);
  return name === 'RFC822.HEADER' || (m !== null && m[1] === undefined && m[2]!.startsWith('HEADER'));
}

function nstring(s: string | null): string {
  if (s === null) return 'NIL';
  if (/^[\x20-\x7e]*$/.test(s) && !/["\\]/.test(s)) return `"${s}"`;
  return `${literalMarker(Buffer.byteLength(s, 'latin1'), false)}${s}`;
}

function literal(b: Buffer): Buffer {
  return Buffer.concat([Buffer.from(literalMarker(b.length, false)), b]);
}

/** Top-level elements of a parenthesized IMAP list (raw bytes each), literals and nested lists kept whole. */
export function listElements(v: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = v.indexOf(0x28) + 1;
  if (i <= 0) return out;
  while (i < v.length) {
    const c = v[i]!;
    if (c === 0x20) {
      i++;
      continue;
    }
    if (c === 0x29) break;
    const start = i;
    if (c === 0x22) {
      for (i++; i < v.length && v[i] !== 0x22; i++) if (v[i] === 0x5c) i++;
      i++;
    } else if (c === 0x7b || (c === 0x7e && v[i + 1] === 0x7b)) {
      const close = v.indexOf(0x7d, i);
      const n = Number(v.toString('latin1', v.indexOf(0x7b, i) + 1, close).replace('+', ''));
      const lf = v.indexOf(0x0a, close);
      i = lf + 1 + n;
    } else if (c === 0x28) {
      let depth = 0;
      for (; i < v.length; i++) {
        const d = v[i]!;
        if (d === 0x22) {
          for (i++; i < v.length && v[i] !== 0x22; i++) if (v[i] === 0x5c) i++;
        } else if (d === 0x7b) {
          const close = v.indexOf(0x7d, i);
          const n = Number(v.toString('latin1', i + 1, close).replace('+', ''));
          i = v.indexOf(0x0a, close) + n;
        } else if (d === 0x28) depth++;
        else if (d === 0x29 && --depth === 0) break;
      }
      i++;
    } else {
      while (i < v.length && v[i] !== 0x20 && v[i] !== 0x29) i++;
    }
    out.push(v.subarray(start, i));
  }
  return out;
}

function envelope(original: Buffer, header: string): Buffer {
  const el = listElements(original);
  if (el.length !== 10)
    return Buffer.from(`(NIL ${nstring(fieldValue(header, 'subject'))} NIL NIL NIL NIL NIL NIL NIL NIL)`);
  const s = (b: Buffer) => b.toString('latin1');
  let from = s(el[2]!);
  let replyTo = s(el[4]!);
  if (from === 'NIL') from = replyTo = '(("MailShield" NIL "postmaster" "localhost"))';
  const date = s(el[0]!) === 'NIL' ? nstring(fieldValue(header, 'date')) : s(el[0]!);
  const parts = [
    date,
    nstring(fieldValue(header, 'subject')),
    from,
    from, // the notice has no Sender field: the sender is the From (RFC 3501 7.4.2)
    replyTo,
    s(el[5]!),
    s(el[6]!),
    'NIL', // nor a Bcc
    s(el[8]!),
    nstring(fieldValue(header, 'message-id')),
  ];
  return Buffer.from(`(${parts.join(' ')})`, 'latin1');
}

function structure(notice: Buffer, extended: boolean): string {
  const { header, body } = splitNotice(notice);
  const h = header.toString('latin1');
  const type = fieldValue(h, 'content-type') ?? 'text/plain';
  const charset = /charset="?([^";\s]+)/i.exec(type)?.[1] ?? 'us-ascii';
  const cte = (fieldValue(h, 'content-transfer-encoding') ?? '7bit').toUpperCase();
  const lines = body.toString('latin1').split('\r\n').length - 1;
  const basic = `"TEXT" "PLAIN" ("CHARSET" "${charset}") NIL NIL "${cte}" ${body.length} ${lines}`;
  return extended ? `(${basic} NIL NIL NIL NIL)` : `(${basic})`;
}

/**
 * The value of item `name` for the notice, in IMAP syntax, in place of the original's value `original` (raw bytes of
 * the value as the server sent it, literal markers included; used for ENVELOPE).
 */
export function noticeValue(name: string, notice: Buffer, original: Buffer): Buffer {
  const { header } = splitNotice(notice);
  const h = header.toString('latin1');
  switch (name) {
    case 'RFC822.SIZE':
      return Buffer.from(String(notice.length));
    case 'RFC822.HEADER':
      return literal(header);
    case 'ENVELOPE':
      return envelope(original, h);
    case 'BODYSTRUCTURE':
      return Buffer.from(structure(notice, true));
    case 'BODY':
      return Buffer.from(structure(notice, false));
  }
  const m = SECTION.exec(name);
  if (!m) return original;
  let bytes: Buffer;
  if (m[1] === undefined && m[2] === 'HEADER') bytes = header;
  else if (m[1] === undefined && m[4] !== undefined) {
    const wanted = new Set(m[4].toLowerCase().split(/\s+/).filter(Boolean));
    const not = m[3] !== undefined;
    const kept = splitFields(h).filter((f) => wanted.has(f.name) !== not);
    bytes = Buffer.from(kept.map((f) => `${f.raw}\r\n`).join('') + '\r\n', 'latin1');
  } else if (m[1] === '1' && m[2] === 'MIME') {
    const ct = fieldValue(h, 'content-type') ?? 'text/plain';
    const cte = fieldValue(h, 'content-transfer-encoding') ?? '7bit';
    bytes = Buffer.from(`Content-Type: ${ct}\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n`, 'latin1');
  } else bytes = Buffer.from('\r\n'); // the notice has one part: no other part has a header
  if (m[5] !== undefined) bytes = bytes.subarray(Math.min(Number(m[5]), bytes.length));
  return literal(bytes);
}

/** Headers of messages without a verdict that went out as they are, kept to shape a later notice body to them. */
export class ServedHeaders {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly max = 2000) {}

  /** Remembers what a header item showed (HEADER.FIELDS are a subset: what the client knows, all that matters). */
  add(key: string, header: Buffer): void {
    const prev = this.map.get(key);
    this.map.delete(key);
    this.map.set(key, prev ? Buffer.concat([header, prev]) : header);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  get(key: string): Buffer | undefined {
    return this.map.get(key);
  }
}
