// Workload 7: the scan engines alone, on a message whose attachment is base64 (it must be decoded to be scanned),
// alternated with a floor: Node decoding the same base64 and nothing else.
import { configSchema } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { BuiltinEngine } from '../src/scan/builtin/engine.js';
import { ClamdEngine } from '../src/io/clamd-engine.js';
import { scanFiles } from '../src/io/scan-files.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../src/scan/engine.js';
import { startClamd } from '../test/fixtures/clamd.js';
import { hasCommand } from '../test/fixtures/util.js';
import { mimeMessage } from './messages.js';
import type { Plan } from './plan.js';
import { alternate, type Samples, type Skip } from './stats.js';

export const SCAN_ROWS = ['base64 decode only (floor)', 'builtin engine', 'clamd (INSTREAM, unix socket)'] as const;
export type ScanRow = (typeof SCAN_ROWS)[number];

export interface ScanResult {
  bytes: number;
  rows: Map<ScanRow, Samples | Skip>;
}

export async function runScan(plan: Plan): Promise<ScanResult> {
  const msg = mimeMessage(plan.w7.size, 'w7');
  const size = msg.length;
  const all = configSchema.parse({});
  const cfg = all.scan;
  const builtin = new BuiltinEngine(
    { rules: cfg.builtin.rules, archive: cfg.builtin.archive, structure: all.limits },
    scanFiles(join(tmpdir(), 'mailshield-bench-scan')),
  );
  const clamd = hasCommand('clamd') ? await startClamd({ streamMaxLength: size + 1024 * 1024 }) : null;
  const clamEngine = clamd
    ? new ClamdEngine({
        address: `unix:${clamd.socketPath}`,
        timeoutMs: 120_000,
        streamMaxLength: size + 1024 * 1024,
        poolSize: 1,
        log: silentLogger,
      })
    : null;
  const body = msg.subarray(msg.indexOf('\r\n\r\n', msg.indexOf('base64')) + 4);
  const engines: Record<ScanRow, Engine | null> = {
    'base64 decode only (floor)': null,
    'builtin engine': builtin,
    'clamd (INSTREAM, unix socket)': clamEngine,
  };
  const runnable = SCAN_ROWS.filter((r) => r === SCAN_ROWS[0] || engines[r]);
  try {
    const samples = await alternate(runnable, plan.w7.reps, async (r) => {
      const t0 = performance.now();
      const e = engines[r];
      if (!e) {
        if (Buffer.from(body.toString('latin1'), 'base64').length < size / 2) throw new Error('decode too short');
      } else {
        const v = await e.scan({ source: { bytes: msg }, size });
        if (v.kind !== 'clean') throw new Error(`${e.name}: ${JSON.stringify(v)}`);
      }
      return performance.now() - t0;
    });
    const rows = new Map<ScanRow, Samples | Skip>();
    for (const r of SCAN_ROWS) rows.set(r, samples.get(r) ?? { skip: 'clamd not installed' });
    return { bytes: size, rows };
  } finally {
    await clamEngine?.close?.();
    await clamd?.stop();
  }
}
