// The processes a run starts besides the real mail servers: the shield (scan on / scan off), the fake IMAP upstream,
// stunnel and mitmdump. All listen on 127.0.0.1 only and are stopped by the PID we started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, hasCommand, tmpDir, waitFor } from '../test/fixtures/util.js';
import type { ChildMessage, ChildSpec } from './shield-child.js';

const here = dirname(fileURLToPath(import.meta.url));

/** RSS and peak RSS (VmHWM) of a process, in bytes, from /proc. */
export function procMem(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

let tickMs: number | null = null;

/** CPU time (user + system) a process has used so far, in ms, from /proc/PID/stat. */
export function procCpuMs(pid: number): number {
  tickMs ??= 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100);
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  return (Number(rest[11]) + Number(rest[12])) * tickMs;
}

/** Resets VmHWM to the current RSS (Linux clear_refs "5"), so a peak can be measured per run. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak RSS of a process while `fn` runs: VmHWM after a reset, cross-checked by 5 ms sampling. */
export async function peakDuring<T>(pid: number, fn: () => Promise<T>): Promise<{ base: number; peak: number; v: T }> {
  const base = procMem(pid).rss;
  const hwmOk = resetPeak(pid);
  let sampled = base;
  const timer = setInterval(() => {
    try {
      sampled = Math.max(sampled, procMem(pid).rss);
    } catch {
      /* process gone: the run fails on its own */
    }
  }, 5);
  try {
    const v = await fn();
    const hwm = hwmOk ? procMem(pid).hwm : 0;
    return { base, peak: Math.max(sampled, hwm), v };
  } finally {
    clearInterval(timer);
  }
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}

export interface ShieldProc {
  pid: number;
  caPem: string;
  /** Set when started with the dashboard. */
  dashboard: { port: number; token: string } | null;
  port(account: string): number;
  /** In-process view after a forced GC. */
  mem(): Promise<Extract<ChildMessage, { type: 'mem' }>>;
  /** Restarts the child's event-loop delay histogram. */
  eldReset(): void;
  /** The child's event-loop delay since the last reset. */
  eld(): Promise<Extract<ChildMessage, { type: 'eld' }>>;
  stop(): Promise<void>;
}

export async function startShieldProc(
  accounts: Record<string, unknown>[],
  opts: { scanOff: boolean; extra?: Record<string, unknown>; dashboard?: boolean },
): Promise<ShieldProc> {
  const dataDir = tmpDir('mailshield-bench-shield-');
  const spec: ChildSpec = {
    scanOff: opts.scanOff,
    dashboard: opts.dashboard,
    config: {
      dataDir,
      // bench.test lets workload 5 ask for a new name per connection: each one is a leaf mint (cold set-up).
      ca: { extraNames: ['bench.test'] },
      accounts,
      log: { level: 'error' },
      shutdownTimeoutMs: 1000,
      ...opts.extra,
    },
  };
  const specFile = join(dataDir, 'bench-spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  // BENCH_CPU_PROF=DIR: each shield process writes a V8 CPU profile there when it stops (profile before optimising).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, '--expose-gc', join(here, 'shield-child.js'), specFile], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Extract<ChildMessage, { type: 'ready' }>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`shield child exited with ${code} before it was ready`)));
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') resolve(m);
    });
  });
  child.removeAllListeners('exit');
  const ports = new Map(ready.listeners.map((l) => [l.account, l.port]));
  return {
    pid: child.pid!,
    caPem: ready.caPem,
    dashboard: ready.dashboard,
    port(account) {
      const p = ports.get(account);
      if (p === undefined) throw new Error(`no shield account ${account}`);
      return p;
    },
    mem() {
      return new Promise((resolve) => {
        const on = (m: ChildMessage) => {
          if (m.type !== 'mem') return;
          child.off('message', on);
          resolve(m);
        };
        child.on('message', on);
        child.send({ type: 'mem' });
      });
    },
    eldReset() {
      child.send({ type: 'eld-reset' });
    },
    eld() {
      return new Promise((resolve) => {
        const on = (m: ChildMessage) => {
          if (m.type !== 'eld') return;
          child.off('message', on);
          resolve(m);
        };
        child.on('message', on);
        child.send({ type: 'eld' });
      });
    },
    async stop() {
      if (child.connected) child.send({ type: 'stop' });
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
    },
  };
}

export interface FakeImapProc {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** The fast IMAP upstream of workload 6 (bench/fake-imap.ts) in its own process. */
export async function startFakeImap(certPath: string, keyPath: string): Promise<FakeImapProc> {
  const child = spawn(process.execPath, [join(here, 'fake-imap.js'), certPath, keyPath], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^port (\d+)/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`fake IMAP exited with ${c}`)));
  });
  child.removeAllListeners('exit');
  return { pid: child.pid!, port, stop: () => stopChild(child) };
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

