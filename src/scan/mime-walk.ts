// MIME walk: every decoded part of a message, nested messages included, handed one at a time to a visitor.
// mailparser (streaming MailParser) does the splitting and transfer decoding. It already descends into unencoded
// message/rfc822 parts; an encoded (base64/QP) message/rfc822 arrives as an attachment, and we parse it again here.
import { MailParser, type AttachmentStream, type MessageText, type StructuredHeader } from 'mailparser';
import type { Readable } from 'node:stream';
import { openSource, type MessageSource } from './source.js';

export interface MimePart {
  /** IMAP-style part number ("2.1"), prefixed by the enclosing part for re-parsed nested messages; "text" for the
   * combined text body. */
  id: string;
  /** Every name the part carries: Content-Disposition filename and Content-Type name (they can differ). */
  filenames: string[];
  contentType: string;
  /** Decoded content (transfer encoding removed; text bodies as UTF-8). */
  content: Buffer;
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

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('error', reject);
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
  });
}

/**
 * Walks `src`, calling `visit` for every attachment-like part and once for the text body. Resolves when the whole
 * message has been read or a visitor said stop. Parts are held in memory one at a time.
 */
export async function walkMime(src: MessageSource, visit: PartVisitor, opts: WalkOptions): Promise<VisitResult> {
  return walkInner(src, visit, opts, '', 0);
}

async function walkInner(
  src: MessageSource,
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
  const input = openSource(src);
  let stopped = false;
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
            : await walkInner({ bytes: part.content }, visit, opts, `${part.id}.`, depth + 1);
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
        const content = collect(att.content);
        chain = chain
          .then(async () => {
            const buf = await content;
            const ct = att.contentType.toLowerCase();
            await handle(
              {
                id: prefix + (att.partId ?? '1'),
                filenames: namesOf(att),
                contentType: ct,
                content: buf,
                depth,
              },
              ct === 'message/rfc822',
            );
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
              content: Buffer.from(text, 'utf8'),
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
