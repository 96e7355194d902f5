// IMAP FETCH interception: message content in FETCH responses is captured and held until its verdict, header items
// are held with it, and the shield's own whole-message fetch (scan-ahead) gets a verdict for partial fetches.
import { log, send, type SessionCommand } from '../../core/session.js';
import { shapedNoticeBody } from '../../scan/notice.js';
import { contentItem, FetchItemParser, noticePart, unquote, type ContentItem } from './fetch.js';
import { isDescriptive, isTopHeader, noticeValue } from './header-view.js';
import { literalMarker } from './replies.js';
import type { LiteralSpec } from './tokenizer.js';
import { hasSeen, setsSeenItem, withSeen } from './seen.js';
import { itemKey, type FetchContext, type HeldDesc, type HeldPart, type InFlight } from './session-state.js';
import type { CachedVerdict } from './verdict-cache.js';
import { ImapResponses } from './responses.js';

export abstract class ImapFetchIntercept extends ImapResponses {
  protected abstract ensureOwnFetch(uid: number, key: string): void;
  protected abstract resolvePart(part: HeldPart, v: CachedVerdict): void;
  // ---------------------------------------------------------------- FETCH responses

  protected startFetch(data: Buffer, lit: LiteralSpec | null, prefixLength: number): void {
    const end = lit ? lit.markerOffset : data.length;
    const epochKey = this.verdicts.epochKey();
    if (lit) {
      const probe = new FetchItemParser();
      probe.feed(data.toString('latin1', prefixLength, end));
      const name = probe.literal();
      // Our own whole-message fetch answers with UID and BODY[], plus what a server adds to every FETCH (MODSEQ once
      // CONDSTORE is on, FLAGS when they changed). Should a client fetch of the same message look the same, the two
      // responses carry the same message bytes, so whichever is taken for ours the client still gets one. A client
      // fetch that sets \Seen or is renamed always has FLAGS (fetch-command.ts): then FLAGS means it is not ours.
      const plan = this.firstFetch()?.plan;
      const flagsOk = !plan || (!plan.setsSeen && plan.renames.size === 0);
      if (
        name === 'BODY[]' &&
        probe.uid !== null &&
        epochKey &&
        probe.names.slice(0, -1).every((n) => n === 'UID' || n === 'MODSEQ' || (flagsOk && n === 'FLAGS'))
      ) {
        const own = this.ownByKey.get(this.verdicts.key(epochKey, probe.uid));
        if (own && own.captureId === null) {
          const id = ++this.captureSeq;
          own.captureId = id;
          this.captures.set(id, { kind: 'own', own, size: 0, failed: false });
          this.out.push({ type: 'capture-start', id, direction: 'incoming' });
          this.resp = { kind: 'own', own, sink: { to: 'capture', id } };
          return;
        }
      }
    }
    const ctx = this.newFetchContext(epochKey);
    this.resp = { kind: 'fetch', ctx, sink: { to: 'drop' } };
    this.toClient.push(ctx.group, send('client', data.subarray(0, prefixLength)));
    this.fetchFragment(ctx, data.subarray(prefixLength), lit ? { ...lit, markerOffset: end - prefixLength } : null);
  }

  /** The client FETCH the server is answering (it runs pipelined commands in order). */
  protected firstFetch(): InFlight | null {
    for (const i of this.inflight.values()) if (i.verb === 'FETCH' || i.verb === 'UID FETCH') return i;
    return null;
  }

  protected newFetchContext(epochKey: string | null): FetchContext {
    return {
      parser: new FetchItemParser(),
      info: this.firstFetch(),
      epochKey,
      group: this.toClient.open(),
      slots: [],
      parts: [],
      descs: [],
      verdicts: [],
      fullPending: 0,
      divert: null,
      content: false,
      flagsSeen: null,
      done: false,
      failed: false,
    };
  }

