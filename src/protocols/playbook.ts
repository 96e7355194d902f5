// The playbook harness for the transcript tests of all three protocols (mitmproxy's habit): a transcript of events
// and what each must produce, read top to bottom, replayed whole and then with its data events cut, because TCP may
// split anywhere and the outputs must not change. This file holds the mechanism: how a transcript is cut, the
// normal forms commands are compared in, and `Sim`, a driver without I/O for transcripts that need captures scanned
// and streamed. Each protocol's playbook.ts adds only its session set-up and fixtures. Used by tests only.
import assert from 'node:assert/strict';
import type { Leg, Session, SessionCommand, SessionEvent } from '../core/session.js';
import type { ScanAction } from '../core/scan-contract.js';
import { DotStuffer } from '../core/dot-stuffing.js';
import { SETUP_TIMER } from '../core/upstream-setup.js';

// ---------------------------------------------------------------------------------------------------------------
// Cuts

/**
 * How a replay feeds its data events. `step`: event `step` in two reads at byte `at`, the others whole (every
 * offset of every event, one at a time). `every-event`: every data event in two reads at the same offset.
 * `bytes`: every data event one byte per read.
 */
export type Cut =
  | { kind: 'whole' }
  | { kind: 'step'; step: number; at: number }
  | { kind: 'every-event'; at: number }
  | { kind: 'bytes' };

/** The reads one data event arrives in. `sameRead`: bytes that always stay in the last read (a pipelined hello). */
export function readsOf(data: Buffer, step: number, cut: Cut, sameRead?: Buffer): Buffer[] {
  let parts: Buffer[];
  if (cut.kind === 'step') parts = cut.step === step ? [data.subarray(0, cut.at), data.subarray(cut.at)] : [data];
  else if (cut.kind === 'every-event')
    parts = data.length >= 2 && cut.at < data.length ? [data.subarray(0, cut.at), data.subarray(cut.at)] : [data];
  else if (cut.kind === 'bytes' && data.length >= 2) parts = [...data].map((b) => Buffer.from([b]));
  else parts = [data];
  if (sameRead) parts[parts.length - 1] = Buffer.concat([parts[parts.length - 1]!, sameRead]);
  return parts;
}

/**
 * The cuts after the whole run. `each-step`: every offset of each data event in turn (lengths[i] null for a step
 * that is not data or must not be cut). `together`: every offset up to the longest event, then byte by byte.
 */
export function cutsOf(lengths: readonly (number | null)[], plan: 'each-step' | 'together'): Cut[] {
  if (plan === 'together') {
    const longest = Math.max(0, ...lengths.map((l) => l ?? 0));
    const at = Array.from({ length: Math.max(0, longest - 1) }, (_, k): Cut => ({ kind: 'every-event', at: k + 1 }));
    return [...at, { kind: 'bytes' }];
  }
  return lengths.flatMap((len, step) =>
    Array.from({ length: Math.max(0, (len ?? 0) - 1) }, (_, k): Cut => ({ kind: 'step', step, at: k + 1 })),
  );
}

