// The built-in engine: needs no external service, so it is what a new install scans with. It looks at every decoded
// MIME part and every zip entry for the EICAR test file, blocklisted SHA-256 digests and the attachment rules.
// Parts are streamed through the checks (content.ts); only zips and OLE files are kept whole, as those checks need.
import type { Config } from '../../core/config.js';
import type { Engine, ScanInput } from '../engine.js';
import { ChunkFeed, feedScan, type FeedScan } from '../live.js';
import { UnscannableMessage, walkReadable, type MimePart, type StructureLimits } from '../mime-walk.js';
import { Readable } from 'node:stream';
import { chunksOf } from '../source.js';
import type { Verdict } from '../types.js';
import { ArchiveBomb, walkZip, type ArchiveBudget, type ArchiveLimits } from './archive.js';
import { factsOfBuffer, factsOfStream, wholeBuffer, type ContentFacts } from './content.js';
import { EICAR_SIGNATURE } from './eicar.js';
import type { ScanFiles } from '../files.js';
import { HashList } from './hash-list.js';
import { isVbaProjectEntry, oleHasMacros } from './office.js';
import { checkName, displayName, executableKind, isOle, isZip, RULES, type RuleHit } from './rules.js';

type RulesConfig = Config['scan']['builtin']['rules'];

export interface BuiltinOptions {
  rules: RulesConfig;
  archive: ArchiveLimits;
  /** Absolute path of the SHA-256 blocklist, if any. */
  hashList?: string;
  /** limits.maxMimeParts, maxMimeDepth, maxHeaderBytes. */
  structure: StructureLimits;
}

/**
 * Encoded message/rfc822 parts nested deeper than this are not re-parsed. Forwarding chains rarely pass five; the
 * limit only exists so a crafted message cannot make us recurse without end.
 */
export const MAX_MESSAGE_DEPTH = 10;

const ENGINE = 'builtin';

export class BuiltinEngine implements Engine {
  readonly name = ENGINE;
  private readonly hashes: HashList;

  constructor(
    private readonly opts: BuiltinOptions,
    private readonly files: ScanFiles,
  ) {
    this.hashes = new HashList(opts.hashList, files);
  }

  async scan(input: ScanInput): Promise<Verdict> {
    const chunks = chunksOf(input.source);
    try {
      return await this.scanChunks(chunks);
    } finally {
      if (chunks instanceof Readable) chunks.destroy();
    }
  }

  /** Scans the message as its chunks arrive: the MIME walk is push-based, so it keeps pace with the network. */
  begin(): FeedScan {
    const feed = new ChunkFeed();
    // A finding ends the feed at once: the verdict is known before the rest of the message arrives, and the rest
    // costs nothing (without it the walk would only notice when the next chunk came).
    return feedScan(
      feed,
      this.scanChunks(feed, () => feed.abort()),
    );
  }

  /** Scans a message given as chunks in order, however it is cut: the same verdict as for the whole buffer. */
  async scanChunks(
    chunks: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer>,
    onFinding?: () => void,
  ): Promise<Verdict> {
    try {
      await this.hashes.refresh();
    } catch (e) {
      return { kind: 'error', engine: ENGINE, reason: e instanceof Error ? e.message : String(e) };
    }
    const budget: ArchiveBudget = { entries: 0, expanded: 0 };
    let found: Verdict | undefined;
    try {
      await walkReadable(
        chunks,
        async (part) => {
          found = await this.scanPart(part, budget);
          if (found) onFinding?.();
          return found ? 'stop' : 'continue';
        },
        {
          limits: this.opts.structure,
          maxMessageDepth: MAX_MESSAGE_DEPTH,
          onTooDeep: async (part) => {
            found = {
              kind: 'blocked',
              engine: ENGINE,
              rule: 'archive-bomb',
              part: labelOf(part),
              detail: `messages nested more than ${MAX_MESSAGE_DEPTH} deep`,
            };
            onFinding?.();
            return 'stop';
          },
        },
      );
    } catch (e) {
      // Scanning it again would fail the same way: a permanent verdict, so the client gets the notice (or a 554)
      // instead of a temporary error on every retry, and the original waits in quarantine.
      if (e instanceof UnscannableMessage) return unscannableVerdict(e);
      return {
        kind: 'error',
        engine: ENGINE,
        reason: `could not read the message structure: ${e instanceof Error ? e.message : String(e)}`,
      };
    }
    return found ?? { kind: 'clean' };
  }

