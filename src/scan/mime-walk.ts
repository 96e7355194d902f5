// MIME walk: every decoded part of a message, nested messages included, handed one at a time to a visitor.
// mailparser (streaming MailParser) does the splitting and transfer decoding. It already descends into unencoded
// message/rfc822 parts; an encoded (base64/QP) message/rfc822 arrives as an attachment, and we parse its decoded
// stream again here. Part content is handed over as a stream, so a 40 MB attachment is never held whole by the walk.
import { MailParser, type AttachmentStream, type MessageText, type StructuredHeader } from 'mailparser';
import { Readable } from 'node:stream';
import { openSource, type MessageSource } from './source.js';

export interface MimePart {
  /** IMAP-style part number ("2.1"), prefixed by the enclosing part for re-parsed nested messages; "text" for the
   * combined text body. */
  id: string;
  /** Every name the part carries: Content-Disposition filename and Content-Type name (they can differ). */
  filenames: string[];
  contentType: string;
  /**
   * Decoded content (transfer encoding removed; text bodies as UTF-8), readable once during the visit. The parser
   * waits while it is not read; whatever the visitor leaves unread is discarded after it returns. For message/rfc822
   * parts the walk reads it itself (re-parsing), so visitors must leave it alone.
   */
  content: Readable;
  /** Enclosing message depth, 0 for the top-level message. */
  depth: number;
}

/** What the visitor tells the walk: keep going, or stop (a verdict is already known). */
export type VisitResult = 'continue' | 'stop';
export type PartVisitor = (part: MimePart) => Promise<VisitResult>;

export interface WalkOptions {
  /** Deepest encoded message/rfc822 nesting we re-parse; deeper is reported through `onTooDeep`. */
  maxMessageDepth: number;
  onTooDeep(part: MimePart): Promise<VisitResult>;
}

function headerParams(h: unknown): Record<string, string> {
  if (h && typeof h === 'object' && 'params' in h) return (h as StructuredHeader).params ?? {};
  return {};
}

function namesOf(att: AttachmentStream): string[] {
  const names = new Set<string>();
  const ct = headerParams(att.headers.get('content-type'));
  const cd = headerParams(att.headers.get('content-disposition'));
  for (const n of [cd.filename, ct.name, att.filename]) if (typeof n === 'string' && n.length > 0) names.add(n);
  return [...names];
}

/**
 * Walks `src`, calling `visit` for every attachment-like part and once for the text body. Resolves when the whole
 * message has been read or a visitor said stop. Parts are visited one at a time, as streams.
 */
export async function walkMime(src: MessageSource, visit: PartVisitor, opts: WalkOptions): Promise<VisitResult> {
  return walkInner(openSource(src), visit, opts, '', 0);
}

async function walkInner(
  input: Readable,
  visit: PartVisitor,
  opts: WalkOptions,
  prefix: string,
  depth: number,
): Promise<VisitResult> {
  const parser = new MailParser({
    checksumAlgo: false,
    // We scan bytes, not render mail: skip every conversion that costs CPU on large bodies.
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
  });
  let stopped = false;
  // A damaged Content-Type can make mailparser hand out the message itself (no partId, so "1") and then its
  // children, the first of them "1" too. A verdict names its part, so ids stay unique: a repeat gets a suffix.
  const used = new Set<string>();
  const uniqueId = (id: string): string => {
    let u = id;
    for (let n = 2; used.has(u); n++) u = `${id}~${n}`;
    used.add(u);
    return u;
  };
  // Attachments are visited strictly in order; the parser waits for release() before it continues.
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown;

  const handle = async (part: MimePart, rfc822: boolean): Promise<void> => {
    if (stopped) return;
    let r: VisitResult;
    if (rfc822) {
      r = await visit(part);
      if (r === 'continue') {
        r =
          depth + 1 > opts.maxMessageDepth
            ? await opts.onTooDeep(part)
            : await walkInner(part.content, visit, opts, `${part.id}.`, depth + 1);
      }
    } else {
      r = await visit(part);
    }
    if (r === 'stop') stopped = true;
  };

  return new Promise<VisitResult>((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      failure ??= e;
      if (settled) return;
      settled = true;
      input.destroy();
      parser.destroy();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    // A verdict is known: stop reading the rest of the message.
    const stopEarly = () => {
      if (settled || !stopped) return;
      settled = true;
      input.unpipe(parser);
      input.destroy();
      parser.destroy();
      resolve('stop');
    };
    parser.on('data', (data: AttachmentStream | MessageText) => {
      if (data.type === 'attachment') {
        const att = data;
        if (stopped) {
          att.release?.();
          return;
        }
        chain = chain
          .then(async () => {
            const ct = att.contentType.toLowerCase();
            await handle(
              {
                id: uniqueId(prefix + (att.partId ?? '1')),
                filenames: namesOf(att),
                contentType: ct,
                content: att.content,
                depth,
              },
              ct === 'message/rfc822',
            );
            // Unread content would pile up in the stream once release() lets the parser drain it: discard it.
            att.content.resume();
          })
          .then(stopEarly)
          .catch(fail)
          .finally(() => {
            if (!settled) att.release?.();
          });
        return;
      }
      const text = [data.text, data.html].filter((t): t is string => typeof t === 'string' && t.length > 0).join('\n');
      if (text.length === 0) return;
      chain = chain
        .then(() =>
          handle(
            {
              id: `${prefix}text`,
              filenames: [],
              contentType: 'text/plain',
              content: Readable.from([Buffer.from(text, 'utf8')]),
              depth,
            },
            false,
          ),
        )
        .then(stopEarly)
        .catch(fail);
    });
    parser.once('error', fail);
    input.once('error', fail);
    parser.once('end', () => {
      chain.then(() => {
        if (settled || failure !== undefined) return;
        settled = true;
        resolve(stopped ? 'stop' : 'continue');
      }, fail);
    });
    input.pipe(parser);
  });
}
