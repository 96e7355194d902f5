// `npm run bench [-- --quick] [--only=W1,W5,WD] [--out=FILE]`: measures what mailshield costs against direct, stunnel and
// mitmproxy in one run and writes bench/RESULTS.md (quick: bench/results/quick.md, --only: bench/results/partial.md,
// so a CI smoke run or a partial run never overwrites the committed full results). Exits non-zero only when mailshield or a whole workload crashed, never
// because of a number.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBystander } from './bystander.js';
import { runDashboardOpen } from './dashboard.js';
import { startEnv, type Env } from './env.js';
import { runHeaderFetch } from './header-fetch.js';
import { runIdle } from './idle.js';
import { runMemory } from './memory.js';
import { runNetem } from './netem.js';
import { makePlan } from './plan.js';
import { renderReport, type RunReport } from './report.js';
import { runQuarantine } from './quarantine.js';
import { runPerMessage } from './per-message.js';
import { runScan } from './scan.js';
import { runSetup } from './setup.js';
import { runThroughput } from './throughput.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function version(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return 'not installed';
  return re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? '?';
}

function machine(): [string, string][] {
  const cpus = os.cpus();
  return [
    ['CPU', `${cpus[0]?.model ?? '?'} × ${cpus.length} (os.cpus)`],
    ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['kernel', `${os.type()} ${os.release()}`],
    ['Node', `${process.version}, OpenSSL ${process.versions.openssl}`],
    ['Dovecot', version('dovecot', ['--version'], /^(\S+)/)],
    ['Postfix', version('postconf', ['-d', 'mail_version'], /= (\S+)/)],
    ['stunnel', version('stunnel4', ['-version'], /stunnel (\S+)/)],
    ['mitmproxy', version('mitmdump', ['--version'], /Mitmproxy: (\S+)/)],
    ['clamd', version('clamd', ['--version'], /ClamAV (\S+)/)],
    ['RLIMIT_NOFILE', spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()],
  ];
}