  private async scanPart(part: MimePart, budget: ArchiveBudget): Promise<Verdict | undefined> {
    const label = labelOf(part);
    for (const name of part.filenames) {
      const v = this.ruleVerdict(checkName(name), label);
      if (v) return v;
    }
    // A nested message is walked part by part by the MIME walk; scanning its raw text here too would only blur
    // which part a finding is in.
    if (part.contentType === 'message/rfc822') return undefined;
    const facts = await factsOfStream(part.content, this.hashes.size > 0, this.files);
    try {
      return await this.scanContent(label, facts, 0, budget);
    } finally {
      await facts.dispose();
    }
  }

  private ruleVerdict(hits: RuleHit[], part: string): Verdict | undefined {
    for (const h of hits) {
      if (h.rule !== 'archive-bomb' && this.opts.rules[RULES[h.rule]] !== 'block') continue;
      return { kind: 'blocked', engine: ENGINE, rule: h.rule, part, detail: h.detail };
    }
    return undefined;
  }

  /** Content checks on one decoded part or zip entry; `zipDepth` counts the archives around it. */
  private async scanContent(
    label: string,
    content: ContentFacts,
    zipDepth: number,
    budget: ArchiveBudget,
  ): Promise<Verdict | undefined> {
    if (content.sha256 !== undefined) {
      const hit = this.hashes.lookup(content.sha256);
      if (hit) return { kind: 'infected', engine: ENGINE, signature: hit.name, part: label };
    }
    const whole = content.whole;
    // Archives first, so a finding names the entry rather than the stored bytes of the zip around it.
    if (whole && isZip(content.head)) {
      try {
        const zipSrc = whole.kind === 'buffer' ? whole.buf : { path: whole.path, size: whole.size, files: this.files };
        const inside = await walkZip<Verdict>(zipSrc, zipDepth + 1, this.opts.archive, budget, {
          onName: async (name) => {
            const entryLabel = `${label} > ${displayName(name)}`;
            const hits = checkName(name);
            if (isVbaProjectEntry(name))
              hits.push({ rule: 'office-macro', detail: `Office document with a VBA macro project (${name})` });
            return this.ruleVerdict(hits, entryLabel);
          },
          onEncrypted: async (name) =>
            this.ruleVerdict(
              [
                {
                  rule: 'encrypted-archive',
                  detail: `archive entry ${displayName(name)} is encrypted and cannot be inspected`,
                },
              ],
              `${label} > ${displayName(name)}`,
            ),
          onContent: (name, inner) =>
            this.scanContent(
              `${label} > ${displayName(name)}`,
              factsOfBuffer(inner, this.hashes.size > 0),
              zipDepth + 1,
              budget,
            ),
        });
        if (inside) return inside;
      } catch (e) {
        if (!(e instanceof ArchiveBomb)) throw e;
        return { kind: 'blocked', engine: ENGINE, rule: 'archive-bomb', part: label, detail: e.detail };
      }
    }
    if (content.eicar) return { kind: 'infected', engine: ENGINE, signature: EICAR_SIGNATURE, part: label };
    const exe = executableKind(content.head);
    if (exe) {
      const v = this.ruleVerdict([{ rule: 'executable', detail: `content is a ${exe}` }], label);
      if (v) return v;
    }
    if (whole && isOle(content.head) && oleHasMacros(await wholeBuffer(whole, this.files))) {
      const v = this.ruleVerdict([{ rule: 'office-macro', detail: 'Office document with a VBA macro project' }], label);
      if (v) return v;
    }
    return undefined;
  }
}

export function unscannableVerdict(e: UnscannableMessage): Verdict {
  return {
    kind: 'blocked',
    engine: ENGINE,
    rule: 'unscannable',
    part: 'the message',
    detail: `the message cannot be scanned: ${e.detail} (MS_ERR_MESSAGE_UNSCANNABLE)`,
    code: 'MS_ERR_MESSAGE_UNSCANNABLE',
  };
}

/** How a part is named to users: its file name when it has one. */
function labelOf(part: MimePart): string {
  if (part.filenames.length > 0) return displayName(part.filenames[0]!);
  if (part.role === 'text') return 'the message text';
  return `part ${part.id} (${part.contentType})`;
}
