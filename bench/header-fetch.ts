// Workload 9: what scan-ahead costs. A Thunderbird-style first sync fetches the header fields of every message in
// one command (`UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (...)]`). Through mailshield each message up to
// limits.scanAheadMaxBytes is then fetched whole and scanned before its header goes out, so the list already shows
// the notice of a replaced message. Rows: direct, the shield with scan-ahead (default limit), and the same shield
// with scan-ahead off (limits.scanAheadMaxBytes: 0; headers relayed, no consistency for replaced messages). The
// scanning-off shield (scanner override releasing everything) tells the whole-message fetch from the scan itself.
import { shieldAccount, PASS, type Env } from './env.js';
import { imapFetch } from './flows.js';
import { startShieldProc } from './procs.js';
import { alternate, type Samples } from './stats.js';
import type { TlsTarget } from './wire.js';
import { testPki } from '../test/fixtures/pki.js';

export const HEADER_ROWS = [
  'direct',
  'shield, scan-ahead on (default)',
  'shield, scan-ahead on, scanning off',
  'shield, scan-ahead off',
] as const;
export type HeaderRow = (typeof HEADER_ROWS)[number];

export interface HeaderFetchResult {
  messages: number;
  messageSize: number;
  rows: Map<HeaderRow, Samples>;
}

const ITEMS = 'UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID CONTENT-TYPE)]';

export async function runHeaderFetch(env: Env): Promise<HeaderFetchResult> {
  const n = env.plan.w1.messages;
  const off = await startShieldProc([shieldAccount('imap', 'imap', env.dovecot.imapsPort, testPki().caCert)], {
    scanOff: false,
    extra: { limits: { scanAheadMaxBytes: 0 } },
  });
  try {
    const targets: Record<HeaderRow, TlsTarget> = {
      direct: env.target('direct', 'imap') as TlsTarget,
      'shield, scan-ahead on (default)': env.target('shield', 'imap') as TlsTarget,
      'shield, scan-ahead on, scanning off': env.target('shield-noscan', 'imap') as TlsTarget,
      'shield, scan-ahead off': { port: off.port('imap'), servername: 'localhost', ca: off.caPem },
    };
    let want = -1;
    const rows = await alternate(HEADER_ROWS, env.plan.reps, async (r) => {
      const t0 = performance.now();
      const got = await imapFetch(targets[r], { user: 'w1', pass: PASS }, `1:${n}`, ITEMS);
      const ms = performance.now() - t0;
      // Clean messages: every path must hand over the same header bytes.
      if (want < 0) want = got;
      else if (got !== want) throw new Error(`${r}: ${got} header bytes, direct had ${want}`);
      return ms;
    });
    return { messages: n, messageSize: env.plan.w1.size, rows };
  } finally {
    await off.stop();
  }
}