const NOTES = [
  'All legs are implicit TLS on 127.0.0.1 (POP3S, IMAPS, SMTPS), for every path: mitmproxy has no STARTTLS, and ' +
    'the rows compare like with like. Client and upstream always verify certificates.',
  'Upstreams: real Dovecot (POP3/IMAP, Maildir) and Postfix (SMTPS with SASL via Dovecot, virtual delivery), ' +
    'started by the test fixtures. Workload 5 also runs against, and workload 6 only against, a minimal IMAP ' +
    'server (bench/fake-imap.ts, its own Node process) that answers at once: Dovecot forks a process per ' +
    'session and would measure itself.',
  'The client is bench/wire.ts in the benchmark process: one command at a time as mail clients do, reply bytes ' +
    'counted without copying. Every run checks the payload byte count.',
  'mailshield runs in its own process (bench/shield-child.ts) via startShield, with the default config: client ' +
    'policy auto, upstream policy balanced, builtin engine, SQLite store. "Scanning off" is the startShield ' +
    'scanner override that releases everything: relay cost without scan cost.',
  'stunnel: two services joined on loopback (TLS in, plain hop, verified TLS out), since a stunnel service does ' +
    'TLS on one side only. mitmproxy: mitmdump --mode reverse:https://upstream with tcp_hosts=.* (raw TCP inside ' +
    'TLS on both legs), one process per upstream, leaves minted per SNI from its own CA.',
  'All processes share 2 cores: client, relay and upstream compete for CPU, so a relay that uses more CPU slows ' +
    'the others too. Wall time is what a user sees.',
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const only = args
    .find((a) => a.startsWith('--only='))
    ?.slice(7)
    .split(',')
    .map((s) => s.trim().toUpperCase());
  const want = (w: string) => !only || only.includes(w);
  const plan = makePlan(quick);
  const t0 = performance.now();
  const log = (s: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
  const failures: string[] = [];
  let crashed = false;
  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T | { error: string } | null> => {
    try {
      return await fn();
    } catch (e) {
      const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
      failures.push(`${what}: ${msg.split('\n')[0]}`);
      log(`${what} crashed: ${msg}`);
      crashed = true;
      return { error: msg.split('\n')[0]! };
    }
  };

  log(`mode ${plan.mode}`);
  // W10 brings its own environment: an --only=W10 run starts no other.
  const env: Env | null = only && only.every((w) => w === 'W10') ? null : await startEnv(plan, log);
  const report: RunReport = {
    plan,
    date: new Date(),
    machine: machine(),
    notes: [...NOTES, ...(env?.mitmSkip ? [`mitmproxy: ${env.mitmSkip}.`] : [])],
    throughput: [],
    setup: [],
    idle: null,
    scan: null,
    memory: null,
    headers: null,
    quarantine: null,
    bystander: null,
    netem: null,
    failures,
    elapsedMs: 0,
  };
  const runMain = async (env: Env): Promise<void> => {
    if (['W1', 'W2', 'W3', 'W4'].some(want)) {
      const rows = await guard('W1-W4', () => runThroughput(env, log, (id) => want(id) || want(id.slice(0, 2))));
      if (rows && !('error' in rows)) report.throughput = rows;
    }
    if (want('W5')) {
      log('W5: connection set-up');
      for (const [proto, title] of [
        ['fake', 'TCP connect → IMAP greeting, fast IMAP upstream (isolates the relay)'],
        ['pop3', 'TCP connect → POP3 greeting, Dovecot upstream'],
      ] as const) {
        const s = await guard(`W5 ${proto}`, () => runSetup(env, proto, title));
        if (s && !('error' in s)) report.setup.push(s);
      }
    }
    if (want('WD')) report.dashboard = await guard('WD', () => runDashboardOpen(env, log));
    if (want('W7')) {
      log('W7: scanning alone');
      report.scan = await guard('W7', () => runScan(plan));
      report.perMessage = await guard('W7s', () => runPerMessage());
    }
    if (want('W8')) {
      log('W8: peak memory, one large message');
      report.memory = await guard('W8', () => runMemory(env));
    }
    if (want('W11')) {
      log('W11: header fetch of every message, scan-ahead on and off');
      report.headers = await guard('W11', () => runHeaderFetch(env));
    }
    if (want('W9')) {
      log('W9: bystander latency during 25 MB downloads');
      report.bystander = await guard('W9', () => runBystander(env, plan.w9.downloaders, plan.w9.rounds));
    }
    if (want('W6')) report.idle = await guard('W6', () => runIdle(env, log));
    if (want('W12')) {
      log('W12: quarantine write, durable vs not');
      report.quarantine = await guard('W12', () => runQuarantine(quick));
    }
  };
  try {
    if (env) await runMain(env);
  } finally {
    await env?.stop();
  }
  // Its own environment, in its own namespace: after the main one is stopped, so the two do not share the cores.
  if (want('W10')) {
    log('W10: realistic network (network namespace, netem on the upstream hop)');
    report.netem = await guard('W10', () => runNetem(quick, log));
  }

  // A peer failing is its result; mailshield or the direct path failing is a crash.
  for (const row of report.throughput)
    for (const [t, s] of row.results)
      if ('error' in s && s.error) {
        failures.push(`${row.id} ${t}: ${s.error}`);
        if (t === 'direct' || t === 'shield' || t === 'shield-noscan') crashed = true;
      }
  for (const s of report.setup)
    for (const [name, x] of s.rows)
      if ('error' in x && x.error) {
        failures.push(`W5 ${s.proto} ${name}: ${x.error}`);
        if (name.startsWith('shield') || name === 'direct') crashed = true;
      }

  report.elapsedMs = performance.now() - t0;
  // Only a complete full run replaces the committed results.
  const outArg = args.find((a) => a.startsWith('--out='))?.slice(6);
  const out = outArg
    ? resolve(outArg)
    : join(root, 'bench', ...(quick ? ['results', 'quick.md'] : only ? ['results', 'partial.md'] : ['RESULTS.md']));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, renderReport(report));
  log(`wrote ${out} (${(report.elapsedMs / 1000).toFixed(0)} s)`);
  if (crashed) {
    log(`failures:\n${failures.join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
