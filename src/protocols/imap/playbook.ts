// IMAP transcripts on the shared playbook harness (src/protocols/playbook.ts): what the client and the server send,
// what each must receive, and which events the driver feeds back. `Sim` is the harness's driver without I/O around
// an IMAP session and the fake scanner. A playbook can be replayed with any of its inputs cut at any byte offset;
// the outputs must not change. Used by the tests only.
import assert from 'node:assert/strict';
import { defaultConfig, type AccountConfig } from '../../core/config.js';
import { DEFAULT_LIMITS, type Limits } from '../../core/limits.js';
import type { Leg, SessionEvent } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { cutsOf, readsOf, Sim as DriverSim, type Cut } from '../playbook.js';
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

/** The driver without I/O (src/protocols/playbook.ts) around an IMAP session, with the fake scanner. */
export class Sim extends DriverSim {
  constructor(opts: SimOptions = {}) {
    const account: AccountConfig = {
      name: 'test',
      protocol: 'imap',
      listen: '127.0.0.1:10143',
      clientTls: opts.clientTls ?? 'implicit',
      upstream: 'mail.test:993',
      upstreamTls: opts.upstreamTls ?? 'implicit',
    };
    const session = createImapSession({
      connId: 'c1',
      account,
      config: defaultConfig(),
      limits: { ...DEFAULT_LIMITS, ...opts.limits },
      clientSecure: account.clientTls === 'implicit',
    });
    super(session, (bytes) => fakeScan(bytes, opts.notice), opts.autoScan ?? true);
  }
}

const str = (b: string | Buffer): string => (typeof b === 'string' ? b : b.toString('latin1'));
const buf = (b: string | Buffer): Buffer => (typeof b === 'string' ? Buffer.from(b, 'latin1') : b);

/** Runs a playbook. `cut` splits the input of step `cut.step` at byte `cut.at`. */
export function play(steps: Step[], opts: SimOptions = {}, cut?: { step: number; at: number }): Sim {
  const sim = new Sim(opts);
  const how: Cut = cut ? { kind: 'step', ...cut } : { kind: 'whole' };
  steps.forEach((s, i) => {
    if ('client' in s || 'up' in s) {
      const from: Leg = 'client' in s ? 'client' : 'upstream';
      const data = buf('client' in s ? s.client : s.up);
      for (const p of readsOf(data, i, how)) if (p.length > 0) sim.feed({ type: 'data', from, data: p });
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
  const lengths = steps.map((s) => ('client' in s ? buf(s.client).length : 'up' in s ? buf(s.up).length : null));
  for (const cut of cutsOf(lengths, 'each-step')) {
    if (cut.kind !== 'step') continue;
    try {
      play(steps, opts, cut);
    } catch (e) {
      throw new Error(`split of step ${cut.step} at byte ${cut.at}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
  }
}
