// `npm run soak -- --minutes N [--sessions 200] [--seed S]`: real Dovecot, Postfix and clamd behind fault proxies,
// the shield in its own process, ~200 concurrent client sessions for N minutes while faults are injected. Phase 1
// (three quarters of the time) injects upstream cuts and stalls, clamd restarts and a full quarantine disk, then
// checks the shield's fds, RSS and post-GC heap are back near their baseline (taken after a fault-free warm-up load).
// Phase 2 adds SIGKILLs of the shield at random points (restarted at once). The ledger then proves every message is where it should be. Exit 1 on any violation.
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startClamd, type TestClamd } from '../test/fixtures/clamd.js';
import { startDovecot } from '../test/fixtures/dovecot.js';
import { testPki } from '../test/fixtures/pki.js';
import { startPostfix } from '../test/fixtures/postfix.js';
import { freePort, hasCommand, tmpDir } from '../test/fixtures/util.js';
import { xorshift } from '../fuzz/mutate.js';
import { Faults, mountTmpfs, unmount, type FaultKind } from './faults.js';
import { appendSession, idleSession, imapSession, pop3Session, smtpSession, type FlowCtx } from './flows.js';
import { Ledger } from './ledger.js';
import { makeMessage, keyIn } from './messages.js';
import { FaultProxy } from './proxy.js';
import { ShieldChild } from './shield.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    sessions: { type: 'string', default: '200' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
  },
});
const minutes = Number(values.minutes);
const concurrency = Number(values.sessions);
if (!(minutes > 0) || !(concurrency > 0)) throw new Error('--minutes and --sessions must be positive numbers');
const missing = ['dovecot', 'postfix', 'clamd'].filter((c) => !hasCommand(c));
if (missing.length) {
  console.error(`soak needs ${missing.join(', ')} (.ci/install-system.sh installs them)`);
  process.exit(2);
}
const rand = xorshift(Number(values.seed));
const log = (s: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}`);
const PASS = 'soak-Secret1';
// Dovecot allows 10 connections per user and IP (mail_max_userip_connections): enough users for the sessions.
const USERS = Array.from({ length: 24 }, (_, i) => `s${i + 1}`);
const PER_USER = 12;

const ledger = new Ledger();
const APPENDERS = ['a1', 'a2', 'a3', 'a4'];
const dovecot = await startDovecot({ users: [...USERS, ...APPENDERS].map((user) => ({ user, pass: PASS })) });
const postfix = await startPostfix();
let clamd: TestClamd = await startClamd();
for (const u of USERS)
  for (let i = 0; i < PER_USER; i++) {
    const size = i % 7 === 3 ? 80_000 : 500 + Math.floor(rand() * 30_000);
    const m = makeMessage(`soak-${u}-${i}`, i % 5 === 0, size, rand);
    ledger.add(m);
    dovecot.deliver(u, m.bytes);
  }
const pop3P = await FaultProxy.start(dovecot.pop3sPort);
const imapP = await FaultProxy.start(dovecot.imapsPort);
const smtpP = await FaultProxy.start(postfix.smtpsPort);
const clamdP = await FaultProxy.start(clamd.port);

const dataDir = tmpDir('mailshield-soak-');
const tmpfs = mountTmpfs(dataDir, 96);
log(
  `dataDir ${dataDir} ${tmpfs ? 'on a 96 MB tmpfs (quarantine-full faults on)' : '(no tmpfs here: quarantine-full faults off)'}`,
);
const [pPop, pImap, pSmtp] = [await freePort(), await freePort(), await freePort()];
const up = {
  upstreamServername: 'mail.test',
  upstreamCa: testPki().caCert,
  upstreamTls: 'implicit',
  clientTls: 'implicit',
};
const shield = new ShieldChild(join(tmpDir('mailshield-soak-spec-'), 'spec.json'), {
  dataDir,
  log: { level: 'error' },
  shutdownTimeoutMs: 5000,
  // Small, so many messages spool to disk and a SIGKILL can leave spool files behind.
  limits: { spoolThresholdBytes: 16_384 },
  scan: { engines: ['builtin', 'clamd'], clamd: { address: `127.0.0.1:${clamdP.port}`, timeoutMs: 5000 } },
  accounts: [
    { name: 'pop3', protocol: 'pop3', listen: `127.0.0.1:${pPop}`, upstream: `127.0.0.1:${pop3P.port}`, ...up },
    { name: 'imap', protocol: 'imap', listen: `127.0.0.1:${pImap}`, upstream: `127.0.0.1:${imapP.port}`, ...up },
    { name: 'smtp', protocol: 'smtp', listen: `127.0.0.1:${pSmtp}`, upstream: `127.0.0.1:${smtpP.port}`, ...up },
  ],
});
await shield.start();

const ctx: FlowCtx = { ledger, ca: () => shield.caPem, rand, vanishRate: 0.05 };
let submitted = 0;
const flows = {
  pop3: () => pop3Session(ctx, pPop, USERS[Math.floor(rand() * USERS.length)]!, PER_USER),
  imap: () => imapSession(ctx, pImap, USERS[Math.floor(rand() * USERS.length)]!, PER_USER),
  idle: () => idleSession(ctx, pImap, USERS[Math.floor(rand() * USERS.length)]!, 2000 + rand() * 8000),
  smtp: () => {
    const m = makeMessage(`soak-out-${submitted++}`, rand() < 0.2, 500 + Math.floor(rand() * 40_000), rand);
    ledger.add(m);
    return smtpSession(ctx, pSmtp, { user: postfix.user, pass: postfix.password }, m);
  },
  append: () => {
    const m = makeMessage(`soak-app-${submitted++}`, rand() < 0.2, 500 + Math.floor(rand() * 40_000), rand);
    ledger.add(m);
    return appendSession(ctx, pImap, APPENDERS[Math.floor(rand() * APPENDERS.length)]!, m);
  },
};
type Flow = keyof typeof flows;
// Roles by share of the concurrent sessions.
const roles: Flow[] = Array.from({ length: concurrency }, (_, i) => {
  const f = i / concurrency;
  return f < 0.3 ? 'pop3' : f < 0.6 ? 'imap' : f < 0.75 ? 'idle' : f < 0.9 ? 'smtp' : 'append';
});

// Warm-up: one session of each kind, so lazy set-up (leaves, TLS contexts, statements) is in the baseline.
for (const f of Object.keys(flows) as Flow[]) await flows[f]().catch((e: unknown) => log(`warm-up ${f}: ${String(e)}`));
await new Promise((r) => setTimeout(r, 1000));
const idle = { fds: shield.fds(), rss: shield.rss(), stats: await shield.stats() };
const control = fork(fileURLToPath(new URL('./control-child.js', import.meta.url)));
await new Promise((r) => control.once('message', r));
const controlEld = (): Promise<{ eldP99Ms: number; eldMaxMs: number }> =>
  new Promise((resolve) => {
    control.once('message', (m: { eldP99Ms: number; eldMaxMs: number }) => resolve(m));
    control.send({ type: 'stats' });
  });
log(
  `idle: ${idle.fds} fds, RSS ${(idle.rss / 2 ** 20).toFixed(1)} MB, heap ${(idle.stats.heapUsed / 2 ** 20).toFixed(1)} MB`,
);

const kills: number[] = [];
const faults = new Faults({
  proxies: [pop3P, imapP, smtpP, clamdP],
  rand,
  tmpfsDir: tmpfs ? dataDir : null,
  async restartClamd() {
    await clamd.stop();
    await new Promise((r) => setTimeout(r, 1000 + rand() * 2000));
    clamd = await startClamd();
    clamdP.retarget(clamd.port);
  },
  async killShield() {
    const at = Date.now();
    await shield.restart();
    // The new process's start-up (CA, store) is not delay under load: measure from here.
    shield.resetEld();
    kills.push(at);
    // The restarted shield must have cleaned what the killed one left in its spool.
    const spool = join(dataDir, 'spool');
    let stale = 0;
    try {
      for (const f of readdirSync(spool, { recursive: true }) as string[]) {
        const st = statSync(join(spool, f));
        if (st.isFile() && st.mtimeMs < at) stale++;
      }
    } catch {
      // No spool folder: clean.
    }
    if (stale) ledger.violation(`${stale} spool file(s) from before the SIGKILL survived the restart`);
  },
});

const errorKinds = new Map<string, number>();
async function phase(name: string, ms: number, kinds: FaultKind[]): Promise<void> {
  const end = Date.now() + ms;
  log(
    `${name}: ${concurrency} concurrent sessions for ${(ms / 1000).toFixed(0)} s, faults: ${[...new Set(kinds)].join(', ')}`,
  );
  const worker = async (role: Flow) => {
    while (Date.now() < end) {
      ledger.sessions++;
      try {
        await flows[role]();
      } catch (e) {
        ledger.sessionErrors++;
        const why = `${role}: ${e instanceof Error ? e.message : String(e)}`.slice(0, 120);
        errorKinds.set(why, (errorKinds.get(why) ?? 0) + 1);
        // A dead shield refuses connections at once: do not spin while it restarts.
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  const workers = roles.map((r) => worker(r));
  faults.kinds = kinds;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1500 + rand() * 1500));
    if (Date.now() < end && kinds.length) await faults.injectOne();
  }
  await Promise.all(workers);
}

const total = minutes * 60_000;
// The baseline is taken after the same load ran without faults: 200 concurrent TLS sessions raise the allocator's
// high-water mark (glibc keeps freed pages mapped), which is not a leak. A leak is what grows after that, under the
// same load: the phase 1 check compares with this baseline, and the post-GC heap with the idle one.
await phase('warm-up (no faults)', Math.min(20_000, total * 0.15), []);
const settle = async () => {
  for (let i = 0; i < 60 && (await shield.stats()).connections > 0; i++) await new Promise((r) => setTimeout(r, 500));
  await new Promise((r) => setTimeout(r, 1000));
};
await settle();
const base = { fds: shield.fds(), rss: shield.rss(), stats: await shield.stats() };
log(
  `baseline after warm-up: ${base.fds} fds, RSS ${(base.rss / 2 ** 20).toFixed(1)} MB, heap ${(base.stats.heapUsed / 2 ** 20).toFixed(1)} MB`,
);
shield.resetEld();
await phase('phase 1 (upstream, clamd and disk faults)', total * 0.75, [
  'cut',
  'cut',
  'stall',
  'clamd-restart',
  'quarantine-full',
]);
// One histogram over the whole of phase 1 (reset at the baseline): the loop under load and faults. Phase 2 restarts the
// process, and a restart's herd of 200 reconnecting TLS clients is reported apart, not bounded.
const p1 = await shield.stats();
const eldP99 = p1.eldP99Ms;
const eldMax = p1.eldMaxMs;
// Settle: every session ended; wait (bounded) for the shield to close its side too.
await settle();
const after = { fds: shield.fds(), rss: shield.rss(), stats: await shield.stats() };
log(
  `after phase 1: ${after.fds} fds, RSS ${(after.rss / 2 ** 20).toFixed(1)} MB, heap ${(after.stats.heapUsed / 2 ** 20).toFixed(1)} MB, ${after.stats.connections} connections`,
);
await phase('phase 2 (crash safety: SIGKILL of the shield as well)', total * 0.25, [
  'shield-kill',
  'shield-kill',
  'cut',
  'clamd-restart',
]);
for (let i = 0; i < 60 && (await shield.stats()).connections > 0; i++) await new Promise((r) => setTimeout(r, 500));
const p2 = await shield.stats();
await shield.stop();

// Let Postfix finish delivering what it accepted (bounded).
const accepted = [...ledger.submissions.values()].filter((s) => s.via === 'smtp' && s.outcome === 'accepted');
const deliveredKeys = () => new Set(postfix.delivered().map((b) => keyIn(b)));
for (let i = 0; i < 60 && accepted.some((s) => !deliveredKeys().has(s.msg.key)); i++)
  await new Promise((r) => setTimeout(r, 500));

const maildirFiles = (user: string): Buffer[] => {
  const out: Buffer[] = [];
  for (const sub of ['new', 'cur']) {
    const d = join(dovecot.maildir(user), sub);
    for (const f of readdirSync(d)) out.push(readFileSync(join(d, f)));
  }
  return out;
};
const seeded = new Map<string, number>();
for (const u of USERS)
  for (const b of maildirFiles(u)) seeded.set(keyIn(b) ?? '?', (seeded.get(keyIn(b) ?? '?') ?? 0) + 1);
const appended = APPENDERS.flatMap((u) => maildirFiles(u));
const delivered = postfix.delivered();
const totals = ledger.verify({
  dataDir,
  seededOnServer: (k) => seeded.get(k) ?? 0,
  appended: (k) => appended.filter((b) => keyIn(b) === k),
  delivered: (k) => delivered.filter((b) => keyIn(b) === k),
});

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
const fdOk = after.fds <= idle.fds + 5;
// Same load, longer and with faults: what the process holds may grow a little (caches, a fuller allocator), not by
// half. The heap after a forced GC is live JS objects only, so it must be back near the idle process's.
const rssOk = after.rss <= base.rss * 1.25 + 16 * 2 ** 20;
const heapOk = after.stats.heapUsed <= idle.stats.heapUsed + 24 * 2 ** 20;
// The bound catches a blocked loop (a synchronous scan, a quadratic parse: seconds), not a busy machine: on 2 shared
// cores every process here waits for CPU, which the control process's own delay shows next to the shield's.
const ELD_P99_BOUND_MS = 2000;
const eldOk = eldP99 <= ELD_P99_BOUND_MS;
const ctl = await controlEld();
control.kill();
const faultCounts = Object.fromEntries([...faults.counts].map(([k, v]) => [k, v]));
const proxyCounts = {
  upstreamCuts: pop3P.cuts + imapP.cuts + smtpP.cuts + clamdP.cuts,
  stalls: pop3P.stalls + imapP.stalls + smtpP.stalls + clamdP.stalls,
};
const summary = {
  minutes,
  concurrency,
  seed: values.seed,
  sessions: ledger.sessions,
  sessionErrors: ledger.sessionErrors,
  sessionErrorKinds: Object.fromEntries([...errorKinds].sort((a, b) => b[1] - a[1]).slice(0, 12)),
  messages: ledger.messages.size,
  downloads: Object.fromEntries(ledger.downloads),
  submissions: ledger.submissions.size,
  faults: { ...faultCounts, ...proxyCounts, shieldKills: kills.length },
  ledger: totals,
  fds: { before: idle.fds, after: after.fds, ok: fdOk },
  rss: { idle: mb(idle.rss), before: mb(base.rss), after: mb(after.rss), ok: rssOk },
  heapAfterGc: { before: mb(idle.stats.heapUsed), after: mb(after.stats.heapUsed), ok: heapOk },
  eventLoopDelayMs: {
    p99: Number(eldP99.toFixed(1)),
    max: Number(eldMax.toFixed(1)),
    controlP99: Number(ctl.eldP99Ms.toFixed(1)),
    controlMax: Number(ctl.eldMaxMs.toFixed(1)),
    phase2SinceLastRestartP99: Number(p2.eldP99Ms.toFixed(1)),
    bound: ELD_P99_BOUND_MS,
    ok: eldOk,
  },
  loadAverage: os.loadavg().map((x) => Number(x.toFixed(1))),
};
console.log(JSON.stringify(summary, null, 2));
for (const v of ledger.violations.slice(0, 40)) console.log(`VIOLATION ${v}`);

await Promise.all([pop3P.close(), imapP.close(), smtpP.close(), clamdP.close()]);
await Promise.all([dovecot.stop(), postfix.stop(), clamd.stop()]);
if (tmpfs) unmount(dataDir);
rmSync(dataDir, { recursive: true, force: true });
const failed = ledger.violations.length > 0 || !fdOk || !rssOk || !heapOk || !eldOk;
log(failed ? 'soak FAILED' : 'soak passed: nothing lost, truncated or duplicated');
process.exit(failed ? 1 : 0);
