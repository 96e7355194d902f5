// Workload D (issue 13): does an open dashboard slow the mail path? Three fresh scanning shield processes with the
// same accounts: two plain ones and one serving the dashboard with a logged-in page's live stream (SSE) connected for
// the whole workload. W1 (POP3 download) and W5 (warm connection set-up) rotate between them in the same run. The
// second plain shield is an A/A control: two identical processes differ by a few percent on this shared machine (JIT
// decisions, which core, what else runs), and only a dashboard ratio outside that spread would be the dashboard's.
// The stream's event count shows the page really was fed.
import { request } from 'node:http';
import { shieldAccount, PASS, type Env } from './env.js';
import { pop3Download } from './flows.js';
import { startShieldProc } from './procs.js';
import { alternate, median, type Samples } from './stats.js';
import { pairedRatios, withinControl, type RatioSpread } from './paired.js';
import { readFileSync } from 'node:fs';
import { testPki } from '../test/fixtures/pki.js';
import { timeToGreeting } from './wire.js';

export const DASH_TARGETS = ['shield', 'second plain shield (control)', 'shield + dashboard open'] as const;
export type DashTarget = (typeof DASH_TARGETS)[number];

export interface DashboardResult {
  /** W1's CPU row holds the shield process's CPU ms per run (user + system), less sensitive to a busy machine. */
  rows: { id: string; title: string; samples: Map<DashTarget, Samples> }[];
  /** Server-sent events the open page received while the workloads ran. */
  sseEvents: number;
}

