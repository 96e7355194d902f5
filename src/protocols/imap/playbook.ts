// Playbooks for the IMAP session (mitmproxy's habit): a transcript of what the client and the server send, what each
// must receive, and which events the driver feeds back. `Sim` plays the driver without I/O: it keeps captures, runs a
// fake scanner, streams send-capture bytes, and records TLS upgrades and timers. A playbook can be replayed with any
// of its inputs cut at any byte offset; the outputs must not change. Used by the tests only.
import assert from 'node:assert/strict';
import { defaultConfig, type AccountConfig } from '../../core/config.js';
import { DEFAULT_LIMITS, type Limits } from '../../core/limits.js';
import type { Leg, Session, SessionCommand, SessionEvent } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { createImapSession } from './session.js';

export const NOTICE = Buffer.from(
  'Subject: [virus removed]\r\n\r\nThe original was infected and is in quarantine.\r\n',
);

/** The fake scanner: anything containing INFECTED is infected, SCANFAIL fails; everything else is clean. */
export function fakeScan(bytes: Buffer, notice: Buffer = NOTICE): ScanAction {
  if (bytes.includes('INFECTED'))
    return {
      action: 'replace',
      verdict: { kind: 'infected', engine: 'test', signature: 'Test.Virus', part: '1' },
      notice,
      quarantineId: 'q-1',
    };
  if (bytes.includes('SCANFAIL'))
    return { action: 'tempfail', verdict: { kind: 'error', engine: 'test', reason: 'down' }, reason: 'engine down' };
  return { action: 'release', verdict: { kind: 'clean' } };
}

export type Step =
  | { client: string | Buffer }
  | { up: string | Buffer }
  | { event: SessionEvent }
  /** Feed scan-done for every capture that ended and is waiting (when auto scanning is off). */
  | { scan: true }
  | { expectClient: string | Buffer }
  | { expectUp: string | Buffer }
  | { expect: (sim: Sim) => void };

export interface SimOptions {
  clientTls?: AccountConfig['clientTls'];
  upstreamTls?: AccountConfig['upstreamTls'];
  limits?: Partial<Limits>;
  autoScan?: boolean;
  /** The notice the fake scanner replaces infected messages with. */
  notice?: Buffer;
}

export class Sim {
  readonly session: Session;
  readonly sent: Record<Leg, Buffer[]> = { client: [], upstream: [] };
  private seen: Record<Leg, number> = { client: 0, upstream: 0 };
  readonly captures = new Map<number, { data: Buffer[]; ended: boolean; discarded: boolean; result?: ScanAction }>();
  readonly scanned: { id: number; bytes: Buffer; direction: string }[] = [];
  readonly commands: SessionCommand[] = [];
  readonly timers = new Set<string>();
  closed: Leg | 'both' | null = null;
  private waitingScans: number[] = [];
  private directions = new Map<number, string>();
  private readonly autoScan: boolean;
  private readonly notice: Buffer | undefined;

  constructor(opts: SimOptions = {}) {
    const account: AccountConfig = {
      name: 'test',
      protocol: 'imap',
      listen: '127.0.0.1:10143',
      clientTls: opts.clientTls ?? 'implicit',
      upstream: 'mail.test:993',
      upstreamTls: opts.upstreamTls ?? 'implicit',
    };
    this.autoScan = opts.autoScan ?? true;
    this.notice = opts.notice;
    this.session = createImapSession({
      connId: 'c1',
      account,
      config: defaultConfig(),
      limits: { ...DEFAULT_LIMITS, ...opts.limits },
      clientSecure: account.clientTls === 'implicit',
    });
  }

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
          this.sent[c.to].push(...[c.prefix, body, c.suffix].filter((b): b is Buffer => b !== undefined));
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
      cap.result = fakeScan(bytes, this.notice);
      this.scanned.push({ id, bytes, direction: this.directions.get(id) ?? '' });
      evs.push({ type: 'scan-done', id, result: cap.result });
    }
    this.waitingScans = [];
    return evs;
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

const str = (b: string | Buffer): string => (typeof b === 'string' ? b : b.toString('latin1'));
const buf = (b: string | Buffer): Buffer => (typeof b === 'string' ? Buffer.from(b, 'latin1') : b);

/** Runs a playbook. `cut` splits the input of step `cut.step` at byte `cut.at`. */
export function play(steps: Step[], opts: SimOptions = {}, cut?: { step: number; at: number }): Sim {
  const sim = new Sim(opts);
  steps.forEach((s, i) => {
    if ('client' in s || 'up' in s) {
      const from: Leg = 'client' in s ? 'client' : 'upstream';
      const data = buf('client' in s ? s.client : s.up);
      const pieces = cut?.step === i ? [data.subarray(0, cut.at), data.subarray(cut.at)] : [data];
      for (const p of pieces) if (p.length > 0) sim.feed({ type: 'data', from, data: p });
    } else if ('event' in s) sim.feed(s.event);
    else if ('scan' in s) for (const ev of sim.takeScans()) sim.feed(ev);
    else if ('expectClient' in s) assert.equal(sim.take('client'), str(s.expectClient), `step ${i}: to client`);
    else if ('expectUp' in s) assert.equal(sim.take('upstream'), str(s.expectUp), `step ${i}: to upstream`);
    else s.expect(sim);
  });
  return sim;
}

/** Runs the playbook whole, then once for every byte offset of every input step. */
export function playSplit(steps: Step[], opts: SimOptions = {}): void {
  play(steps, opts);
  steps.forEach((s, i) => {
    if (!('client' in s) && !('up' in s)) return;
    const len = buf('client' in s ? s.client : s.up).length;
    for (let at = 1; at < len; at++) {
      try {
        play(steps, opts, { step: i, at });
      } catch (e) {
        throw new Error(`split of step ${i} at byte ${at}: ${e instanceof Error ? e.message : String(e)}`, {
          cause: e,
        });
      }
    }
  });
}