export function describeCut(cut: Cut): string {
  if (cut.kind === 'whole') return 'whole';
  if (cut.kind === 'bytes') return 'byte by byte';
  return cut.kind === 'every-event' ? `split at offset ${cut.at}` : `step ${cut.step} split at ${cut.at}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Events and normal forms

const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
export const fromClient = (s: string | Buffer): SessionEvent => ({ type: 'data', from: 'client', data: bytes(s) });
export const fromUpstream = (s: string | Buffer): SessionEvent => ({ type: 'data', from: 'upstream', data: bytes(s) });

/** A command in a readable, comparable form. Buffers become latin1 strings; debug logs are left out. */
export type Out =
  | ['send', Leg, string]
  | ['start-tls', Leg]
  | ['start-tls', Leg, string]
  | ['capture-start', number]
  | ['capture-data', number, string]
  | ['capture-end', number]
  | ['send-capture', number, Leg, string]
  | ['capture-discard', number]
  | ['close', Leg | 'both']
  | ['log', string, string]
  | ['set-timer', string]
  | ['clear-timer', string];

/** Normal form: debug logs dropped, fields dropped, adjacent sends to one leg and adjacent capture data merged. */
export function normalize(cmds: SessionCommand[]): Out[] {
  const res: Out[] = [];
  for (const c of cmds) {
    const last = res[res.length - 1];
    switch (c.type) {
      case 'send': {
        const s = c.data.toString('latin1');
        if (last && last[0] === 'send' && last[1] === c.to) last[2] += s;
        else res.push(['send', c.to, s]);
        break;
      }
      case 'capture-data': {
        const s = c.data.toString('latin1');
        if (last && last[0] === 'capture-data' && last[1] === c.id) last[2] += s;
        else res.push(['capture-data', c.id, s]);
        break;
      }
      case 'start-tls':
        res.push(c.pending ? ['start-tls', c.leg, c.pending.toString('latin1')] : ['start-tls', c.leg]);
        break;
      case 'capture-start':
      case 'capture-end':
      case 'capture-discard':
        res.push([c.type, c.id]);
        break;
      case 'send-capture':
        res.push(['send-capture', c.id, c.to, c.framing]);
        break;
      case 'close':
        res.push(['close', c.leg]);
        break;
      case 'log':
        if (c.level !== 'debug') res.push(['log', c.level, c.msg]);
        break;
      case 'set-timer':
      case 'clear-timer':
        // The upstream-setup timer runs in every transcript; its own playbooks (setup-guards.test.ts) assert it.
        if (c.name !== SETUP_TIMER) res.push([c.type, c.name]);
        break;
    }
  }
  return res;
}

const show = (b: Buffer) => b.toString('latin1');

/**
 * The same commands as transcript lines ("C: …" to the client, "U: …" upstream, "D#1: …" capture data), with logs
 * only by error code. Bytes streamed into a capture that is then dropped unfinished are left out: how many were
 * streamed before the problem showed depends on where TCP split the input.
 */
export function lines(cmds: SessionCommand[]): string[] {
  const out: string[] = [];
  const push = (key: string, text: string) => {
    const last = out.length - 1;
    if (last >= 0 && out[last]!.startsWith(key)) out[last] += text;
    else out.push(key + text);
  };
  for (const c of cmds) {
    switch (c.type) {
      case 'send':
        push(c.to === 'client' ? 'C: ' : 'U: ', show(c.data));
        break;
      case 'capture-data':
        push(`D#${c.id}: `, show(c.data));
        break;
      case 'log':
        if (c.level !== 'debug' && c.fields?.['code']) out.push(`log ${String(c.fields['code'])}`);
        break;
      case 'start-tls':
        out.push(`start-tls ${c.leg}${c.pending ? ` pending=${show(c.pending)}` : ''}`);
        break;
      case 'capture-start':
        out.push(`capture-start#${c.id} ${c.direction}`);
        break;
      case 'capture-end':
        out.push(`capture-end#${c.id}`);
        break;
      case 'capture-discard':
        out.push(`discard#${c.id}`);
        break;
      case 'send-capture':
        out.push(
          `send-capture#${c.id} ${c.to} ${c.framing}` +
            (c.prefix ? ` prefix=${show(c.prefix)}` : '') +
            (c.suffix ? ` suffix=${show(c.suffix)}` : ''),
        );
        break;
      case 'close':
        out.push(`close ${c.leg}`);
        break;
      case 'set-timer':
      case 'clear-timer':
        // The upstream-setup timer runs in every transcript; setup-guards.test.ts asserts it.
        if (c.name !== SETUP_TIMER) out.push(c.type);
        break;
      default:
        out.push((c as SessionCommand).type);
    }
  }
  const dropped = out.filter((l) => l.startsWith('discard#')).map((l) => l.slice('discard#'.length));
  return out.filter((l) => {
    const m = /^D#(\d+): /.exec(l);
    return !(m && dropped.includes(m[1]!) && !out.includes(`capture-end#${m[1]}`));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Sim: the driver without I/O

/** What Sim's scanner says about a finished capture. */
export type FakeScanner = (bytes: Buffer) => ScanAction;

/**
 * Plays the driver for one session: keeps captures, runs a fake scanner when a capture ends (unless auto scanning
 * is off), streams send-capture bytes, and records TLS upgrades, timers and closes.
 */
export class Sim {
  readonly sent: Record<Leg, Buffer[]> = { client: [], upstream: [] };
  private seen: Record<Leg, number> = { client: 0, upstream: 0 };
  readonly captures = new Map<number, { data: Buffer[]; ended: boolean; discarded: boolean; result?: ScanAction }>();
  readonly scanned: { id: number; bytes: Buffer; direction: string }[] = [];
  readonly commands: SessionCommand[] = [];
  readonly timers = new Set<string>();
  closed: Leg | 'both' | null = null;
  private waitingScans: number[] = [];
  private directions = new Map<number, string>();

  constructor(
    readonly session: Session,
    private readonly scanner: FakeScanner,
    private readonly autoScan = true,
  ) {}

  feed(ev: SessionEvent): void {
    const cmds = this.session.handle(ev);
    const later: SessionEvent[] = [];
    for (const c of cmds) {
      this.commands.push(c);
      switch (c.type) {
        case 'send':
          this.sent[c.to].push(c.data);
          break;
        case 'capture-start':
          assert.ok(!this.captures.has(c.id), `capture ${c.id} started twice`);
          this.captures.set(c.id, { data: [], ended: false, discarded: false });
          this.directions.set(c.id, c.direction);
          break;
        case 'capture-data': {
          const cap = this.captures.get(c.id);
          assert.ok(cap && !cap.ended, `capture-data for capture ${c.id} that is not open`);
          cap.data.push(c.data);
          break;
        }
        case 'capture-end': {
          const cap = this.captures.get(c.id);
          assert.ok(cap && !cap.ended, `capture-end for capture ${c.id} that is not open`);
          cap.ended = true;
          this.waitingScans.push(c.id);
          if (this.autoScan) later.push(...this.takeScans());
          break;
        }
        case 'send-capture': {
          const cap = this.captures.get(c.id);
          assert.ok(cap?.ended && !cap.discarded, `send-capture of capture ${c.id} that is not complete`);
          const body =
            cap.result?.action === 'release' && cap.result.bytes ? cap.result.bytes : Buffer.concat(cap.data);
          // Framed as the driver frames it (connection-captures.ts): prefix and body stuffed, then the terminator.
          const stuffer = c.framing === 'raw' ? null : new DotStuffer();
          const framed = stuffer
            ? [stuffer.push(c.prefix ?? Buffer.alloc(0)), stuffer.push(body), stuffer.end()]
            : [c.prefix, body];
          this.sent[c.to].push(...[...framed, c.suffix].filter((b): b is Buffer => b !== undefined));
          break;
        }
        case 'capture-discard': {
          const cap = this.captures.get(c.id);
          if (cap) cap.discarded = true;
          break;
        }
        case 'set-timer':
          this.timers.add(c.name);
          break;
        case 'clear-timer':
          this.timers.delete(c.name);
          break;
        case 'close':
          this.closed = c.leg;
          break;
        default:
          break;
      }
    }
    for (const ev2 of later) this.feed(ev2);
  }

  takeScans(): SessionEvent[] {
    const evs: SessionEvent[] = [];
    for (const id of this.waitingScans) {
      const cap = this.captures.get(id)!;
      const bytes = Buffer.concat(cap.data);
      cap.result = this.scanner(bytes);
      this.scanned.push({ id, bytes, direction: this.directions.get(id) ?? '' });
      evs.push({ type: 'scan-done', id, result: cap.result });
    }
    this.waitingScans = [];
    return evs;
  }

  /**
   * Feeds the verdict of one waiting capture and leaves the others waiting, so a transcript can finish scans in any
   * order (the driver runs them in parallel, and the shortest one wins).
   */
  finishScan(id: number): void {
    const at = this.waitingScans.indexOf(id);
    assert.ok(at >= 0, `capture ${id} is not waiting for its scan`);
    const rest = this.waitingScans.filter((w) => w !== id);
    this.waitingScans = [id];
    const [ev] = this.takeScans();
    this.waitingScans = rest;
    this.feed(ev!);
  }

  /** Captures whose scan has not been fed back yet (manual scanning). */
  get scansWaiting(): readonly number[] {
    return this.waitingScans;
  }

  /** Everything sent to a leg since the last call. */
  take(leg: Leg): string {
    const all = Buffer.concat(this.sent[leg]).toString('latin1');
    const fresh = all.slice(this.seen[leg]);
    this.seen[leg] = all.length;
    return fresh;
  }

  logs(): string[] {
    return this.commands.flatMap((c) => (c.type === 'log' ? [`${c.msg} ${JSON.stringify(c.fields ?? {})}`] : []));
  }
}
