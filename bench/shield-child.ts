// The shield under test, in its own process: its CPU is its own core's worth and its RSS is its own, not the
// benchmark client's. Started by bench/procs.ts with a JSON file: { config, scanOff }. "Scanning off" is the
// startShield scanner override that releases everything, so relay cost and scan cost can be told apart.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { LoadedConfig } from '../src/cli/context.js';
import { validateConfig } from '../src/core/config.js';
import type { Logger } from '../src/core/logger.js';
import { startDashboardFor } from '../src/dashboard/run.js';
import { startShield } from '../src/io/server.js';
import type { Scanner } from '../src/scan/types.js';

export interface ChildSpec {
  config: Record<string, unknown> & { dataDir: string };
  scanOff: boolean;
  /** Also serve the dashboard (on 127.0.0.1:0), as `mailshield start` does. */
  dashboard?: boolean;
}

export type ChildMessage =
  | {
      type: 'ready';
      caPem: string;
      listeners: { account: string; port: number }[];
      dashboard: { port: number; token: string } | null;
    }
  | { type: 'mem'; rss: number; heapUsed: number; external: number; arrayBuffers: number; connections: number }
  /** Event-loop delay since the last 'eld-reset' (perf_hooks.monitorEventLoopDelay), in ms. */
  | { type: 'eld'; p50: number; p99: number; max: number };

const releaseAll: Scanner = { scan: async () => ({ action: 'release', verdict: { kind: 'clean' } }) };

/** Errors only: a benchmark's log is noise, but a crash or refusal must be visible. */
function stderrLogger(): Logger {
  const quiet = () => undefined;
  const err = (o: object | string, msg?: string) =>
    process.stderr.write(`[shield] ${msg ?? ''} ${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
  const verbose = process.env.BENCH_LOG === '1';
  const l: Logger = {
    debug: quiet,
    info: quiet,
    warn: verbose ? err : quiet,
    error: err,
    child: () => l,
  };
  return l;
}

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildSpec;
  const config = validateConfig(
    { ...spec.config, dashboard: { enabled: spec.dashboard === true, listen: '127.0.0.1:0' } },
    'bench',
  );
  const loaded: LoadedConfig = { config, file: null, dataDir: spec.config.dataDir, resolvePath: (p) => p };
  const log = stderrLogger();
  const shield = await startShield(loaded, { log, ...(spec.scanOff ? { scanner: releaseAll } : {}) });
  const { dashboard } = await startDashboardFor(shield, loaded, { log });
  const send = (m: ChildMessage) => process.send?.(m);
  // W9: how long the event loop that relays every session was blocked (sampled every 5 ms).
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  process.on('message', (m: { type: string }) => {
    if (m.type === 'mem') {
      (globalThis as { gc?: () => void }).gc?.();
      const u = process.memoryUsage();
      send({ type: 'mem', ...u, connections: shield.connections() });
    } else if (m.type === 'eld-reset') {
      eld.reset();
    } else if (m.type === 'eld') {
      const ms = (ns: number) => ns / 1e6;
      send({ type: 'eld', p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) });
    } else if (m.type === 'stop') {
      void (dashboard?.close() ?? Promise.resolve()).then(() => shield.stop()).then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({
    type: 'ready',
    caPem: shield.ca.certPem,
    listeners: shield.listeners.map((l) => ({ account: l.account, port: l.port })),
    dashboard: dashboard ? { port: dashboard.port, token: dashboard.token } : null,
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`[shield] failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
