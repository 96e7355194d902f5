// `npm run fuzz -- [--seconds N] [--target a,b] [--seed S]`: every target, one after another, each in its own
// process for N seconds. Exits non-zero on any finding, crash or hang, after printing the figures.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RunReport } from './engine.js';
import { TARGETS } from './targets/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    target: { type: 'string' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
  },
});
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
const names = values.target ? values.target.split(',') : Object.keys(TARGETS);
const worker = fileURLToPath(new URL('./worker.js', import.meta.url));

function runWorker(name: string): Promise<{ report: RunReport | null; error: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [worker, name, String(seconds), values.seed!], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // A target stuck in one execution never returns to check its deadline: that is a hang, and a finding.
    const limit = (seconds * 2 + 60) * 1000;
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      let report: RunReport | null;
      try {
        report = JSON.parse(line) as RunReport;
      } catch {
        report = null;
      }
      const error = report
        ? null
        : `worker ended (code ${code}, signal ${signal}) without a report: ${err.slice(-2000)}`;
      resolve({ report, error });
    });
  });
}

let failed = 0;
console.log(`fuzz: ${names.length} targets, ${seconds} s each, seed ${values.seed}`);
for (const name of names) {
  const { report, error } = await runWorker(name);
  if (!report) {
    failed++;
    console.log(`${name}: CRASH ${error}`);
    continue;
  }
  const cov = Object.entries(report.lines)
    .map(([f, [h, t]]) => `${f.replace(/^src\//, '')} ${t ? ((100 * h) / t).toFixed(0) : 0}% (${h}/${t} lines)`)
    .join(', ');
  console.log(
    `${name}: ${report.execs} execs in ${report.seconds.toFixed(0)} s (${(report.execs / report.seconds).toFixed(0)}/s), corpus ${report.seeds} seeds -> ${report.corpus}, ${report.features} features; ${cov}`,
  );
  if (report.finding) {
    failed++;
    console.log(
      `  FINDING saved to ${report.finding.file}\n  ${report.finding.message.split('\n').slice(0, 12).join('\n  ')}`,
    );
  }
}
if (failed) {
  console.log(`fuzz: ${failed} target(s) failed; copy each finding into fuzz/regressions/<target>/ once fixed`);
  process.exit(1);
}
console.log('fuzz: no findings');
