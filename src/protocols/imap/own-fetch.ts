// The shield's own whole-message fetch (scan-ahead): when a client fetches only part of a message, or only its
// header items, the shield fetches all of it with BODY.PEEK[] under its own tag, scans it, and settles every held
// part and description waiting on that message's verdict.
import { log, send } from '../../core/session.js';
import { ImapFetchIntercept } from './fetch-intercept.js';
import { literalMarker } from './replies.js';
import type { HeldPart, OwnFetch } from './session-state.js';
import type { CachedVerdict } from './verdict-cache.js';

export abstract class ImapOwnFetch extends ImapFetchIntercept {
  protected ensureOwnFetch(uid: number, key: string): void {
    if (this.ownByKey.has(key)) return;
    const own: OwnFetch = { tag: this.newTag(), uid, key, captureId: null };
    this.ownByKey.set(key, own);
    this.ownByTag.set(own.tag, own);
    this.out.push(log('debug', 'fetching the whole message to scan it', { uid }));
    this.toUpstream.urgent([send('upstream', `${own.tag} UID FETCH ${uid} (UID BODY.PEEK[])\r\n`)]);
  }

  protected ownTagged(own: OwnFetch, text: string): void {
    this.ownByTag.delete(own.tag);
    if (own.captureId !== null) return; // the scan settles the waiters
    this.ownByKey.delete(own.key);
    const why = /^\S+ OK/i.test(text)
      ? 'the message is no longer on the server'
      : 'the server would not return the whole message';
    this.failWaiters(own.key, `${why}; it could not be scanned`);
  }

  protected resolvePart(part: HeldPart, v: CachedVerdict): void {
    if (part.ctx.failed) return;
    if (v.kind === 'clean') {
      this.toClient.resolve(part.slot, [
        send('client', part.marker),
        send('client', Buffer.concat(part.data, part.bytes)),
      ]);
      return;
    }
    const count = part.item.origin === null ? null : (part.ctx.info?.partials.get(part.itemKey) ?? part.bytes);
    const body = this.noticeBody(this.ctxKey(part.ctx) ?? '', v.notice, part.item, count);
    this.toClient.resolve(part.slot, [
      send('client', Buffer.concat([Buffer.from(literalMarker(body.length, part.binary)), body])),
    ]);
    part.data = [];
  }

  protected resolveWaiters(key: string, v: CachedVerdict): void {
    const list = this.waiters.get(key) ?? [];
    this.waiters.delete(key);
    for (const w of list) {
      if (w.kind === 'part') this.resolvePart(w.part, v);
      else this.resolveDesc(w.desc, v);
    }
  }

  /** Parts cannot be given out without a verdict; describing items can: they show the original. */
  protected failWaiters(key: string, reason: string): void {
    const list = this.waiters.get(key) ?? [];
    this.waiters.delete(key);
    for (const w of list) {
      if (w.kind === 'part') this.failFetch(w.part.ctx, reason);
    }
    for (const w of list) if (w.kind === 'desc') this.resolveDesc(w.desc, null);
  }
}