  /** The cache key of the response's message, once its UID is known and the mailbox is. */
  protected ctxKey(ctx: FetchContext): string | null {
    const uid = ctx.parser.uid;
    return uid !== null && ctx.epochKey ? this.verdicts.key(ctx.epochKey, uid) : null;
  }

  /** A fragment of a FETCH response (after its `* n FETCH (` prefix), up to a literal marker or the line end. */
  protected fetchFragment(ctx: FetchContext, data: Buffer, lit: LiteralSpec | null): void {
    this.fetchText(ctx, data, lit ? lit.markerOffset : data.length);
    if (!lit) {
      this.toClient.lazy(ctx.group, () => this.afterDelivery(ctx));
      this.toClient.close(ctx.group);
      this.resp = null;
      this.finishFetch(ctx);
      return;
    }
    const r = this.resp;
    if (!r || r.kind !== 'fetch') return;
    const marker = data.subarray(lit.markerOffset);
    const name = ctx.parser.literal();
    if (name === null) {
      // A literal inside a nested value (an ENVELOPE subject): it belongs to whatever that value is going to.
      this.fetchEmit(ctx, marker);
      r.sink = ctx.divert ? { to: 'divert', divert: ctx.divert } : { to: 'client', group: ctx.group };
      return;
    }
    const desc = this.descFor(ctx, name);
    if (desc) {
      desc.data.push(marker);
      r.sink = { to: 'desc', desc };
      return;
    }
    this.contentStart(ctx, name, lit.size, lit.binary, marker);
  }

  /**
   * Response text that is not literal content: passed on, except for what the parser marks as needing a change (an
   * item renamed back, a FLAGS list that gets \Seen, a quoted content string, an item that describes the message).
   */
  protected fetchText(ctx: FetchContext, data: Buffer, end: number): void {
    const events = ctx.parser.feed(data.toString('latin1', 0, end));
    const awaiting = ctx.parser.awaitingValueOf;
    if (events.some((e) => e.type === 'name' && setsSeenItem(e.name)) || (awaiting && setsSeenItem(awaiting)))
      ctx.content = true;
    const renames = ctx.info?.plan?.renames;
    let pos = 0;
    for (const ev of events) {
      if (ev.type === 'name') {
        const rn = renames?.get(ev.name);
        if (rn && !ctx.divert) {
          this.fetchEmit(ctx, data.subarray(pos, ev.start));
          this.fetchEmit(ctx, Buffer.from(rn, 'latin1'));
          pos = ev.end;
        }
        continue;
      }
      this.fetchEmit(ctx, data.subarray(pos, ev.at));
      pos = ev.at;
      if (ev.type === 'start') this.divertStart(ctx, ev.name, ev.kind);
      else if (ctx.divert) this.divertEnd(ctx);
    }
    this.fetchEmit(ctx, data.subarray(pos, end));
  }

  protected fetchEmit(ctx: FetchContext, bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (ctx.divert) ctx.divert.data.push(bytes);
    else this.toClient.push(ctx.group, send('client', bytes));
  }

  protected divertStart(ctx: FetchContext, name: string, kind: 'atom' | 'quoted' | 'nested'): void {
    if (kind === 'quoted' && contentItem(name)) ctx.divert = { kind: 'quoted', name, data: [] };
    else if (kind === 'nested' && name === 'FLAGS' && ctx.info?.plan?.setsSeen)
      ctx.divert = { kind: 'flags', data: [] };
    else {
      const desc = this.descFor(ctx, name);
      if (desc) ctx.divert = { kind: 'desc', desc, data: desc.data };
    }
  }

  protected divertEnd(ctx: FetchContext): void {
    const d = ctx.divert!;
    ctx.divert = null;
    switch (d.kind) {
      case 'quoted': {
        // Content in a quoted string is content all the same: scanned like a literal and sent on as one.
        const bytes = unquote(Buffer.concat(d.data));
        this.contentStart(ctx, d.name, bytes.length, false, Buffer.from(literalMarker(bytes.length, false)));
        const r = this.resp;
        if (r?.kind === 'fetch') {
          this.sinkLiteral(r.sink, bytes, true);
          r.sink = { to: 'drop' };
        }
        return;
      }
      case 'flags': {
        const flags = Buffer.concat(d.data).toString('latin1');
        ctx.flagsSeen = hasSeen(flags);
        const shown = ctx.content && this.seen.mailboxWritable ? withSeen(flags) : flags;
        this.fetchEmit(ctx, Buffer.from(shown, 'latin1'));
        return;
      }
      case 'desc':
        this.descDone(d.desc);
        return;
    }
  }

