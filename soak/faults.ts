// The fault schedule: every couple of seconds one fault, chosen at random (seeded), each undone after a bounded
// while. Counted per kind for the closing figures.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FaultProxy } from './proxy.js';

export type FaultKind = 'cut' | 'stall' | 'clamd-restart' | 'quarantine-full' | 'shield-kill';

export interface FaultDeps {
  proxies: FaultProxy[];
  rand: () => number;
  restartClamd(): Promise<void>;
  killShield(): Promise<void>;
  /** A tmpfs dataDir (quarantine writes can be made to fail), or null where the machine does not allow it. */
  tmpfsDir: string | null;
}

/** Fills the tmpfs until the kernel says ENOSPC, holds it full for `ms`, then frees it. */
async function fillDisk(dir: string, ms: number): Promise<void> {
  const file = join(dir, 'soak-filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let i = 0; i < 4096; i++) writeSync(fd, chunk);
  } catch {
    // ENOSPC: full, as wanted.
  } finally {
    closeSync(fd);
  }
  await new Promise((r) => setTimeout(r, ms));
  rmSync(file, { force: true });
}

export class Faults {
  readonly counts = new Map<FaultKind, number>();
  /** What injectOne picks from (repeat a kind to make it likelier). */
  kinds: FaultKind[] = [];
  private busy = false;

  constructor(private readonly d: FaultDeps) {}

  async injectOne(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const kinds = this.kinds.filter((k) => k !== 'quarantine-full' || this.d.tmpfsDir);
    const kind = kinds[Math.floor(this.d.rand() * kinds.length)]!;
    try {
      if (kind === 'cut') {
        if (!this.d.proxies.some((p) => p.cutOne(this.d.rand))) return;
      } else if (kind === 'stall') {
        this.d.proxies[Math.floor(this.d.rand() * this.d.proxies.length)]!.stall(1000 + this.d.rand() * 3000);
      } else if (kind === 'clamd-restart') await this.d.restartClamd();
      else if (kind === 'quarantine-full') await fillDisk(this.d.tmpfsDir!, 1000 + this.d.rand() * 2000);
      else await this.d.killShield();
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    } finally {
      this.busy = false;
    }
  }
}

/** Mounts a small tmpfs at `dir` (root only); returns false where the machine does not allow it. */
export function mountTmpfs(dir: string, sizeMb: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    // Not mounted.
  }
}
