// Workload 10 (issue 15): a realistic network. The run makes a network namespace of its own (`ip netns add`, only
// loopback up) and runs bench/netem-child.ts inside it: a whole environment (Dovecot, Postfix, the shields, stunnel,
// mitmproxy) on that namespace's loopback. There `tc netem` delays packets to and from the upstream servers' ports by
// 10 ms each way (20 ms RTT) at 100 Mbit/s each way; the client → relay hop stays local, as on a user's machine.
// Nothing leaves loopback: the namespace has no other interface.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand, tmpDir } from '../test/fixtures/util.js';
import type { Target } from './env.js';
import type { Samples, Skip } from './stats.js';
import type { TimedRow } from './throughput.js';

const here = dirname(fileURLToPath(import.meta.url));

/** What the child writes: rows as arrays (a Map does not survive JSON). */
export interface NetemRowJson {
  id: string;
  title: string;
  bytes: number;
  results: [Target, Samples | Skip][];
}

export interface NetemResult {
  rows: TimedRow[];
  /** The shaping, for the report. */
  shaping: string;
  ports: number[];
}

/** Why W10 cannot run here, or false. */
export function netemUnavailable(): string | false {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (ip netns add, tc qdisc); CI runs as root';
  const missing = ['ip', 'tc'].filter((c) => !hasCommand(c));
  if (missing.length) return `needs ${missing.join(', ')} (apt-get install iproute2)`;
  return false;
}

export const SHAPING = 'netem delay 10ms rate 100mbit, each way, on packets to or from an upstream port';
export const SHAPING_FALLBACK =
  'this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM not set; prio is missing too), so a userspace delay line ' +
  '(bench/delay-line.ts) sits in front of each upstream instead: every chunk leaves 10 ms after it arrived, each ' +
  'direction paced at 100 Mbit/s; every path, direct included, goes through it';

/** Whether `tc … netem` can be used here (run inside the namespace: it adds a qdisc to lo and removes it). */
export function netemWorks(): boolean {
  try {
    execFileSync('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'], { stdio: 'ignore' });
    execFileSync('tc', ['qdisc', 'del', 'dev', 'lo', 'root'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs inside the namespace: shapes `lo` so that only traffic to or from `ports` is delayed. A prio qdisc sends
 * everything to band 1 by default; u32 filters move packets whose destination port is an upstream's to band 4 (the
 * way there) and whose source port is one to band 5 (the way back), each with its own netem.
 */
export function shapeUpstreamPorts(ports: number[]): void {
  const tc = (...a: string[]) => execFileSync('tc', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'prio', 'bands', '5', 'priomap', ...Array(16).fill('0'));
  for (const band of ['4', '5'])
    tc(
      'qdisc',
      'add',
      'dev',
      'lo',
      'parent',
      `1:${band}`,
      'handle',
      `${band}0:`,
      'netem',
      'delay',
      '10ms',
      'rate',
      '100mbit',
      'limit',
      '100000',
    );
  for (const p of ports) {
    const f = (dir: 'dport' | 'sport', band: string) =>
      tc(
        'filter',
        'add',
        'dev',
        'lo',
        'parent',
        '1:',
        'protocol',
        'ip',
        'prio',
        '1',
        'u32',
        'match',
        'ip',
        dir,
        String(p),
        '0xffff',
        'flowid',
        `1:${band}`,
      );
    f('dport', '4');
    f('sport', '5');
  }
}

export async function runNetem(quick: boolean, log: (s: string) => void): Promise<NetemResult | Skip> {
  const why = netemUnavailable();
  if (why) return { skip: why };
  const name = `msbench-${randomBytes(4).toString('hex')}`;
  try {
    execFileSync('ip', ['netns', 'add', name]);
  } catch (e) {
    return { skip: `cannot create a network namespace (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
  }
  try {
    execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    const out = join(tmpDir('mailshield-w10-'), 'result.json');
    const args = ['netns', 'exec', name, process.execPath, '--expose-gc', join(here, 'netem-child.js'), out];
    if (quick) args.push('--quick');
    const child = spawn('ip', args, { stdio: ['ignore', 'inherit', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => log(`[w10] ${d.toString().trimEnd()}`));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the W10 run in namespace ${name} exited with ${code}`);
    const r = JSON.parse(readFileSync(out, 'utf8')) as { rows: NetemRowJson[]; ports: number[]; shaping: string };
    return {
      rows: r.rows.map((x) => ({ ...x, results: new Map(x.results) })),
      shaping: r.shaping,
      ports: r.ports,
    };
  } finally {
    execFileSync('ip', ['netns', 'del', name]);
  }
}
