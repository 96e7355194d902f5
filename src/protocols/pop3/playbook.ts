// Playbook tests for sans-I/O sessions (mitmproxy's habit): a transcript of events and the commands each must
// produce, read top to bottom. Every transcript is replayed whole, with each data event cut at every byte offset,
// and fed one byte at a time; all runs must produce the same commands, because TCP may split anywhere.
import assert from 'node:assert/strict';
import type { Leg, Session, SessionCommand, SessionEvent } from '../../core/session.js';
import { SETUP_TIMER } from '../../core/upstream-setup.js';

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

export interface Step {
  ev: SessionEvent;
  expect: Out[];
  /**
   * Bytes that stay in one read with the byte before them, whatever the split. Only a pipelined ClientHello needs
   * this: "bytes in the same read as STLS" is its definition, so cutting them off makes a different transcript.
   */
  sameRead?: Buffer;
}

export const fromClient = (s: string | Buffer): SessionEvent => ({
  type: 'data',
  from: 'client',
  data: typeof s === 'string' ? Buffer.from(s, 'latin1') : s,
});
export const fromUpstream = (s: string | Buffer): SessionEvent => ({
  type: 'data',
  from: 'upstream',
  data: typeof s === 'string' ? Buffer.from(s, 'latin1') : s,
});

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

type Split = { kind: 'whole' } | { kind: 'at'; offset: number } | { kind: 'bytes' };

function pieces(data: Buffer, sameRead: Buffer | undefined, split: Split): Buffer[] {
  let parts: Buffer[];
  if (split.kind === 'whole' || data.length < 2) parts = [data];
  else if (split.kind === 'at')
    parts = split.offset < data.length ? [data.subarray(0, split.offset), data.subarray(split.offset)] : [data];
  else parts = [...data].map((b) => Buffer.from([b]));
  if (sameRead) parts[parts.length - 1] = Buffer.concat([parts[parts.length - 1]!, sameRead]);
  return parts;
}

function describe(split: Split): string {
  return split.kind === 'at' ? `split at offset ${split.offset}` : split.kind === 'whole' ? 'whole' : 'byte by byte';
}

/** Runs the transcript once; returns every raw command for extra checks. */
export function replay(make: () => Session, steps: Step[], split: Split = { kind: 'whole' }): SessionCommand[] {
  const session = make();
  const all: SessionCommand[] = [];
  steps.forEach((step, i) => {
    const got: SessionCommand[] = [];
    const ev = step.ev;
    if (ev.type === 'data') {
      for (const p of pieces(ev.data, step.sameRead, split)) got.push(...session.handle({ ...ev, data: p }));
    } else {
      got.push(...session.handle(ev));
    }
    all.push(...got);
    assert.deepEqual(
      normalize(got),
      step.expect,
      `step ${i + 1} (${ev.type}${ev.type === 'data' ? ' from ' + ev.from : ''}), ${describe(split)}`,
    );
  });
  return all;
}

/** Replays whole, at every offset of every data event, and byte by byte. Returns the commands of the whole run. */
export function playAllSplits(make: () => Session, steps: Step[]): SessionCommand[] {
  const all = replay(make, steps);
  const longest = Math.max(0, ...steps.map((s) => (s.ev.type === 'data' ? s.ev.data.length : 0)));
  for (let k = 1; k < longest; k++) replay(make, steps, { kind: 'at', offset: k });
  replay(make, steps, { kind: 'bytes' });
  return all;
}
