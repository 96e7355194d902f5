// POP3 upstream: the set-up before the client is greeted (upstream-setup.ts has the steps), CAPA rewriting, and the
// server's answers matched to the client's commands in order; RETR bodies go into captures for the scan.
import { ShieldError } from '../../core/errors.js';
import { log, send } from '../../core/session.js';
import type { SetupOutcome } from '../../core/upstream-setup.js';
import { DotDecoder, LINE_TOO_LONG, statusOf, type Line } from './framer.js';
import { rewriteListStatus } from './list-view.js';
import * as R from './replies.js';
import { Entry, capaKeyword } from './session-core.js';
import { Pop3SessionCore } from './session-core.js';

export abstract class Pop3UpstreamReplies extends Pop3SessionCore {
  // ---- upstream side ---------------------------------------------------------------------------------------------

  onUpstreamData(data: Buffer): void {
    if (this.phase === 'setup' && this.setup.awaitingTls) {
      this.setup.injected(data.length, this.out);
      return;
    }
    if (this.phase === 'init') {
      this.upIn.push(data);
      return;
    }
    let rest: Buffer = data;
    while (this.phase !== 'closed') {
      if (this.upBody) {
        if (rest.length === 0) return;
        rest = this.bodyData(rest);
        continue;
      }
      this.upIn.push(rest);
      rest = Buffer.alloc(0);
      const line = this.upIn.next();
      if (line === null) return;
      if (line === LINE_TOO_LONG) {
        this.upstreamProtocolError(`a response line longer than ${this.opts.limits.maxLineBytes} bytes`);
        return;
      }
      if (this.phase === 'setup') {
        this.afterSetup(this.setup.unit(line, this.out), line);
        if (this.setup.awaitingTls) return;
        continue;
      }
      this.upstreamLine(line);
      if (this.upBody) rest = this.upIn.drain();
    }
  }

  protected upstreamProtocolError(what: string): void {
    const e = new ShieldError('MS_ERR_UPSTREAM_PROTOCOL', `the mail server sent ${what}`);
    if (this.phase !== 'ready') {
      this.failUpstream(e);
      return;
    }
    this.out.push(log('error', 'upstream protocol error', { code: e.code }));
    for (const entry of this.awaiting) this.failEntry(entry, R.upstreamLost(e));
    this.awaiting.length = 0;
    this.upBody = false;
    if (this.outQueue.length === 0) this.out.push(send('client', R.upstreamLost(e)));
    this.closing = true;
  }

  /** Acts on what the upstream setup decided; `line` is the server line it answers, if any. */
  protected afterSetup(o: SetupOutcome, line: Line | null): void {
    switch (o.kind) {
      case 'pending':
        return;
      case 'refused':
        // The server turned us away (or is not POP3): show the client its words and stop.
        if (line) this.out.push(send('client', line.bytes));
        this.closing = true;
        this.phase = 'ready';
        return;
      case 'fail':
        this.failUpstream(o.error);
        return;
      case 'done':
        this.phase = 'ready';
        this.out.push(send('client', o.greeting));
        return;
    }
  }

  protected upstreamLine(line: Line): void {
    if (this.phase === 'ready') this.responseLine(line, statusOf(line.text));
  }

  protected responseLine(line: Line, st: ReturnType<typeof statusOf>): void {
    const e = this.awaiting[0];
    if (!e) {
      // Unsolicited (e.g. "-ERR autologout" before the server hangs up): the client should read it, in order.
      this.outQueue.push({ kind: 'local', verb: '', out: [send('client', line.bytes)], done: true });
      return;
    }
    if (e.capa) {
      this.capaLine(e, line);
      return;
    }
    if (st === null || (st === 'continue' && e.kind !== 'auth')) {
      this.upstreamProtocolError(`a line that is neither +OK nor -ERR in answer to ${e.verb}`);
      return;
    }
    if (st === 'err' || (st === 'ok' && (e.kind === 'single' || e.kind === 'auth'))) {
      const shown = st === 'ok' && e.verb === 'LIST' ? rewriteListStatus(line.bytes, this.listSizes) : line.bytes;
      e.out.push(send('client', shown));
      this.unpend(e);
      this.finishAwaited(e);
      if (e.kind === 'auth') this.authActive = false;
      return;
    }
    if (st === 'continue') {
      e.started = true;
      e.out.push(send('client', line.bytes));
      return;
    }
    switch (e.kind) {
      case 'multi':
        e.started = true;
        e.out.push(send('client', line.bytes));
        e.decoder = new DotDecoder();
        this.upBody = true;
        return;
      case 'capa':
        e.status = line.bytes;
        e.capa = { lines: [], bytes: 0 };
        return;
      case 'retr': {
        e.status = line.bytes;
        e.decoder = new DotDecoder();
        const id = this.nextCapture++;
        e.capture = id;
        this.byCapture.set(id, e);
        this.liveCaptures.add(id);
        this.out.push({ type: 'capture-start', id, direction: 'incoming' });
        this.upBody = true;
        return;
      }
      default:
        return;
    }
  }

  protected finishAwaited(e: Entry): void {
    this.awaiting.shift();
    e.done = true;
  }

  /** CAPA is small, so it is collected and rewritten whole (bounded by one line limit in total). */
  protected capaLine(e: Entry, line: Line): void {
    const capa = e.capa!;
    if (line.text !== '.') {
      capa.bytes += line.bytes.length;
      if (capa.bytes > this.opts.limits.maxLineBytes) {
        this.upstreamProtocolError('a CAPA answer larger than limits.maxLineBytes');
        return;
      }
      capa.lines.push(line.text);
      return;
    }
    const offerStls = this.opts.account.clientTls === 'starttls' && !this.clientSecure;
    const kept = capa.lines.filter((l) => {
      const k = capaKeyword(l);
      if (k === 'STLS') return false;
      // Until the client's TLS is up it must not be tempted to send a password.
      if (offerStls && (k === 'USER' || k === 'SASL')) return false;
      return true;
    });
    if (offerStls) kept.push('STLS');
    const body = kept.map((l) => (l.startsWith('.') ? '.' + l : l) + '\r\n').join('') + '.\r\n';
    e.out.push(send('client', Buffer.concat([e.status!, Buffer.from(body, 'latin1')])));
    this.finishAwaited(e);
  }

  /** Feeds body bytes to the entry being read; returns what follows the body. */
  protected bodyData(data: Buffer): Buffer {
    const e = this.awaiting[0]!;
    const r = e.decoder!.push(data);
    if (e.kind === 'retr') {
      // One capture-data per read: a message full of dot lines would otherwise become one spool write per line.
      if (e.capture !== undefined && !e.captureFailed && r.out.length > 0)
        this.out.push({
          type: 'capture-data',
          id: e.capture,
          data: r.out.length === 1 ? r.out[0]! : Buffer.concat(r.out),
        });
    } else if (r.used > 0) {
      const body = data.subarray(0, r.used);
      e.out.push(send('client', e.list ? e.list.push(body) : body));
    }
    if (!r.done) return Buffer.alloc(0);
    this.upBody = false;
    this.awaiting.shift();
    if (e.kind === 'retr') {
      if (e.captureFailed) this.resolveCaptureFailed(e, e.captureFailed);
      else this.out.push({ type: 'capture-end', id: e.capture! });
    } else {
      e.done = true;
    }
    return data.subarray(r.used);
  }
}
