// Workload 5: time from TCP connect to the greeting line, through TLS. Warm: the name's leaf is already minted.
// Cold: a new SNI name per connection (x.bench.test, inside the shield CA's extraNames), so every sample mints a leaf,
// which is what the first connection after start does. mitmproxy mints per SNI too and gets the same cold run.
import type { Env, Proto } from './env.js';
import { procCpuMs } from './procs.js';
import { quantile, median, type Skip } from './stats.js';
import { timeToGreeting, type TlsTarget } from './wire.js';

export const SETUP_ROWS = [
  'direct',
  'shield (warm)',
  'shield + policy.candidate (warm)',
  'shield (cold: new leaf)',
  'shield + policy.candidate (cold: new leaf)',
  'stunnel',
  'mitmproxy (warm)',
  'mitmproxy (cold: new leaf)',
] as const;
export type SetupRow = (typeof SETUP_ROWS)[number];

export interface SetupResult {
  proto: Proto;
  title: string;
  rows: Map<SetupRow, { ms: number[]; error?: string } | Skip>;
  /**
   * Shield CPU (user + system) per connection over the whole workload, both shields having served the same
   * connections: far less sensitive than wall time to what else the machine runs.
   */
  cpuMsPerConnection: { shield: number; candidate: number };
}

let nameSeq = 0;

function targetFor(env: Env, row: SetupRow, proto: Proto): TlsTarget | Skip {
  const fresh = () => `c${++nameSeq}-${process.pid}.bench.test`;
  switch (row) {
    case 'direct':
      return env.target('direct', proto);
    case 'shield (warm)':
      return env.target('shield', proto);
    case 'shield + policy.candidate (warm)':
      // The same config as `shield` plus a candidate, so the difference between the two rows is the shadow judgement.
      return { port: env.candidate.port(proto), servername: 'localhost', ca: env.candidate.caPem };
    case 'shield (cold: new leaf)': {
      const t = env.target('shield', proto);
      return 'skip' in t ? t : { ...t, servername: fresh() };
    }
    case 'shield + policy.candidate (cold: new leaf)':
      return { port: env.candidate.port(proto), servername: fresh(), ca: env.candidate.caPem };
    case 'stunnel':
      return env.target('stunnel', proto);
    case 'mitmproxy (warm)':
      return env.target('mitmproxy', proto);
    case 'mitmproxy (cold: new leaf)': {
      const t = env.target('mitmproxy', proto);
      return 'skip' in t ? t : { ...t, servername: fresh() };
    }
  }
}

/**
 * The rows in the order of round `i`. The plain and the candidate shield swap places every other round: a sample
 * right after another shield's sample pays for that connection's teardown (and Dovecot's exiting session process),
 * which otherwise showed up as a steady +2-15 ms on whichever row came second.
 */
function roundOrder(i: number): SetupRow[] {
  if (i % 2 === 0) return [...SETUP_ROWS];
  const swap: Partial<Record<SetupRow, SetupRow>> = {
    'shield (warm)': 'shield + policy.candidate (warm)',
    'shield + policy.candidate (warm)': 'shield (warm)',
    'shield (cold: new leaf)': 'shield + policy.candidate (cold: new leaf)',
    'shield + policy.candidate (cold: new leaf)': 'shield (cold: new leaf)',
  };
  return SETUP_ROWS.map((r) => swap[r] ?? r);
}

export async function runSetup(env: Env, proto: Proto, title: string): Promise<SetupResult> {
  const rows = new Map<SetupRow, { ms: number[]; error?: string } | Skip>();
  for (const r of SETUP_ROWS) {
    const t = targetFor(env, r, proto);
    rows.set(r, 'skip' in t ? t : { ms: [] });
  }
  const { samples, coldSamples } = env.plan.w5;
  const cpu0 = { shield: procCpuMs(env.shield.pid), candidate: procCpuMs(env.candidate.pid) };
  let served = 0;
  // One unrecorded round first: a warm target must have its leaf before the first recorded sample.
  for (let i = 0; i <= samples; i++) {
    for (const r of roundOrder(i)) {
      const cold = r.includes('cold');
      if (cold && i > coldSamples) continue;
      const slot = rows.get(r)!;
      if ('skip' in slot || slot.error) continue;
      const t = targetFor(env, r, proto) as TlsTarget;
      try {
        const ms = await timeToGreeting(t);
        if (i > 0) slot.ms.push(ms);
        if (r === 'shield (warm)' || r === 'shield (cold: new leaf)') served++;
      } catch (e) {
        slot.error = e instanceof Error ? e.message : String(e);
      }
    }
  }
  const cpuMsPerConnection = {
    shield: (procCpuMs(env.shield.pid) - cpu0.shield) / served,
    candidate: (procCpuMs(env.candidate.pid) - cpu0.candidate) / served,
  };
  return { proto, title, rows, cpuMsPerConnection };
}

export function summarize(ms: number[]): { median: number; p90: number } {
  return { median: median(ms), p90: quantile(ms, 0.9) };
}