export interface Bridge {
  name: string;
  /** Process per upstream label (stunnel: one for all; mitmdump: one each), for memory readings. */
  pids: Record<string, number>;
  /** Client-facing port per upstream label. */
  ports: Record<string, number>;
  /** PEM the client must trust. */
  caPem: string;
  version: string;
  stop(): Promise<void>;
}

export interface BridgeUpstream {
  label: string;
  port: number;
}

/**
 * stunnel4 as a TLS→TLS bridge. stunnel speaks TLS on one side of a service only, so each upstream is two services
 * joined on loopback: server-mode `<label>` (TLS from the client, plain out) and client-mode `<label>-up` (plain in,
 * verified TLS to the upstream). Same two TLS legs as the shield, no scanning: the floor of relay cost.
 */
export async function startStunnel(
  ups: BridgeUpstream[],
  pki: { cert: string; key: string; caCert: string; caPem: string },
): Promise<Bridge | null> {
  if (!hasCommand('stunnel4') && !hasCommand('stunnel')) return null;
  const dir = tmpDir('mailshield-bench-stunnel-');
  const lines = ['foreground = yes', 'pid =', `output = ${dir}/stunnel.log`, 'debug = 3'];
  const ports: Record<string, number> = {};
  for (const u of ups) {
    const front = await freePort();
    const mid = await freePort();
    ports[u.label] = front;
    lines.push(
      `[${u.label}]`,
      `accept = 127.0.0.1:${front}`,
      `connect = 127.0.0.1:${mid}`,
      `cert = ${pki.cert}`,
      `key = ${pki.key}`,
      `[${u.label}-up]`,
      'client = yes',
      `accept = 127.0.0.1:${mid}`,
      `connect = 127.0.0.1:${u.port}`,
      'verifyChain = yes',
      `CAfile = ${pki.caCert}`,
      'checkHost = mail.test',
      'sni = mail.test',
    );
  }
  const conf = join(dir, 'stunnel.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  const bin = hasCommand('stunnel4') ? 'stunnel4' : 'stunnel';
  const child = spawn(bin, [conf], { stdio: 'ignore' });
  await waitFor(async () => (await Promise.all(Object.values(ports).map(canConnect))).every(Boolean), 'stunnel');
  const v = spawnSync(bin, ['-version'], { encoding: 'utf8' });
  const version = /stunnel (\S+)/.exec(`${v.stdout}${v.stderr}`)?.[1] ?? '?';
  const pids = Object.fromEntries(ups.map((u) => [u.label, child.pid!]));
  return { name: 'stunnel', pids, ports, caPem: pki.caPem, version, stop: () => stopChild(child) };
}

/**
 * mitmdump in reverse mode, one process per upstream (reverse mode takes one destination). `tcp_hosts` makes it
 * relay the mail protocol as raw TCP inside TLS on both legs; it mints leaves from its own CA per SNI, as the shield
 * does. It has no STARTTLS: every row here uses implicit TLS on both legs.
 */
export async function startMitm(ups: BridgeUpstream[], caCert: string): Promise<Bridge | null> {
  if (!hasCommand('mitmdump')) return null;
  const confdir = tmpDir('mailshield-bench-mitm-');
  const children: ChildProcess[] = [];
  const ports: Record<string, number> = {};
  for (const u of ups) {
    const port = await freePort();
    ports[u.label] = port;
    const child = spawn(
      'mitmdump',
      [
        '-q',
        '--mode',
        `reverse:https://127.0.0.1:${u.port}`,
        '--listen-host',
        '127.0.0.1',
        '--listen-port',
        String(port),
        '--set',
        `confdir=${confdir}`,
        '--set',
        'tcp_hosts=.*',
        '--set',
        `ssl_verify_upstream_trusted_ca=${caCert}`,
        '--set',
        'upstream_cert=false',
        '--set',
        'flow_detail=0',
      ],
      { stdio: 'ignore' },
    );
    children.push(child);
    // The first process creates the CA in confdir; the others must not race it.
    await waitFor(() => canConnect(port), `mitmdump on ${port}`, 30_000);
  }
  const caFile = join(confdir, 'mitmproxy-ca-cert.pem');
  await waitFor(() => existsSync(caFile), 'mitmproxy CA');
  const v = spawnSync('mitmdump', ['--version'], { encoding: 'utf8' });
  const version = /Mitmproxy: (\S+)/.exec(v.stdout)?.[1] ?? '?';
  return {
    name: 'mitmproxy',
    pids: Object.fromEntries(ups.map((u, i) => [u.label, children[i]!.pid!])),
    ports,
    caPem: readFileSync(caFile, 'utf8'),
    version,
    stop: async () => {
      await Promise.all(children.map((c) => stopChild(c)));
    },
  };
}
