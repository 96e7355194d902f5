// IMAP upstream: the greeting and STARTTLS set-up, then every server response routed to the command it answers,
// with the mailbox state (selected mailbox, read-only) it implies.
import { ShieldError } from '../../core/errors.js';
import { log, send } from '../../core/session.js';
import type { SetupOutcome } from '../../core/upstream-setup.js';
import { fetchStart } from './fetch.js';
import { shieldTagged } from './replies.js';
import type { LiteralSpec, Token } from './tokenizer.js';
import type { InFlight, LiteralSink } from './session-state.js';
import { ImapSessionCore } from './session-core.js';

export abstract class ImapResponses extends ImapSessionCore {
  // ---------------------------------------------------------------- upstream: greeting and STARTTLS

  protected pumpUpstream(): void {
    for (;;) {
      if (this.phase === 'closed' || this.phase === 'wait-start' || this.setup.awaitingTls) return;
      const tok = this.upTok.next();
      if (!tok) return;
      if (tok.type === 'error') {
        this.failUpstream(
          new ShieldError('MS_ERR_UPSTREAM_PROTOCOL', 'The mail server sent a line longer than mailshield accepts', {
            offered: `more than ${this.opts.limits.maxLineBytes} bytes without a line end`,
            fix: 'raise limits.maxLineBytes',
          }),
        );
        return;
      }
      if (this.phase === 'relay') this.upToken(tok);
      else this.setupToken(tok);
    }
  }

  protected setupToken(tok: Token): void {
    if (tok.type !== 'line') return; // literals during setup carry nothing the shield needs
    this.runSetup(this.setup.unit(tok.data.toString('latin1'), this.out), tok.data);
  }

  /** Acts on what the upstream setup decided; `line` is the server line it answers, if any. */
  protected runSetup(o: SetupOutcome, line: Buffer | null): void {
    switch (o.kind) {
      case 'pending':
        return;
      case 'refused':
        if (line) this.out.push(send('client', line));
        this.closeAll('mail server refused the connection');
        return;
      case 'fail':
        this.failUpstream(o.error);
        return;
      case 'done': {
        const greeting = o.greeting.toString('latin1');
        this.startRelay(o.rewrite ? this.rewriteCaps(greeting) : greeting);
        return;
      }
    }
  }

  protected startRelay(greeting: string): void {
    this.phase = 'relay';
    this.toClientNow(greeting);
    this.pumpClient();
  }

  // ---------------------------------------------------------------- upstream responses

  protected upToken(tok: Token): void {
    if (tok.type === 'literal') {
      this.upLiteral(tok.data, tok.last);
      return;
    }
    if (tok.type === 'line') this.upLine(tok.data, tok.literal);
  }

  protected upLiteral(data: Buffer, last: boolean): void {
    const r = this.resp;
    if (!r) return;
    if (r.kind === 'pass') this.toClient.push(r.group, send('client', data));
    else if (r.kind === 'fetch' || r.kind === 'own') this.sinkLiteral(r.sink, data, last);
  }

  protected sinkLiteral(sink: LiteralSink, data: Buffer, last: boolean): void {
    switch (sink.to) {
      case 'upstream':
        this.toUpstream.push(sink.group, send('upstream', data));
        return;
      case 'client':
        this.toClient.push(sink.group, send('client', data));
        return;
      case 'capture': {
        const cap = this.captures.get(sink.id);
        if (!cap || cap.failed) return;
        if (cap.kind !== 'append') cap.size += data.length;
        if (data.length > 0) this.out.push({ type: 'capture-data', id: sink.id, data });
        if (last) this.out.push({ type: 'capture-end', id: sink.id });
        return;
      }
      case 'part': {
        const part = sink.part;
        if (part.ctx.failed) return;
        // A part waits in memory for the whole message's verdict; no part of a scannable message is larger than this.
        if (part.bytes + data.length > this.opts.limits.maxMessageBytes) {
          part.data = [];
          this.failFetch(part.ctx, 'the message part is larger than limits.maxMessageBytes and cannot be scanned');
          return;
        }
        part.data.push(data);
        part.bytes += data.length;
        return;
      }
      case 'desc': {
        const d = sink.desc;
        if (d.ctx.failed) return;
        d.bytes += data.length;
        if (d.bytes > this.opts.limits.maxMessageBytes) {
          this.failFetch(d.ctx, 'a header item is larger than limits.maxMessageBytes');
          return;
        }
        d.data.push(data);
        if (last) this.descDone(d);
        return;
      }
      case 'divert':
        sink.divert.data.push(data);
        return;
      case 'drop':
        return;
    }
  }

