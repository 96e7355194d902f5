// Workload 6: thousands of IMAP sessions parked in IDLE through a fresh shield process, against the fake IMAP
// upstream. Reports the shield's RSS per session (after a forced GC, against the same process with no sessions)
// and one extra session's NOOP latency while all are open, next to the same NOOP straight to the upstream.
import { readFileSync } from 'node:fs';
import { testPki } from '../test/fixtures/pki.js';
import { shieldAccount, type Env } from './env.js';
import { imapIdle, imapNoops } from './flows.js';
import { W6_TARGET } from './plan.js';
import { procMem, startShieldProc } from './procs.js';
import { median, quantile } from './stats.js';
import type { Wire } from './wire.js';

export interface IdleStep {
  /** Sessions asked for and sessions actually open. */
  wanted: number;
  open: number;
  rampMs: number;
  rssBytes: number;
  heapBytes: number;
  rssPerSession: number;
  heapPerSession: number;
  noopShield: { median: number; p99: number };
  noopDirect: { median: number; p99: number };
  error?: string;
}

export interface IdleResult {
  fdLimit: number;
  maxSessions: number;
  base: { rssBytes: number; heapBytes: number; noopShield: number; noopDirect: number };
  steps: IdleStep[];
}

/** Soft RLIMIT_NOFILE of this process (the shield child inherits it). */
export function fdLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
}

const LOGIN = { user: 'idle', pass: 'idle' };
/** Parallel session set-ups: enough to keep both cores busy without a SYN backlog overflow. */
const PARALLEL = 64;

export async function runIdle(env: Env, log: (s: string) => void): Promise<IdleResult> {
  const pki = testPki();
  const limit = fdLimit();
  // Two sockets per session in the shield, plus the NOOP probe and ~100 for the process itself.
  const maxSessions = Math.floor((limit - 120) / 2) - 1;
  const shield = await startShieldProc([shieldAccount('fake', 'imap', env.fake.port, pki.caCert)], { scanOff: false });
  const viaShield = { port: shield.port('fake'), servername: 'localhost', ca: shield.caPem };
  const direct = env.target('direct', 'fake');
  if ('skip' in direct) throw new Error('no fake upstream');
  const sessions: Wire[] = [];
  const noops = env.plan.w6.noops;
  try {
    await imapNoops(viaShield, LOGIN, 20); // warm-up: leaf minted, code paths compiled
    const m0 = await shield.mem();
    const n0s = await imapNoops(viaShield, LOGIN, noops);
    const n0d = await imapNoops(direct, LOGIN, noops);
    const base = { rssBytes: m0.rss, heapBytes: m0.heapUsed, noopShield: median(n0s), noopDirect: median(n0d) };
    const steps: IdleStep[] = [];
    for (const asked of env.plan.w6.sessions) {
      const wanted = Math.min(asked, maxSessions);
      log(`W6: opening ${wanted} idle IMAP sessions${wanted < asked ? ` (asked ${asked}; fd limit ${limit})` : ''}`);
      const t0 = performance.now();
      let error: string | undefined;
      let next = sessions.length;
      const worker = async () => {
        while (next < wanted && !error) {
          next++;
          try {
            sessions.push(await imapIdle(viaShield, LOGIN));
          } catch (e) {
            error ??= `after ${sessions.length} sessions: ${e instanceof Error ? e.message : String(e)}`;
          }
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      const rampMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 1000));
      const m = await shield.mem();
      const ns = await imapNoops(viaShield, LOGIN, noops);
      const nd = await imapNoops(direct, LOGIN, noops);
      const open = m.connections;
      steps.push({
        wanted,
        open: sessions.length,
        rampMs,
        rssBytes: m.rss,
        heapBytes: m.heapUsed,
        rssPerSession: (m.rss - m0.rss) / Math.max(1, open),
        heapPerSession: (m.heapUsed - m0.heapUsed) / Math.max(1, open),
        noopShield: { median: median(ns), p99: quantile(ns, 0.99) },
        noopDirect: { median: median(nd), p99: quantile(nd, 0.99) },
        ...(error ? { error } : {}),
      });
      log(
        `W6: ${sessions.length} open, shield RSS ${(procMem(shield.pid).rss / 1048576).toFixed(0)} MB, NOOP ${median(ns).toFixed(2)} ms`,
      );
      if (error) break;
    }
    return { fdLimit: limit, maxSessions, base, steps };
  } finally {
    for (const s of sessions) s.close();
    await shield.stop();
  }
}

export { W6_TARGET };
