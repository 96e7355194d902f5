// Starts (and restarts) the shield child on the same ports and dataDir, and reads what the kernel says about it:
// open fds from /proc/PID/fd, RSS from /proc/PID/status.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SoakChildMessage } from './shield-child.js';

const here = fileURLToPath(new URL('.', import.meta.url));
type Stats = Extract<SoakChildMessage, { type: 'stats' }>;

export class ShieldChild {
  private child: ChildProcess | null = null;
  caPem = '';
  restarts = 0;

  constructor(
    private readonly specFile: string,
    config: Record<string, unknown>,
  ) {
    writeFileSync(specFile, JSON.stringify({ config }));
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  async start(): Promise<void> {
    // SOAK_CPU_PROF=DIR: a V8 CPU profile of each shield process, written when it stops (not when SIGKILLed).
    const prof = process.env.SOAK_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SOAK_CPU_PROF}`] : [];
    const child = spawn(process.execPath, [...prof, '--expose-gc', join(here, 'shield-child.js'), this.specFile], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    const ready = await new Promise<Extract<SoakChildMessage, { type: 'ready' }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('shield child not ready within 60 s')), 60_000);
      child.once('exit', (code) => reject(new Error(`shield child exited with ${code} before it was ready`)));
      child.on('message', (m: SoakChildMessage) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(m);
        }
      });
    });
    child.removeAllListeners('exit');
    this.caPem = ready.caPem;
  }

  stats(): Promise<Stats> {
    const child = this.child!;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('shield child did not answer stats within 10 s')), 10_000);
      const on = (m: SoakChildMessage) => {
        if (m.type !== 'stats') return;
        clearTimeout(timer);
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
      child.send({ type: 'stats' });
    });
  }

  resetEld(): void {
    this.child?.send({ type: 'reset-eld' });
  }

  /** Open file descriptors, as the kernel counts them. */
  fds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** Resident set size in bytes, from /proc (the kernel's view, not the process's own). */
  rss(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  }

  /** SIGKILL: no handler runs, nothing is flushed, exactly like a power cut for the process. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    process.kill(c.pid!, 'SIGKILL');
    await gone;
  }

  async restart(): Promise<void> {
    await this.kill();
    this.restarts++;
    await this.start();
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    if (c.connected) c.send({ type: 'stop' });
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}
