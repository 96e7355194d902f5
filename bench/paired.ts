// Ratios of runs taken side by side. In a rotated round every target runs once within a few seconds, so the ratio of
// two targets' runs in the same round cancels most of what the machine was doing then; the spread of those per-round
// ratios says how far apart two targets look by chance.
import { median, quantile } from './stats.js';

export interface RatioSpread {
  /** Median of the per-round ratios b[i] / a[i]. */
  median: number;
  /** 10th and 90th percentiles of the per-round ratios. */
  p10: number;
  p90: number;
  rounds: number;
}

/** Per-round ratios b[i] / a[i]; a and b hold one sample per round, in round order. */
export function pairedRatios(a: readonly number[], b: readonly number[]): RatioSpread {
  const n = Math.min(a.length, b.length);
  const r: number[] = [];
  for (let i = 0; i < n; i++) if (a[i]! > 0) r.push(b[i]! / a[i]!);
  return { median: median(r), p10: quantile(r, 0.1), p90: quantile(r, 0.9), rounds: r.length };
}

/**
 * The verdict WD gives: the dashboard's median ratio against the band the A/A control's per-round ratios cover. Inside
 * it, the dashboard is not told apart from a second identical process.
 */
export function withinControl(dash: RatioSpread, control: RatioSpread): boolean {
  const lo = Math.min(control.p10, 1 / control.p90);
  const hi = Math.max(control.p90, 1 / control.p10);
  return dash.median >= lo && dash.median <= hi;
}
