// Workload D (issue 13): does an open dashboard slow the mail path? A third shield process serves the dashboard with
// one logged-in page's live stream (SSE) connected for the whole workload, and runs W1 (POP3 download) and W5 (warm
// connection set-up) alternated with the plain scanning shield, same config otherwise, in the same run. The ratio
// of medians (dashboard open / plain) is the answer; the stream's event count shows the page really was fed.
import { request } from 'node:http';
import { shieldAccount, PASS, type Env } from './env.js';
import { pop3Download } from './flows.js';
import { startShieldProc } from './procs.js';
import { alternate, median, type Samples } from './stats.js';
import { testPki } from '../test/fixtures/pki.js';
import { timeToGreeting } from './wire.js';

export const DASH_TARGETS = ['shield', 'shield + dashboard open'] as const;
export type DashTarget = (typeof DASH_TARGETS)[number];

export interface DashboardResult {
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

export async function runDashboardOpen(env: Env, log: (s: string) => void): Promise<DashboardResult> {
  const pki = testPki();
  const accounts = [
    shieldAccount('pop3', 'pop3', env.dovecot.pop3sPort, pki.caCert),
    shieldAccount('fake', 'imap', env.fake.port, pki.caCert),
  ];
  log('WD: shield with the dashboard open');
  const dash = await startShieldProc(accounts, { scanOff: false, dashboard: true });
  const page = await openLivePage(dash.dashboard!.port, dash.dashboard!.token);
  try {
    const target = (t: DashTarget, proto: 'pop3' | 'fake') =>
      t === 'shield'
        ? { port: env.shield.port(proto), servername: 'localhost', ca: env.shield.caPem }
        : { port: dash.port(proto), servername: 'localhost', ca: dash.caPem };
    const { plan } = env;
    const want = plan.w1.messages * plan.w1.size;
    const w1 = await alternate(DASH_TARGETS, plan.reps, async (t) => {
      const t0 = performance.now();
      const got = await pop3Download(target(t, 'pop3'), { user: 'w1', pass: PASS }, plan.w1.messages);
      const ms = performance.now() - t0;
      if (got < want) throw new Error(`short download: ${got} of ${want} bytes`);
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
      sseEvents: page.events(),
    };
  } finally {
    page.close();
    await dash.stop();
  }
}

export function dashboardSection(r: DashboardResult): string {
  const lines = [
    '## WD: the dashboard open during W1 and W5 (issue 13)',
    '',
    'A third shield process serves the dashboard with one logged-in live page (SSE) connected throughout; ' +
      'runs alternate with the plain scanning shield. Ratio = median with the dashboard open / median without.',
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
  lines.push('', `The live page received ${r.sseEvents} server-sent events while these ran.`);
  return lines.join('\n');
}
