// One target in one process (`node dist/fuzz/worker.js NAME SECONDS SEED`), so coverage counters and any state a
// target leaves behind are its own, and a hang is ended by the parent's timer. Prints one JSON report line.
import { fuzzTarget } from './engine.js';
import { TARGETS } from './targets/index.js';

const [name, seconds, seed] = process.argv.slice(2);
const load = name ? TARGETS[name] : undefined;
if (!load) {
  console.error(`unknown target ${name}; targets: ${Object.keys(TARGETS).join(', ')}`);
  process.exit(2);
}
const report = await fuzzTarget(load, {
  seconds: Number(seconds ?? 10),
  maxExecs: 50_000_000,
  seed: Number(seed ?? 1),
  slowMs: 2000,
});
process.stdout.write(JSON.stringify(report) + '\n');
// Targets may hold sockets open; the report is the end.
process.exit(report.finding ? 1 : 0);
