// POP3 transcripts on the shared playbook harness (src/protocols/playbook.ts): every transcript is replayed whole,
// with every data event cut at the same byte offset (each offset in turn), and fed one byte at a time; all runs
// must produce the same commands, because TCP may split anywhere.
import assert from 'node:assert/strict';
import type { Session, SessionCommand, SessionEvent } from '../../core/session.js';
import { cutsOf, describeCut, normalize, readsOf, type Cut, type Out } from '../playbook.js';

export { fromClient, fromUpstream, normalize, type Out } from '../playbook.js';

export interface Step {
  ev: SessionEvent;
  expect: Out[];
  /**
   * Bytes that stay in one read with the byte before them, whatever the split. Only a pipelined ClientHello needs
   * this: "bytes in the same read as STLS" is its definition, so cutting them off makes a different transcript.
   */
  sameRead?: Buffer;
}

/** Runs the transcript once; returns every raw command for extra checks. */
export function replay(make: () => Session, steps: Step[], cut: Cut = { kind: 'whole' }): SessionCommand[] {
  const session = make();
  const all: SessionCommand[] = [];
  steps.forEach((step, i) => {
    const got: SessionCommand[] = [];
    const ev = step.ev;
    if (ev.type === 'data') {
      for (const p of readsOf(ev.data, i, cut, step.sameRead)) got.push(...session.handle({ ...ev, data: p }));
    } else {
      got.push(...session.handle(ev));
    }
    all.push(...got);
    assert.deepEqual(
      normalize(got),
      step.expect,
      `step ${i + 1} (${ev.type}${ev.type === 'data' ? ' from ' + ev.from : ''}), ${describeCut(cut)}`,
    );
  });
  return all;
}

/** Replays whole, at every offset of every data event, and byte by byte. Returns the commands of the whole run. */
export function playAllSplits(make: () => Session, steps: Step[]): SessionCommand[] {
  const all = replay(make, steps);
  const lengths = steps.map((s) => (s.ev.type === 'data' ? s.ev.data.length : null));
  for (const cut of cutsOf(lengths, 'together')) replay(make, steps, cut);
  return all;
}
