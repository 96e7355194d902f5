// The shield under soak, in its own process so its fds, RSS and event loop are its own. Started by soak/shield.ts with
// a JSON spec file; answers { type: 'stats' } with its event-loop delay (monitorEventLoopDelay) and memory, so the
// soak can show the loop stayed responsive under load. SIGKILL-able at any moment (the crash phase does that).
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { LoadedConfig } from '../src/cli/context.js';
import { validateConfig } from '../src/core/config.js';
import type { Logger } from '../src/core/logger.js';
import { startShield } from '../src/io/server.js';

export type SoakChildMessage =
  | { type: 'ready'; caPem: string; listeners: { account: string; port: number }[] }
  | {
      type: 'stats';
      rss: number;
      heapUsed: number;
      connections: number;
      eldP50Ms: number;
      eldP99Ms: number;
      eldMaxMs: number;
    };

function stderrLogger(): Logger {
  const quiet = () => undefined;
  const err = (o: object | string, msg?: string) =>
    process.stderr.write(`[shield ${process.pid}] ${msg ?? ''} ${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
  const l: Logger = { debug: quiet, info: quiet, warn: process.env.SOAK_LOG ? err : quiet, error: err, child: () => l };
  return l;
}

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { config: { dataDir: string } };
  const config = validateConfig(spec.config, 'soak');
  const loaded: LoadedConfig = { config, file: null, dataDir: spec.config.dataDir, resolvePath: (p) => p };
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const shield = await startShield(loaded, { log: stderrLogger() });
  const send = (m: SoakChildMessage) => process.send?.(m);
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      (globalThis as { gc?: () => void }).gc?.();
      const u = process.memoryUsage();
      send({
        type: 'stats',
        rss: u.rss,
        heapUsed: u.heapUsed,
        connections: shield.connections(),
        eldP50Ms: eld.percentile(50) / 1e6,
        eldP99Ms: eld.percentile(99) / 1e6,
        eldMaxMs: eld.max / 1e6,
      });
    } else if (m.type === 'reset-eld') eld.reset();
    else if (m.type === 'stop') void shield.stop().then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  send({
    type: 'ready',
    caPem: shield.ca.certPem,
    listeners: shield.listeners.map((l) => ({ account: l.account, port: l.port })),
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`[shield] failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