function post(port: number, path: string, body: string): Promise<{ status: number; cookie: string }> {
  return new Promise((resolve, reject) => {
    const host = `127.0.0.1:${port}`;
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: {
          host,
          origin: `http://${host}`,
          'content-type': 'application/json',
          'sec-fetch-site': 'same-origin',
        },
      },
      (res) => {
        res.resume();
        const set = res.headers['set-cookie'];
        resolve({ status: res.statusCode ?? 0, cookie: ((Array.isArray(set) ? set[0] : set) ?? '').split(';')[0]! });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Logs in and keeps /api/live open, counting events, until close(). */
async function openLivePage(port: number, token: string): Promise<{ events(): number; close(): void }> {
  const { status, cookie } = await post(port, '/api/login', JSON.stringify({ token }));
  if (status !== 204) throw new Error(`dashboard login failed: ${status}`);
  let events = 0;
  const req = request({
    host: '127.0.0.1',
    port,
    path: '/api/live',
    headers: { host: `127.0.0.1:${port}`, cookie, accept: 'text/event-stream' },
  });
  await new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      if (res.statusCode !== 200) return reject(new Error(`live stream: ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (d: string) => (events += d.split('\n').filter((l) => l.startsWith('event: ')).length));
      resolve();
    });
    req.on('error', reject);
    req.end();
  });
  return { events: () => events, close: () => req.destroy() };
}

/** utime + stime of a process in ms, from /proc (clock ticks of 10 ms on Linux). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

export async function runDashboardOpen(env: Env, log: (s: string) => void): Promise<DashboardResult> {
  const pki = testPki();
  const accounts = [
    shieldAccount('pop3', 'pop3', env.dovecot.pop3sPort, pki.caCert),
    shieldAccount('fake', 'imap', env.fake.port, pki.caCert),
  ];
  log('WD: three fresh shields, two plain (one is the A/A control), one serving the dashboard with a live page open');
  // All fresh, same accounts and config: the only difference is the dashboard and its connected page.
  const [plain, control, dash] = await Promise.all([
    startShieldProc(accounts, { scanOff: false }),
    startShieldProc(accounts, { scanOff: false }),
    startShieldProc(accounts, { scanOff: false, dashboard: true }),
  ]);
  const procOf = (t: DashTarget) => (t === 'shield' ? plain : t === 'shield + dashboard open' ? dash : control);
  const page = await openLivePage(dash.dashboard!.port, dash.dashboard!.token);
  try {
    const target = (t: DashTarget, proto: 'pop3' | 'fake') => {
      const p = procOf(t);
      return { port: p.port(proto), servername: 'localhost', ca: p.caPem };
    };
    const { plan } = env;
    const want = plan.w1.messages * plan.w1.size;
    const w1CpuMs = new Map<DashTarget, number[]>(DASH_TARGETS.map((t) => [t, []]));
    let warm = 0;
    // Three times W1's usual rounds: one W1 run takes about a second, and with 5 the median of each target moved by
    // ±15% between runs on this 2-core machine, more than the difference WD is there to bound.
    const w1 = await alternate(
      DASH_TARGETS,
      plan.reps * 3,
      async (t) => {
        const pid = procOf(t).pid;
        const c0 = cpuMs(pid);
        const t0 = performance.now();
        const got = await pop3Download(target(t, 'pop3'), { user: 'w1', pass: PASS }, plan.w1.messages);
        const ms = performance.now() - t0;
        if (got < want) throw new Error(`short download: ${got} of ${want} bytes`);
        // alternate() drops the first round (warm-up); so do we.
        if (warm++ >= DASH_TARGETS.length) w1CpuMs.get(t)!.push(cpuMs(pid) - c0);
        return ms;
      },
      { rotate: true },
    );
    const w5 = (proto: 'pop3' | 'fake') =>
      alternate(DASH_TARGETS, plan.w5.samples, (t) => timeToGreeting(target(t, proto)), { rotate: true });
    const w1Cpu: Samples[] = DASH_TARGETS.map((t) => ({ ms: w1CpuMs.get(t)! }));
    return {
      rows: [
        { id: 'W1', title: `POP3 download: ${plan.w1.messages} messages, wall time per run`, samples: w1 },
        {
          id: 'W1 CPU',
          title: "the shield process's CPU time per W1 run (user + system)",
          samples: new Map(DASH_TARGETS.map((t, i) => [t, w1Cpu[i]!])),
        },
        { id: 'W5 fake', title: 'warm set-up to the IMAP greeting, fast upstream', samples: await w5('fake') },
        { id: 'W5 pop3', title: 'warm set-up to the POP3 greeting, Dovecot', samples: await w5('pop3') },
      ],
      sseEvents: page.events(),
    };
  } finally {
    page.close();
    await Promise.all([plain.stop(), control.stop(), dash.stop()]);
  }
}

const spreadText = (r: RatioSpread) => `${r.median.toFixed(3)}× (${r.p10.toFixed(2)}–${r.p90.toFixed(2)})`;

export function dashboardSection(r: DashboardResult): string {
  const lines = [
    '## WD: the dashboard open during W1 and W5 (issue 13)',
    '',
    'Three fresh scanning shield processes with the same accounts: two plain ones, and one serving the dashboard ' +
      'with a logged-in live page (SSE) connected throughout. Each round runs all three in rotated order (A B C, ' +
      'B C A, C A B …). A ratio is the median of the per-round ratios to the first plain shield, with their 10th–90th ' +
      'percentile. The second plain shield is an A/A control: its ratio is what two identical processes differ by ' +
      'here. "Unchanged" means the dashboard\'s median ratio lies inside the band of the control\'s per-round ratios ' +
      '(either way round).',
    '',
    '| workload | shield median | control median | dashboard open median | control / shield | dashboard / shield | unchanged |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of r.rows) {
    const [a, c, d] = DASH_TARGETS.map((t) => row.samples.get(t)!);
    const failed = [a, c, d].find((s) => s!.error);
    if (failed) {
      lines.push(`| ${row.id}: ${row.title} | failed: ${failed.error} | | | | | |`);
      continue;
    }
    const unit = row.id === 'W1 CPU' ? ' ms CPU' : ' ms';
    const ctl = pairedRatios(a!.ms, c!.ms);
    const dsh = pairedRatios(a!.ms, d!.ms);
    lines.push(
      `| ${row.id}: ${row.title} | ${median(a!.ms).toFixed(1)}${unit} | ${median(c!.ms).toFixed(1)}${unit} | ` +
        `${median(d!.ms).toFixed(1)}${unit} | ${spreadText(ctl)} | ${spreadText(dsh)} | ` +
        `${withinControl(dsh, ctl) ? 'yes' : 'no'} |`,
    );
  }
  lines.push('', `The live page received ${r.sseEvents} server-sent events while these ran.`);
  return lines.join('\n');
}