  protected upLine(data: Buffer, lit: LiteralSpec | null): void {
    const r = this.resp;
    if (r) {
      if (r.kind === 'pass') {
        this.toClient.push(r.group, send('client', data));
        if (!lit) {
          this.toClient.close(r.group);
          this.resp = null;
        }
      } else if (r.kind === 'fetch') this.fetchFragment(r.ctx, data, lit);
      else if (!lit)
        this.resp = null; // the rest of our own response, or of one we drop
      else if (r.kind === 'own') r.sink = { to: 'drop' }; // a second literal in our own response is not the message
      return;
    }
    const text = data.toString('latin1');
    if (text.startsWith('+')) {
      this.upContinuation(data);
      if (lit) this.resp = { kind: 'drop' };
      return;
    }
    if (text.startsWith('*')) {
      const fs = fetchStart(text);
      if (fs) {
        this.startFetch(data, lit, fs.prefixLength);
        return;
      }
      this.trackUntagged(text);
      this.passResponse(lit ? data : Buffer.from(this.rewriteCaps(text), 'latin1'), lit);
      return;
    }
    const tag = text.slice(0, Math.max(0, text.indexOf(' ')));
    if (this.seen.takeOwn(tag)) {
      // The reply to our STORE of \Seen: the client never sent that command.
      if (!/^\S+ OK/i.test(text)) this.out.push(log('warn', 'the server did not set \\Seen', { reply: text.trim() }));
      if (lit) this.resp = { kind: 'drop' };
      return;
    }
    const own = this.ownByTag.get(tag);
    if (own) {
      this.ownTagged(own, text);
      if (lit) this.resp = { kind: 'drop' };
      return;
    }
    this.clientTagged(tag, text, data, lit);
  }

  protected passResponse(data: Buffer, lit: LiteralSpec | null): void {
    const g = this.toClient.open();
    this.toClient.push(g, send('client', data));
    if (lit) this.resp = { kind: 'pass', group: g };
    else this.toClient.close(g);
  }

  protected upContinuation(data: Buffer): void {
    const gate = this.toUpstream.waitingGate();
    if (gate) {
      // The server's go-ahead for an APPEND literal the shield is sending: the client already had ours.
      this.toUpstream.resolve(gate, []);
      return;
    }
    this.toClient.urgent([send('client', data)]);
  }

  protected trackUntagged(text: string): void {
    const m = /^\* OK \[UIDVALIDITY (\d+)\]/i.exec(text);
    if (!m) return;
    let select: InFlight | null = null;
    for (const info of this.inflight.values()) if (info.verb === 'SELECT' || info.verb === 'EXAMINE') select = info;
    if (select) select.uidvalidity = Number(m[1]);
  }

  protected clientTagged(tag: string, text: string, data: Buffer, lit: LiteralSpec | null): void {
    const info = this.inflight.get(tag);
    this.inflight.delete(tag);
    const ok = /^\S+ OK/i.test(text);
    if (info) {
      if (info.verb === 'SELECT' || info.verb === 'EXAMINE') {
        this.verdicts.selectAnswered(ok, info.mailbox ?? '', info.uidvalidity ?? null);
        this.seen.selectAnswered(info.verb, ok, text);
      } else if (info.verb === 'CLOSE' || info.verb === 'UNSELECT') {
        this.verdicts.closeAnswered(ok);
        this.seen.closeAnswered(ok);
      }
      if (info.append?.released && !ok) {
        // The server refused the APPEND before taking the literal: nothing more of it may follow.
        const gate = this.toUpstream.waitingGate();
        if (gate && gate.group === info.append.group) this.toUpstream.drop(info.append.group);
        for (const m of info.append.msgs) this.out.push({ type: 'capture-discard', id: m.id });
      }
    }
    if (this.clientMode !== 'command' && tag === this.modeTag && this.modeGroup) {
      this.toUpstream.close(this.modeGroup);
      this.clientMode = 'command';
      this.modeGroup = null;
    }
    const line = lit ? data : Buffer.from(this.rewriteCaps(text), 'latin1');
    const g = this.toClient.open();
    if (info && (info.verb === 'FETCH' || info.verb === 'UID FETCH')) {
      this.toClient.lazy(g, () => [
        info.failed ? send('client', shieldTagged(tag, 'NO', 'UNAVAILABLE', info.failed)) : send('client', line),
      ]);
    } else this.toClient.push(g, send('client', line));
    if (lit) this.resp = { kind: 'pass', group: g };
    else this.toClient.close(g);
  }
}
