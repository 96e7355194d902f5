// IMAP APPEND: the client's message is captured and scanned before the server sees it (append.ts has the pure
// parts: literal forms and refusals).
import { log, send } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { appendRefusal, nonSyncLiteral, type AppendMessage, type AppendState } from './append.js';
import type { CommandHead } from './command.js';
import { continuation, literalMarker, shieldTagged } from './replies.js';
import type { LiteralSpec } from './tokenizer.js';
import type { InFlight } from './session-state.js';
import { ClientCommand } from './session-core.js';
import { ImapOwnFetch } from './own-fetch.js';

export abstract class ImapAppendRelay extends ImapOwnFetch {
  // ---------------------------------------------------------------- APPEND

  // Captured from the client, sent on to the server only after a clean verdict (append.ts says why and how).

  protected startAppend(head: CommandHead, data: Buffer, lit: LiteralSpec | null): void {
    const group = this.toUpstream.open();
    const state: AppendState = { tag: head.tag, group, msgs: [], complete: false, settled: false, released: false };
    const info: InFlight = { verb: head.verb, partials: new Map(), append: state };
    this.inflight.set(head.tag, info);
    const c: ClientCommand = {
      head,
      kind: 'append',
      group,
      text: '',
      sink: { to: 'drop' },
      keepLiteralText: false,
      append: state,
    };
    this.cmd = c;
    this.appendFragment(c, data, lit);
  }

  protected appendFragment(c: ClientCommand, data: Buffer, lit: LiteralSpec | null): void {
    const st = c.append!;
    if (!lit) {
      this.toUpstream.push(st.group, send('upstream', data));
      this.toUpstream.close(st.group);
      this.cmd = null;
      st.complete = true;
      this.settleAppend(st);
      return;
    }
    if (lit.tooLarge) {
      this.abandonAppend(st);
      this.inflight.delete(st.tag);
      this.cmd = null;
      this.refuseTooLarge(c.head, lit);
      return;
    }
    this.toUpstream.push(st.group, send('upstream', data.subarray(0, lit.markerOffset)));
    const id = ++this.captureSeq;
    const msg: AppendMessage = {
      id,
      size: lit.size,
      binary: lit.binary,
      marker: this.toUpstream.slot(st.group, true),
      gate: this.toUpstream.slot(st.group, false),
      data: this.toUpstream.slot(st.group, true),
      result: null,
      failed: null,
    };
    st.msgs.push(msg);
    this.captures.set(id, { kind: 'append', msg, state: st, failed: false });
    this.out.push({ type: 'capture-start', id, direction: 'outgoing' });
    c.sink = { to: 'capture', id };
    if (lit.sync) this.toClient.urgent([send('client', continuation('Ready for literal data'))]);
  }

  /** Drops what is queued for the server and lets the captures go. */
  protected abandonAppend(st: AppendState): void {
    this.toUpstream.drop(st.group);
    for (const m of st.msgs) {
      this.captures.delete(m.id);
      this.out.push({ type: 'capture-discard', id: m.id });
    }
    st.settled = true;
  }

  protected settleAppend(st: AppendState): void {
    if (st.settled || !st.complete) return;
    if (st.msgs.some((m) => m.result === null && m.failed === null)) return;
    const refusal = st.msgs.map((m) => appendRefusal(m)).find((r) => r !== null);
    if (refusal) {
      this.out.push(log(refusal.level, 'APPEND refused', { reason: refusal.logText }));
      this.abandonAppend(st);
      this.inflight.delete(st.tag);
      this.toClientNow(shieldTagged(st.tag, 'NO', refusal.code, refusal.text));
      return;
    }
    st.settled = true;
    st.released = true;
    for (const m of st.msgs) {
      const r = m.result as Extract<ScanAction, { action: 'release' }>;
      const size = r.bytes?.length ?? m.size;
      const nonSync = nonSyncLiteral(this.upCaps, size);
      this.toUpstream.resolve(m.marker, [send('upstream', literalMarker(size, m.binary, nonSync))]);
      if (nonSync) this.toUpstream.resolve(m.gate, []);
      this.toUpstream.resolve(m.data, [
        { type: 'send-capture', id: m.id, to: 'upstream', framing: 'raw' },
        { type: 'capture-discard', id: m.id },
      ]);
      this.captures.delete(m.id);
    }
  }
}
