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

export interface StructureLimits {
  maxMimeParts: number;
  maxMimeDepth: number;
  maxHeaderBytes: number;
}

export interface WalkOptions {
  /** Deepest encoded message/rfc822 nesting we re-parse; deeper is reported through `onTooDeep`. */
  maxMessageDepth: number;
  onTooDeep(part: MimePart): Promise<VisitResult>;
  limits: StructureLimits;
}

/**
 * The message itself cannot be walked: it is over a structure limit, or the MIME parser failed on its bytes. Unlike
 * a failure to read the source, this is a property of the message, so scanning it again would fail again: callers
 * turn it into a permanent verdict, never a temporary failure that a mail client retries forever.
 */
export class UnscannableMessage extends Error {
  constructor(
    /** Which limit was hit, or 'parse' when the parser failed for another reason. */
    readonly limit: 'maxMimeParts' | 'maxMimeDepth' | 'maxHeaderBytes' | 'parse',
    /** One sentence for people, naming the setting. */
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** The parser's own error, in our words: mailsplit's EMAXLEN limits name the setting that configures them. */
function unscannable(e: unknown, limits: StructureLimits): UnscannableMessage {
  if (e instanceof UnscannableMessage) return e;
  const err: Error & { code?: string } = e instanceof Error ? e : new Error(String(e));
  if (err.code === 'EMAXLEN' && /child nodes/i.test(err.message)) return tooManyParts(limits);
  if (err.code === 'EMAXLEN' && /header size/i.test(err.message))
    return new UnscannableMessage(
      'maxHeaderBytes',
      `a header block is larger than ${limits.maxHeaderBytes} bytes (limits.maxHeaderBytes)`,
    );
  return new UnscannableMessage('parse', `the MIME parser could not read it (${err.message})`);
}

function tooManyParts(limits: StructureLimits): UnscannableMessage {
  return new UnscannableMessage(
    'maxMimeParts',
    `it has more than ${limits.maxMimeParts} MIME parts (limits.maxMimeParts)`,
  );
}

/** A MIME entity as mailsplit hands it to mailparser's per-chunk step. */
interface SplitterNode {
  type: string;
  parentNode?: SplitterNode | false;
}
type ChunkStep = (this: unknown, data: SplitterNode, done: (err?: Error | null) => void) => void;

/**
 * Counts entities and checks their depth as mailparser receives them, before it builds anything on them. mailsplit
 * bounds parts and header size itself but not depth, and mailparser's text step walks the tree recursively (5000
 * levels overflow the stack). Its per-chunk step is not in its typings, so a change there fails here, loudly, and
 * the depth tests in test/scan-limits.test.ts catch it.
 */
function guardStructure(parser: MailParser, baseDepth: number, count: { parts: number }, limits: StructureLimits) {
  const host = parser as unknown as { processChunk?: ChunkStep };
  const step = host.processChunk;
  if (typeof step !== 'function')
    throw new Error('mailparser has no processChunk step: the MIME depth guard needs updating');
  host.processChunk = function (data, done) {
    if (data.type === 'node') {
      if (++count.parts > limits.maxMimeParts) return done(tooManyParts(limits));
      let depth = baseDepth;
      for (let n = data.parentNode; n; n = n.parentNode) {
        if (++depth > limits.maxMimeDepth)
          return done(
            new UnscannableMessage(
              'maxMimeDepth',
              `its MIME parts are nested more than ${limits.maxMimeDepth} deep (limits.maxMimeDepth)`,
            ),
          );
      }
    }
    step.call(this, data, done);
  };
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
  return walkInner(openSource(src), visit, opts, '', 0, 0, { parts: 0 });
}

async function walkInner(
  input: Readable,
  visit: PartVisitor,
  opts: WalkOptions,
  prefix: string,
  depth: number,
  /** MIME depth of this (re-parsed) message's top entity within the outermost message. */
  mimeDepth: number,
  count: { parts: number },
): Promise<VisitResult> {
  const parser = new MailParser({
    maxChildNodes: opts.limits.maxMimeParts,
    maxHeadSize: opts.limits.maxHeaderBytes,
    checksumAlgo: false,
    // We scan bytes, not render mail: skip every conversion that costs CPU on large bodies.
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
  });
  guardStructure(parser, mimeDepth, count, opts.limits);
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
  // Once the walk has resolved or rejected, parts the parser still hands out (or that wait in the chain) are never
  // visited: a verdict was given without them, and a visitor must not run after its walk ended (found by fuzzing).
  let settled = false;

  const handle = async (part: MimePart, rfc822: boolean, partMimeDepth = mimeDepth): Promise<void> => {
    if (stopped || settled) return;
    let r: VisitResult;
    if (rfc822) {
      r = await visit(part);
      if (r === 'continue') {
        r =
          depth + 1 > opts.maxMessageDepth
            ? await opts.onTooDeep(part)
            : await walkInner(part.content, visit, opts, `${part.id}.`, depth + 1, partMimeDepth + 1, count);
      }
    } else {
      r = await visit(part);
    }
    if (r === 'stop') stopped = true;
  };

  return new Promise<VisitResult>((resolve, reject) => {
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
              // "2.1" is two levels below the message it is a part of.
              mimeDepth + (att.partId ?? '1').split('.').length,
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
    // The parser fails only on the message's own bytes: a permanent property of the message (see UnscannableMessage).
    parser.once('error', (e: unknown) => fail(unscannable(e, opts.limits)));
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
