// The original message's header block: raw fields (byte-exact, for copying into a notice) and the decoded Subject
// and From (for the quarantine index and logs).
import { simpleParser } from 'mailparser';
import { readPrefix, type MessageSource } from './source.js';

/** Header blocks longer than this are cut: real ones are a few KiB; we only need the first fields. */
const MAX_HEADER_BYTES = 256 * 1024;

export interface RawField {
  /** Lower-case field name. */
  name: string;
  /** The whole field as a latin1 string (one char per byte), folding kept, without the final line break. */
  raw: string;
}

export interface MessageHeaders {
  fields: RawField[];
  subject?: string;
  from?: string;
}

/** Splits a header block (latin1 string) into fields; continuation lines (leading SP/HT) belong to the field above. */
export function splitFields(block: string): RawField[] {
  const lines = block.split(/\r?\n/);
  const out: RawField[] = [];
  for (const line of lines) {
    if (line === '') break;
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length > 0) {
      out[out.length - 1]!.raw += '\r\n' + line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim().toLowerCase(), raw: line });
  }
  return out;
}

export function headerBlock(prefix: Buffer): Buffer {
  const crlf = prefix.indexOf('\r\n\r\n');
  const lf = prefix.indexOf('\n\n');
  const ends = [crlf >= 0 ? crlf + 2 : -1, lf >= 0 ? lf + 1 : -1].filter((n) => n >= 0);
  if (ends.length > 0) return prefix.subarray(0, Math.min(...ends));
  // No blank line in the prefix: a message that is all header, or a header cut at MAX_HEADER_BYTES.
  const lastNl = prefix.lastIndexOf('\n');
  return lastNl >= 0 ? prefix.subarray(0, lastNl + 1) : prefix;
}

export async function readHeaders(src: MessageSource): Promise<MessageHeaders> {
  const block = headerBlock(await readPrefix(src, MAX_HEADER_BYTES));
  const fields = splitFields(block.toString('latin1'));
  let subject: string | undefined;
  let from: string | undefined;
  try {
    const parsed = await simpleParser(Buffer.concat([block, Buffer.from('\r\n')]), {
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      skipImageLinks: true,
    });
    subject = parsed.subject;
    from = parsed.from?.text;
  } catch {
    // Undecodable headers still get a notice; the index just lacks the decoded subject.
  }
  return { fields, subject, from };
}

/**
 * The message with every top-level `name` field removed (any case, folded continuation lines included) and `line`
 * added on top, in the message's own line-ending style. The shield's own verdict header must be the only one: a
 * sender's forged "X-MailShield-Verdict: clean" would otherwise survive next to ours and fool filters that read the
 * first or the last one. Only the header block is rewritten; the body is never looked at.
 */
export function replaceHeader(original: Buffer, name: string, line: string): Buffer {
  const firstNl = original.indexOf(0x0a);
  const eol = firstNl > 0 && original[firstNl - 1] === 0x0d ? '\r\n' : firstNl >= 0 ? '\n' : '\r\n';
  const wanted = name.toLowerCase();
  const kept: Buffer[] = [Buffer.from(line + eol, 'latin1')];
  let dropping = false;
  let off = 0;
  let keptFrom = 0;
  while (off < original.length) {
    const nl = original.indexOf(0x0a, off);
    const end = nl < 0 ? original.length : nl + 1;
    const first = original[off];
    // The blank line ends the header block: the rest goes through untouched.
    if (first === 0x0a || (first === 0x0d && original[off + 1] === 0x0a)) break;
    const continuation = first === 0x20 || first === 0x09;
    if (!continuation) {
      const colon = original.indexOf(0x3a, off);
      const drop =
        colon > off && colon < end && original.toString('latin1', off, colon).trim().toLowerCase() === wanted;
      if (drop !== dropping) {
        if (drop) kept.push(original.subarray(keptFrom, off));
        else keptFrom = off;
        dropping = drop;
      }
    }
    off = end;
  }
  if (!dropping) kept.push(original.subarray(keptFrom));
  else kept.push(original.subarray(off));
  return Buffer.concat(kept);
}