  /**
   * A held slot for an item that describes the message, unless the message is known to be clean. Its bytes are kept
   * and sent as they are, or replaced by the notice's (header-view.ts), once the verdict is known.
   */
  protected descFor(ctx: FetchContext, name: string): HeldDesc | null {
    if (!isDescriptive(name) || ctx.failed) return null;
    const key = this.ctxKey(ctx);
    if (key && this.verdicts.get(key)?.kind === 'clean') return null;
    const slot = this.toClient.slot(ctx.group, true);
    ctx.slots.push(slot);
    const desc: HeldDesc = { ctx, slot, name, data: [], bytes: 0, done: false };
    ctx.descs.push(desc);
    return desc;
  }

  protected descDone(desc: HeldDesc): void {
    desc.done = true;
    const key = this.ctxKey(desc.ctx);
    const v = key ? this.verdicts.get(key) : undefined;
    if (v) this.resolveDesc(desc, v);
  }

  /** `v` null: no verdict will come in time (too large to scan ahead, or the scan failed): the original goes out. */
  protected resolveDesc(desc: HeldDesc, v: CachedVerdict | null): void {
    if (desc.ctx.failed || desc.slot.resolved) return;
    const original = Buffer.concat(desc.data);
    if (v?.kind === 'infected') {
      this.toClient.resolve(desc.slot, [send('client', noticeValue(desc.name, v.notice, original))]);
      return;
    }
    const key = this.ctxKey(desc.ctx);
    if (!v && key && isTopHeader(desc.name)) {
      const lf = original.indexOf(0x0a);
      if (lf >= 0 && original[0] === 0x7b) this.servedHeaders.add(key, original.subarray(lf + 1));
    }
    this.toClient.resolve(desc.slot, [send('client', original)]);
  }

  /** The response's describing items that still wait, once nothing more of it can give them a verdict. */
  protected settleDescs(ctx: FetchContext): void {
    const pending = ctx.descs.filter((d) => d.done && !d.slot.resolved);
    if (pending.length === 0 || ctx.failed || !ctx.done || ctx.fullPending > 0) return;
    const key = this.ctxKey(ctx);
    const v = key ? this.verdicts.get(key) : undefined;
    if (v || !key) {
      for (const d of pending) this.resolveDesc(d, v ?? null);
      return;
    }
    // Scan-ahead: a small message is fetched and scanned now, so what the client sees of it is already the notice.
    const size = ctx.parser.size;
    if (size === null || size > this.opts.limits.scanAheadMaxBytes || ctx.epochKey !== this.verdicts.epochKey()) {
      for (const d of pending) this.resolveDesc(d, null);
      return;
    }
    const list = this.waiters.get(key) ?? [];
    for (const d of pending) list.push({ kind: 'desc', desc: d });
    this.waiters.set(key, list);
    this.ensureOwnFetch(ctx.parser.uid!, key);
  }

  /** Runs when the response has been written to the client: the moment the server would have set \Seen. */
  protected afterDelivery(ctx: FetchContext): SessionCommand[] {
    const uid = ctx.parser.uid;
    if (!ctx.info?.plan?.setsSeen || !ctx.content || ctx.failed || ctx.flagsSeen === true || uid === null) return [];
    if (!this.seen.mailboxWritable || !ctx.epochKey || ctx.epochKey !== this.verdicts.epochKey()) return [];
    this.toUpstream.urgent([send('upstream', this.seen.store(this.newTag(), uid))]);
    return [];
  }

