// MIME walk: every decoded leaf part of a message, nested messages included, handed one at a time to a visitor.
// @zone-eu/mailsplit splits the raw bytes into entities; each leaf's body goes through its transfer decoder
// (libbase64/libqp streams) straight to the visitor. Nothing is turned into JS strings and no charset is converted:
// the checks look at bytes, and mailparser's rendering steps (html-to-text, linkify, iconv) cost CPU for nothing.
// The walk is push-based (MimeWalker.write/end), so bytes can be fed as they arrive from the network; an encoded
// message/rfc822 part is decoded and walked again by a nested walker.
import { Splitter, type MimeNode, type SplitterChunk } from '@zone-eu/mailsplit';
import libmime from 'libmime';
import { once } from 'node:events';
import type { Readable, Transform, PassThrough } from 'node:stream';
import { openSource, type MessageSource } from './source.js';

export interface MimePart {
  /** IMAP-style part number ("2.1"), prefixed by the enclosing part for re-parsed nested messages. */
  id: string;
  /** 'text' for a body text part (text/plain or text/html, no file name, not an attachment). */
  role: 'text' | 'attachment';
  /** Every name the part carries: Content-Disposition filename and Content-Type name (they can differ). */
  filenames: string[];
  contentType: string;
  /**
   * Decoded content (transfer encoding removed, bytes as sent), readable once during the visit. The walk waits while
   * it is not read; whatever the visitor leaves unread is discarded after it returns. For message/rfc822 parts the
   * walk reads it itself (re-parsing), so visitors must leave it alone.
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

/** The splitter's own error, in our words: its EMAXLEN limits name the setting that configures them. */
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

function decodedParam(header: string, key: string): string | undefined {
  if (!header) return undefined;
  const parsed = libmime.parseHeaderValue(header, { stripComments: true });
  const v = parsed.params[key];
  if (typeof v !== 'string' || v.length === 0) return undefined;
  // RFC 2231 values are decoded by libmime already; decoding them again would read an encoded word hidden inside.
  const already = (parsed as { decodedParams?: string[] }).decodedParams?.includes(key) ?? false;
  if (already) return v;
  try {
    return libmime.decodeWords(v);
  } catch {
    return v;
  }
}

function namesOf(node: MimeNode): string[] {
  const names = new Set<string>();
  const headers = node.headers;
  if (headers) {
    for (const n of [
      decodedParam(headers.getFirst('content-disposition'), 'filename'),
      decodedParam(headers.getFirst('content-type'), 'name'),
    ])
      if (n) names.add(n);
  }
  if (node.filename) names.add(node.filename);
  return [...names];
}

/** Where one walker sits: a message at `depth` (re-parse count), its top entity `mimeDepth` entities down. */
interface WalkPlace {
  prefix: string;
  depth: number;
  mimeDepth: number;
  /** Shared by every walker of one message, so nested messages add up against maxMimeParts. */
  count: { parts: number };
  /**
   * Part ids handed out so far, shared the same way. A damaged structure can number two entities alike (a message
   * whose only part has no number, then its first child); a verdict names its part, so a repeat gets a suffix.
   */
  used: Set<string>;
}

function uniqueId(used: Set<string>, id: string): string {
  let u = id;
  for (let n = 2; used.has(u); n++) u = `${id}~${n}`;
  used.add(u);
  return u;
}

interface OpenLeaf {
  node: MimeNode;
  decoder: Transform | PassThrough;
  visiting: Promise<VisitResult>;
  done: boolean;
}

/**
 * Walks one message fed in chunks: `write` as bytes arrive, then `end`. `write` waits while the visitor is behind
 * (backpressure), and turns into a no-op once a visitor said stop or the walk failed; `end` gives the result or the
 * failure (UnscannableMessage for the message's own structure, anything else for a visitor's error).
 */
export class MimeWalker {
  private readonly splitter: Splitter;
  private readonly result: Promise<VisitResult>;
  private finished = false;
  private stopped = false;
  private tooDeep?: UnscannableMessage;

  constructor(
    private readonly visit: PartVisitor,
    private readonly opts: WalkOptions,
    private readonly place: WalkPlace = { prefix: '', depth: 0, mimeDepth: 0, count: { parts: 0 }, used: new Set() },
  ) {
    this.splitter = new Splitter({
      maxChildNodes: opts.limits.maxMimeParts,
      maxHeadSize: opts.limits.maxHeaderBytes,
    });
    this.result = this.run().finally(() => {
      this.finished = true;
      this.splitter.destroy();
    });
    // Observed here; the caller sees the outcome through end().
    this.result.catch(() => {});
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.finished || chunk.length === 0) return;
    if (!this.splitter.write(chunk)) await Promise.race([once(this.splitter, 'drain'), this.result]).catch(() => {});
  }

  async end(): Promise<VisitResult> {
    if (!this.finished) this.splitter.end();
    return this.result;
  }

