// Workload D (issue 13): does an open dashboard slow the mail path? Two fresh scanning shield processes with the same
// accounts, one of them serving the dashboard with a logged-in page's live stream (SSE) connected for the whole
// workload; W1 (POP3 download) and W5 (warm connection set-up) alternate between them in the same run. The ratio
// of medians (dashboard open / plain) is the answer; the stream's event count shows the page really was fed.
import { request } from 'node:http';
import { shieldAccount, PASS, type Env } from './env.js';
import { pop3Download } from './flows.js';
import { startShieldProc } from './procs.js';
import { alternate, median, type Samples } from './stats.js';
import { readFileSync } from 'node:fs';
import { testPki } from '../test/fixtures/pki.js';
import { timeToGreeting } from './wire.js';

export const DASH_TARGETS = ['shield', 'shield + dashboard open'] as const;
export type DashTarget = (typeof DASH_TARGETS)[number];

export interface DashboardResult {
  rows: { id: string; title: string; samples: Map<DashTarget, Samples> }[];
  /** W1: CPU time (user + system) the shield process spent per run, less sensitive to a busy machine than wall time. */
  w1CpuMs: Map<DashTarget, number[]>;
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
  log('WD: two fresh shields, one serving the dashboard with a live page open');
  // Both fresh, same accounts and config: the only difference is the dashboard and its connected page.
  const [plain, dash] = await Promise.all([
    startShieldProc(accounts, { scanOff: false }),
    startShieldProc(accounts, { scanOff: false, dashboard: true }),
  ]);
  const page = await openLivePage(dash.dashboard!.port, dash.dashboard!.token);
  try {
    const target = (t: DashTarget, proto: 'pop3' | 'fake') => {
      const p = t === 'shield' ? plain : dash;
      return { port: p.port(proto), servername: 'localhost', ca: p.caPem };
    };
    const { plan } = env;
    const want = plan.w1.messages * plan.w1.size;
    const w1CpuMs = new Map<DashTarget, number[]>(DASH_TARGETS.map((t) => [t, []]));
    let warm = 0;
    // Three times W1's usual rounds: one W1 run takes about a second, and with 5 the median of each target moved by
    // ±15% between runs on this 2-core machine, more than the difference WD is there to bound.
    const w1 = await alternate(DASH_TARGETS, plan.reps * 3, async (t) => {
      const pid = (t === 'shield' ? plain : dash).pid;
      const c0 = cpuMs(pid);
      const t0 = performance.now();
      const got = await pop3Download(target(t, 'pop3'), { user: 'w1', pass: PASS }, plan.w1.messages);
      const ms = performance.now() - t0;
      if (got < want) throw new Error(`short download: ${got} of ${want} bytes`);
      // alternate() drops the first round (warm-up); so do we.
      if (warm++ >= DASH_TARGETS.length) w1CpuMs.get(t)!.push(cpuMs(pid) - c0);
      return ms;
    });
    const w5 = (proto: 'pop3' | 'fake') =>
      alternate(DASH_TARGETS, plan.w5.samples, (t) => timeToGreeting(target(t, proto)));
    return {
      rows: [
        { id: 'W1', title: `POP3 download: ${plan.w1.messages} messages, wall time per run`, samples: w1 },
        { id: 'W5 fake', title: 'warm set-up to the IMAP greeting, fast upstream', samples: await w5('fake') },
        { id: 'W5 pop3', title: 'warm set-up to the POP3 greeting, Dovecot', samples: await w5('pop3') },
      ],
      w1CpuMs,
      sseEvents: page.events(),
    };
  } finally {
    page.close();
    await Promise.all([plain.stop(), dash.stop()]);
  }
}

export function dashboardSection(r: DashboardResult): string {
  const lines = [
    '## WD: the dashboard open during W1 and W5 (issue 13)',
    '',
    'Two fresh scanning shield processes with the same accounts; one serves the dashboard with a logged-in live ' +
      'page (SSE) connected throughout. Runs alternate between them. Ratio = median with the dashboard open / ' +
      'median without.',
    '',
    '| workload | shield median ms | shield + dashboard open median ms | ratio |',
    '| --- | --- | --- | --- |',
  ];
  for (const row of r.rows) {
    const a = row.samples.get('shield')!;
    const b = row.samples.get('shield + dashboard open')!;
    const ma = median(a.ms);
    const mb = median(b.ms);
    const cell = (s: Samples, m: number) => (s.error ? `failed: ${s.error}` : m.toFixed(2));
    lines.push(`| ${row.id}: ${row.title} | ${cell(a, ma)} | ${cell(b, mb)} | ${(mb / ma).toFixed(2)}× |`);
  }
  const ca = median(r.w1CpuMs.get('shield')!);
  const cb = median(r.w1CpuMs.get('shield + dashboard open')!);
  lines.push(
    `| W1: shield process CPU time per run (user + system) | ${ca.toFixed(0)} | ${cb.toFixed(0)} | ${(cb / ca).toFixed(2)}× |`,
  );
  lines.push('', `The live page received ${r.sseEvents} server-sent events while these ran.`);
  return lines.join('\n');
}
