// Numbers and the order runs happen in. Every workload alternates its targets round-robin (A B C A B C ...), so a
// slow phase of the machine (another process, a page-cache flush) lands on every target alike, not on one of them.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** A target that cannot run a workload says why instead of disappearing from the table. */
export interface Skip {
  skip: string;
}

export interface Samples {
  /** Wall times in ms, in the order they were taken. */
  ms: number[];
  /** Set when a run failed; the row shows it instead of numbers. */
  error?: string;
}

/**
 * Runs `fn` for each target `reps` times, round-robin. The first round per target is a warm-up (page cache, Dovecot
 * indexes, JIT) and is not recorded. A target whose run throws stops being run and records the error.
 */
export async function alternate<T extends string>(
  targets: readonly T[],
  reps: number,
  fn: (t: T) => Promise<number>,
  opts: { rotate?: boolean } = {},
): Promise<Map<T, Samples>> {
  const out = new Map<T, Samples>(targets.map((t) => [t, { ms: [] }]));
  for (let r = 0; r <= reps; r++) {
    // Rotated (A B C, B C A, C A B …), no target always runs right after the same other one: a target that leaves
    // work behind (a GC, Dovecot's index writes) would otherwise always slow the same neighbour.
    const order = opts.rotate
      ? [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)]
      : targets;
    for (const t of order) {
      const s = out.get(t)!;
      if (s.error) continue;
      try {
        const ms = await fn(t);
        if (r > 0) s.ms.push(ms);
      } catch (e) {
        s.error = e instanceof Error ? e.message : String(e);
      }
    }
  }
  return out;
}

export const fmtMs = (ms: number): string =>
  !Number.isFinite(ms) ? '–' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
export const fmtMBs = (bytes: number, ms: number): string =>
  !Number.isFinite(ms) || ms <= 0 ? '–' : ((bytes / 1e6 / ms) * 1000).toFixed(1);
export const fmtRatio = (x: number): string => (!Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`);
export const fmtMB = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(1);
export const fmtKB = (bytes: number): string => (bytes / 1024).toFixed(1);
