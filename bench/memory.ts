// Workload 8: peak RSS of the relaying process while one very large message goes through it (POP3 RETR). The shield
// and mitmproxy run in fresh processes here so earlier workloads' heap does not hide or inflate the growth (stunnel's
// buffers are fixed-size, so the shared one is fine).
import { testPki } from '../test/fixtures/pki.js';
import { PASS, shieldAccount, type Env, type Target } from './env.js';
import { pop3Download } from './flows.js';
import { peakDuring, startMitm, startShieldProc, type ShieldProc } from './procs.js';
import { median, type Skip } from './stats.js';
import type { TlsTarget } from './wire.js';

export const MEMORY_TARGETS = ['shield', 'shield-noscan', 'stunnel', 'mitmproxy'] as const;
export type MemoryTarget = (typeof MEMORY_TARGETS)[number] & Target;

export interface MemoryRow {
  /** Peak RSS minus RSS just before the transfer, per run. */
  growth: number[];
  base: number[];
  ms: number[];
  error?: string;
}

export interface MemoryResult {
  bytes: number;
  rows: Map<MemoryTarget, MemoryRow | Skip>;
  /** The same download by a client that reads at `slowBytesPerSec` (shield only): flow control at work. */
  slow: Map<'shield' | 'shield-noscan', MemoryRow>;
  slowBytesPerSec: number;
}

/** Well below the relay's speed (hundreds of MB/s), so without flow control the shield would have to buffer. */
export const SLOW_CLIENT_BYTES_PER_SEC = 20 * 1024 * 1024;

export async function runMemory(env: Env): Promise<MemoryResult> {
  const pki = testPki();
  const acct = [shieldAccount('pop3', 'pop3', env.dovecot.pop3sPort, pki.caCert)];
  const fresh: Record<'shield' | 'shield-noscan', ShieldProc> = {
    shield: await startShieldProc(acct, { scanOff: false }),
    'shield-noscan': await startShieldProc(acct, { scanOff: true }),
  };
  // The slow client gets its own fresh processes too, so the fast runs' heap does not hide its growth.
  const freshSlow: Record<'shield' | 'shield-noscan', ShieldProc> = {
    shield: await startShieldProc(acct, { scanOff: false }),
    'shield-noscan': await startShieldProc(acct, { scanOff: true }),
  };
  const mitm = env.mitm ? await startMitm([{ label: 'pop3', port: env.dovecot.pop3sPort }], pki.caCert) : null;
  const where = (t: MemoryTarget): { pid: number; target: TlsTarget } | Skip => {
    if (t === 'shield' || t === 'shield-noscan') {
      const p = fresh[t];
      return { pid: p.pid, target: { port: p.port('pop3'), servername: 'localhost', ca: p.caPem } };
    }
    const bridge = t === 'stunnel' ? env.stunnel : mitm;
    const tt = env.target(t, 'pop3');
    if (!bridge || 'skip' in tt) return 'skip' in tt ? tt : { skip: 'not available' };
    const ca = bridge === mitm ? mitm.caPem : (tt as TlsTarget).ca;
    return { pid: bridge.pids.pop3!, target: { ...tt, port: bridge.ports.pop3!, ca } };
  };
  const rows = new Map<MemoryTarget, MemoryRow | Skip>();
  const slow = new Map<'shield' | 'shield-noscan', MemoryRow>([
    ['shield', { growth: [], base: [], ms: [] }],
    ['shield-noscan', { growth: [], base: [], ms: [] }],
  ]);
  for (const t of MEMORY_TARGETS) {
    const w = where(t);
    rows.set(t, 'skip' in w ? w : { growth: [], base: [], ms: [] });
  }
  try {
    for (let r = 0; r < env.plan.w8.reps; r++) {
      for (const t of MEMORY_TARGETS) {
        const row = rows.get(t)!;
        const w = where(t);
        if ('skip' in row || 'skip' in w || row.error) continue;
        try {
          const t0 = performance.now();
          const { base, peak, v } = await peakDuring(w.pid, () =>
            pop3Download(w.target, { user: 'w8', pass: PASS }, 1),
          );
          row.ms.push(performance.now() - t0);
          if (Math.abs(v - env.plan.w8.size) > 4096) throw new Error(`moved ${v} bytes`);
          row.growth.push(peak - base);
          row.base.push(base);
        } catch (e) {
          row.error = e instanceof Error ? e.message : String(e);
        }
      }
      for (const [t, row] of slow) {
        if (row.error) continue;
        const p = freshSlow[t];
        const target: TlsTarget = { port: p.port('pop3'), servername: 'localhost', ca: p.caPem };
        try {
          const t0 = performance.now();
          const { base, peak, v } = await peakDuring(p.pid, () =>
            pop3Download(target, { user: 'w8', pass: PASS }, 1, { readBytesPerSec: SLOW_CLIENT_BYTES_PER_SEC }),
          );
          row.ms.push(performance.now() - t0);
          if (Math.abs(v - env.plan.w8.size) > 4096) throw new Error(`moved ${v} bytes`);
          row.growth.push(peak - base);
          row.base.push(base);
        } catch (e) {
          row.error = e instanceof Error ? e.message : String(e);
        }
      }
    }
    return { bytes: env.plan.w8.size, rows, slow, slowBytesPerSec: SLOW_CLIENT_BYTES_PER_SEC };
  } finally {
    await Promise.all([
      fresh.shield.stop(),
      fresh['shield-noscan'].stop(),
      freshSlow.shield.stop(),
      freshSlow['shield-noscan'].stop(),
      mitm?.stop(),
    ]);
  }
}

export const maxOf = (xs: number[]): number => (xs.length ? Math.max(...xs) : NaN);
export { median };