  private async run(): Promise<VisitResult> {
    const it = this.splitter[Symbol.asyncIterator]() as AsyncIterator<SplitterChunk>;
    let leaf: OpenLeaf | undefined;
    for (;;) {
      let next: IteratorResult<SplitterChunk>;
      try {
        next = await it.next();
      } catch (e) {
        // Only the splitter fails in next(): the message's own bytes, a permanent property of it.
        if (leaf) leaf.decoder.destroy();
        throw unscannable(e, this.opts.limits);
      }
      if (next.done) break;
      const c = next.value;
      if (c.type === 'node') {
        if (leaf && (await this.closeLeaf(leaf)) === 'stop') return this.stop();
        leaf = undefined;
        if (this.checkStructure(c) === 'too-deep') continue;
        // Containers have nothing of their own to scan; an unencoded message/rfc822 is split inline by mailsplit.
        if (c.multipart) continue;
        leaf = this.openLeaf(c);
        if (c.messageNode) {
          leaf.decoder.end();
          if ((await this.closeLeaf(leaf)) === 'stop') return this.stop();
          leaf = undefined;
        }
      } else if (c.type === 'body' && leaf && c.node === leaf.node && !leaf.done) {
        if (!leaf.decoder.write(c.value))
          await Promise.race([once(leaf.decoder, 'drain'), leaf.visiting.then(() => undefined)]);
      }
    }
    if (leaf && (await this.closeLeaf(leaf)) === 'stop') return this.stop();
    if (this.tooDeep) throw this.tooDeep;
    return 'continue';
  }

  private stop(): VisitResult {
    this.stopped = true;
    return 'stop';
  }

  /**
   * Counts parts and checks depth. Past the depth limit nothing more is visited, but the rest is still split and
   * counted to the end: a message over both limits is reported as over maxMimeParts, however its bytes were cut into
   * chunks (deciding at the first deep node would make the verdict depend on where a chunk ended).
   */
  private checkStructure(node: MimeNode): 'ok' | 'too-deep' {
    const { limits } = this.opts;
    if (++this.place.count.parts > limits.maxMimeParts) throw tooManyParts(limits);
    if (this.tooDeep) return 'too-deep';
    let depth = this.place.mimeDepth;
    for (let n = node.parentNode; n; n = n.parentNode) {
      if (++depth > limits.maxMimeDepth) {
        this.tooDeep = new UnscannableMessage(
          'maxMimeDepth',
          `its MIME parts are nested more than ${limits.maxMimeDepth} deep (limits.maxMimeDepth)`,
        );
        return 'too-deep';
      }
    }
    return 'ok';
  }

  private openLeaf(node: MimeNode): OpenLeaf {
    const { prefix, depth } = this.place;
    const nr = (node.partNr || []).filter((p) => p !== 'TEXT').join('.') || '1';
    const filenames = namesOf(node);
    const contentType = node.contentType || 'text/plain';
    const isText =
      (contentType === 'text/plain' || contentType === 'text/html') &&
      filenames.length === 0 &&
      node.disposition !== 'attachment';
    const decoder = node.getDecoder();
    const part: MimePart = {
      id: uniqueId(this.place.used, prefix + nr),
      role: isText ? 'text' : 'attachment',
      filenames,
      contentType,
      content: decoder,
      depth,
    };
    // "2.1" is two levels below the message it is a part of.
    const partMimeDepth = this.place.mimeDepth + nr.split('.').length;
    const encodedMessage = contentType === 'message/rfc822' && !node.messageNode;
    const visiting = this.visitPart(part, encodedMessage, partMimeDepth);
    // Handled when the leaf closes; a visitor failing before that must not count as an unhandled rejection.
    visiting.catch(() => {});
    return { node, decoder, visiting, done: false };
  }

  private async visitPart(part: MimePart, encodedMessage: boolean, partMimeDepth: number): Promise<VisitResult> {
    const r = await this.visit(part);
    if (r === 'stop' || !encodedMessage) return r;
    if (this.place.depth + 1 > this.opts.maxMessageDepth) return this.opts.onTooDeep(part);
    return walkReadable(part.content, this.visit, this.opts, {
      prefix: `${part.id}.`,
      depth: this.place.depth + 1,
      mimeDepth: partMimeDepth + 1,
      count: this.place.count,
      used: this.place.used,
    });
  }

  /** Ends a leaf's content and waits for its visit; unread content is discarded. */
  private async closeLeaf(leaf: OpenLeaf): Promise<VisitResult> {
    leaf.done = true;
    leaf.decoder.end();
    try {
      return await leaf.visiting;
    } finally {
      leaf.decoder.resume();
    }
  }

  /** True once the walk has its result (a visitor said stop, or it failed): the caller may stop feeding bytes. */
  get isFinished(): boolean {
    return this.finished || this.stopped;
  }
}

/** Feeds a readable through a walker; stops reading once a visitor said stop. */
export async function walkReadable(
  input: Readable | AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer>,
  visit: PartVisitor,
  opts: WalkOptions,
  place?: WalkPlace,
): Promise<VisitResult> {
  const walker = new MimeWalker(visit, opts, place);
  for await (const raw of input) {
    if (walker.isFinished) break;
    await walker.write(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array));
  }
  return walker.end();
}

/**
 * Walks `src`, calling `visit` for every leaf part (attachments and text bodies). Resolves when the whole message has
 * been read or a visitor said stop. Parts are visited one at a time, as streams.
 */
export async function walkMime(src: MessageSource, visit: PartVisitor, opts: WalkOptions): Promise<VisitResult> {
  const input = openSource(src);
  try {
    return await walkReadable(input, visit, opts);
  } finally {
    input.destroy();
  }
}
