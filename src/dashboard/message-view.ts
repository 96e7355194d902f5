// What the Quarantine detail shows of an original: every header decoded (RFC 2047), the MIME structure, the part
// the scanner named, and a text-only preview. Never the message's HTML: an HTML-only message is shown as the text
// html-to-text makes of it. The bytes come from the quarantine file; nothing here writes.
import { Splitter } from '@zone-eu/mailsplit';
import libmime from 'libmime';
import { simpleParser } from 'mailparser';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';

export interface HeaderView {
  name: string;
  /** Decoded, unfolded; still untrusted text (the browser shows it as text with controls made visible). */
  value: string;
}

export interface MimePartView {
  /** IMAP part number ("1", "2.1"), "" for the top level. */
  part: string;
  depth: number;
  contentType: string;
  filename: string | null;
  disposition: string | null;
  encoding: string | null;
  /** Encoded body bytes of this node (leaf parts only). */
  bytes: number;
}

export interface MessageView {
  headers: HeaderView[];
  parts: MimePartView[];
  /** Text-only preview, cut at PREVIEW_CHARS. */
  preview: string;
  previewTruncated: boolean;
  /** The preview came from converting HTML to text (the message has no text/plain part). */
  previewFromHtml: boolean;
}

/** Larger originals get headers and structure only; a preview would mean parsing the whole message in memory. */
export const PREVIEW_MAX_BYTES = 10 * 1024 * 1024;
export const PREVIEW_CHARS = 20_000;
const MAX_PARTS = 500;

function unfold(line: string): { name: string; value: string } {
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon).trim() : line.trim();
  const raw = colon > 0 ? line.slice(colon + 1) : '';
  return { name, value: raw.replace(/\r?\n[ \t]+/g, ' ').trim() };
}

async function structure(bytes: Buffer): Promise<MimePartView[]> {
  const parts: MimePartView[] = [];
  const byNode = new Map<object, MimePartView>();
  const splitter = new Splitter();
  await pipeline(
    Readable.from([bytes]),
    splitter,
    new Writable({
      objectMode: true,
      write(chunk: Parameters<Parameters<Splitter['on']>[1]>[0], _enc, done) {
        if (chunk.type === 'node') {
          let depth = 0;
          for (let p = chunk.parentNode; p; p = p.parentNode) depth++;
          const v: MimePartView = {
            part: chunk.root ? '' : (chunk.partNr || []).join('.'),
            depth,
            contentType: chunk.contentType || 'text/plain',
            filename: chunk.filename || null,
            disposition: chunk.disposition || null,
            encoding: chunk.encoding || null,
            bytes: 0,
          };
          if (parts.length < MAX_PARTS) parts.push(v);
          byNode.set(chunk, v);
        } else if (chunk.type === 'body') {
          const v = byNode.get(chunk.node);
          if (v) v.bytes += chunk.value.length;
        }
        done();
      },
    }),
  );
  return parts;
}

export async function viewMessage(bytes: Buffer): Promise<MessageView> {
  const parts = await structure(bytes);
  const small = bytes.length <= PREVIEW_MAX_BYTES;
  // Headers from the top block only; mailparser gives the raw lines in order.
  const parsed = await simpleParser(small ? bytes : headerOnly(bytes), {
    skipHtmlToText: false,
    skipTextToHtml: true,
    skipImageLinks: true,
  });
  const headers = parsed.headerLines.map((h) => {
    const { name, value } = unfold(h.line);
    let decoded = value;
    try {
      decoded = libmime.decodeWords(value);
    } catch {
      // A broken encoded-word stays as it was: still text, still shown.
    }
    return { name, value: decoded };
  });
  const leaf = (t: string) => parts.some((p) => p.contentType === t && p.disposition !== 'attachment');
  const fromHtml = !leaf('text/plain') && leaf('text/html');
  const text = small ? (parsed.text ?? '') : '(message too large for a preview: export it to read it)';
  return {
    headers,
    parts,
    preview: text.slice(0, PREVIEW_CHARS),
    previewTruncated: text.length > PREVIEW_CHARS,
    previewFromHtml: fromHtml,
  };
}

function headerOnly(bytes: Buffer): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  const lf = bytes.indexOf('\n\n');
  const cut = end >= 0 ? end + 4 : lf >= 0 ? lf + 2 : Math.min(bytes.length, 256 * 1024);
  return bytes.subarray(0, Math.min(cut, 256 * 1024));
}

/** The decoded To of a header block, for the quarantine list's "to" column and filter. */
export function recipientsOf(headerBlock: Buffer): string | null {
  const text = headerBlock.toString('latin1');
  const m = /^to:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/im.exec(text);
  if (!m) return null;
  const v = m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim();
  try {
    return libmime.decodeWords(Buffer.from(v, 'latin1').toString('utf8'));
  } catch {
    return v;
  }
}
