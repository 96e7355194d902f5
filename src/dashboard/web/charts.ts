// The hourly chart of the Statistics page, drawn by uPlot (served from the package like Preact). uPlot draws on a
// canvas and sizes with CSSOM, so the page's CSP (no inline styles or scripts) holds.
import uPlot from './uplot.js';
import type { El } from './dom.js';
import type { StatsView } from '../stats.js';

export function drawHourly(target: El, s: StatsView): { destroy(): void } {
  const opts = {
    title: 'Messages and refusals per hour (UTC)',
    width: Math.max(320, target.clientWidth || 800),
    height: 260,
    series: [
      {},
      { label: 'scanned', stroke: '#2563eb', width: 2 },
      { label: 'clean', stroke: '#16a34a', width: 2 },
      { label: 'infected or blocked', stroke: '#dc2626', width: 2 },
      { label: 'refused connections', stroke: '#d97706', width: 2 },
    ],
    axes: [{}, { label: 'count' }],
  };
  return new uPlot(opts, [s.hours, s.scanned, s.clean, s.infected, s.refused], target);
}
