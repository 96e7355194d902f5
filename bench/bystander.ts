// Workload 9 (issue 15): bystander latency. 50 IMAP sessions send NOOP every 100 ms through the scanning shield
// (fake IMAP upstream, which answers at once, so the latency is the shield's) while other clients download the 25 MB
// message through the same shield process from Dovecot. A scan that holds the event loop shows up here as every
// other session's wait. Also reports the shield's own event-loop delay (perf_hooks.monitorEventLoopDelay).
import { PASS, type Env } from './env.js';
import { imapFetch, imapLogin, imapLogout } from './flows.js';
import { median, quantile } from './stats.js';
import type { Wire } from './wire.js';

export interface BystanderResult {
  sessions: number;
  downloaders: number;
  downloads: number;
  downloadBytes: number;
  noops: number;
  noop: { p50: number; p99: number; max: number };
  /** The shield's event-loop delay during the downloads, ms. */
  eld: { p50: number; p99: number; max: number };
  /** The same NOOP sessions with no download running, for scale. */
  idleNoop: { p50: number; p99: number };
}

const SESSIONS = 50;
const INTERVAL_MS = 100;

async function noopLoop(w: Wire, out: number[], running: () => boolean, tag: string): Promise<void> {
  for (let i = 0; running() && i < 100_000; i++) {
    const t0 = performance.now();
    w.write(`${tag}${i} NOOP\r\n`);
    await w.imap(`${tag}${i}`);
    const dt = performance.now() - t0;
    out.push(dt);
    await new Promise((r) => setTimeout(r, Math.max(0, INTERVAL_MS - dt)));
  }
}

async function noopsDuring(sessions: Wire[], work: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  let on = true;
  const loops = sessions.map((w, i) => noopLoop(w, out, () => on, `s${i}n`));
  try {
    await work();
  } finally {
    on = false;
    await Promise.all(loops);
  }
  return out;
}

export async function runBystander(env: Env, downloaders: number, rounds: number): Promise<BystanderResult> {
  const fake = env.target('shield', 'fake');
  const imap = env.target('shield', 'imap');
  if ('skip' in fake || 'skip' in imap) throw new Error('no shield target');
  const login = { user: 'w2', pass: PASS };
  const sessions: Wire[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) sessions.push(await imapLogin(fake, { user: `b${i}`, pass: 'x' }));
    await imapFetch(imap, login, '1', 'BODY.PEEK[]'); // warm-up: worker started, code compiled
    const idle = await noopsDuring(sessions, () => new Promise((r) => setTimeout(r, 1000)));
    let downloads = 0;
    let bytes = 0;
    env.shield.eldReset();
    const noops = await noopsDuring(sessions, async () => {
      await Promise.all(
        Array.from({ length: downloaders }, async () => {
          for (let r = 0; r < rounds; r++) {
            // Read after the await: `bytes += await …` would add to a stale total when two downloaders interleave.
            const n = await imapFetch(imap, login, '1', 'BODY.PEEK[]');
            bytes += n;
            downloads++;
          }
        }),
      );
    });
    const eld = await env.shield.eld();
    return {
      sessions: SESSIONS,
      downloaders,
      downloads,
      downloadBytes: bytes,
      noops: noops.length,
      noop: { p50: median(noops), p99: quantile(noops, 0.99), max: Math.max(...noops) },
      eld: { p50: eld.p50, p99: eld.p99, max: eld.max },
      idleNoop: { p50: median(idle), p99: quantile(idle, 0.99) },
    };
  } finally {
    await Promise.allSettled(sessions.map((w) => imapLogout(w)));
  }
}