  protected contentStart(ctx: FetchContext, name: string, size: number, binary: boolean, marker: Buffer): void {
    const r = this.resp;
    if (!r || r.kind !== 'fetch') return;
    const g = ctx.group;
    const item = contentItem(name);
    if (!item) {
      this.toClient.push(g, send('client', marker));
      r.sink = { to: 'client', group: g };
      return;
    }
    const key = this.ctxKey(ctx);
    const cached = key ? this.verdicts.get(key) : undefined;
    if (cached?.kind === 'clean') {
      this.toClient.push(g, send('client', marker));
      r.sink = { to: 'client', group: g };
      return;
    }
    if (cached?.kind === 'infected') {
      const count = item.origin === null ? null : (ctx.info?.partials.get(itemKey(item)) ?? size);
      const body = this.noticeBody(key!, cached.notice, item, count);
      this.toClient.push(g, send('client', Buffer.concat([Buffer.from(literalMarker(body.length, binary)), body])));
      r.sink = { to: 'drop' };
      return;
    }
    const slot = this.toClient.slot(g, true);
    ctx.slots.push(slot);
    if (item.full) {
      const id = ++this.captureSeq;
      ctx.fullPending++;
      this.captures.set(id, { kind: 'full', ctx, slot, binary, size: 0, failed: false });
      this.out.push({ type: 'capture-start', id, direction: 'incoming' });
      r.sink = { to: 'capture', id };
      return;
    }
    const part: HeldPart = { ctx, slot, item, itemKey: itemKey(item), marker, binary, data: [], bytes: 0 };
    ctx.parts.push(part);
    r.sink = { to: 'part', part };
  }

  /**
   * What of the notice a content item gets. A body after the original's header went out (the message was too large
   * to scan ahead) is shaped to that header, so the two still make one well-formed message.
   */
  protected noticeBody(key: string, notice: Buffer, item: ContentItem, count: number | null): Buffer {
    const header = item.section === 'TEXT' ? this.servedHeaders.get(key) : undefined;
    if (!header) return noticePart(notice, item, count);
    const body = shapedNoticeBody(notice, header);
    if (item.origin === null) return body;
    const start = Math.min(item.origin, body.length);
    return body.subarray(start, count === null ? body.length : Math.min(body.length, start + count));
  }

  protected finishFetch(ctx: FetchContext): void {
    ctx.done = true;
    const key = this.ctxKey(ctx);
    if (key) for (const v of ctx.verdicts) this.verdicts.remember(key, v);
    this.settleDescs(ctx);
    if (ctx.parts.length === 0 || ctx.failed) return;
    if (!key || ctx.epochKey !== this.verdicts.epochKey()) {
      this.failFetch(ctx, 'the message could not be identified for scanning; try again');
      return;
    }
    for (const part of ctx.parts) {
      const cached = this.verdicts.get(key);
      if (cached) {
        this.resolvePart(part, cached);
        continue;
      }
      const list = this.waiters.get(key) ?? [];
      list.push({ kind: 'part', part });
      this.waiters.set(key, list);
      this.ensureOwnFetch(ctx.parser.uid!, key);
    }
  }

  /**
   * Content of this response cannot be given to the client. If nothing of the response has been written, it is
   * dropped and the FETCH's tagged reply becomes NO [UNAVAILABLE]; the client tries again later and the message stays
   * on the server. If some of it is already out, the content items become empty.
   */
  protected failFetch(ctx: FetchContext, reason: string): void {
    if (ctx.failed) return;
    ctx.failed = true;
    this.out.push(log('warn', 'FETCH content withheld', { reason }));
    if (ctx.info) ctx.info.failed = reason;
    if (!ctx.group.started) {
      this.toClient.drop(ctx.group);
      return;
    }
    for (const d of ctx.descs) this.toClient.resolve(d.slot, [send('client', Buffer.concat(d.data))]);
    for (const s of ctx.slots) this.toClient.resolve(s, [send('client', '{0}\r\n')]);
  }
}
