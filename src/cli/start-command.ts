// `mailshield start`: runs every configured account until SIGINT/SIGTERM. With no configuration file at all it runs
// the embedded demo instead (src/demo), and with one, nothing of the demo starts.
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { asShieldError } from '../core/errors.js';
import { shellQuote } from '../demo/banner.js';
import { startDemo } from '../demo/run-demo.js';
import { startMailshield } from '../dashboard/run.js';
import { loadConfig } from './context.js';
import { createLogger } from './logging.js';

/**
 * How the user runs this CLI, for commands the demo banner prints: `npx mailshield` inside the package folder (what
 * `npm start` users have), the bare name when it came from PATH, otherwise node and the script's path.
 */
export function cliInvocation(script: string | undefined, cwd = process.cwd()): string {
  if (!script) return 'npx mailshield';
  const bin = resolve(script);
  if (!bin.endsWith('.js')) return basename(bin);
  const root = resolve(dirname(bin), '..');
  if (root === resolve(cwd) && existsSync(join(root, 'package.json'))) return 'npx mailshield';
  return `node ${shellQuote(bin)}`;
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start every configured account (listeners, TLS on both legs, scanning)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { config: configFile } = cmd.optsWithGlobals<{ config?: string }>();
      const loaded = loadConfig({ config: configFile });
      const log = createLogger({ level: loaded.config.log.level, format: loaded.config.log.format });
      let shield: { stop(): Promise<void> };
      let announce: () => void;
      try {
        if (loaded.file === null) {
          // No configuration at all: a new user. Run the embedded demo so the shield can be seen working at once.
          const demo = await startDemo({ dataDir: loaded.dataDir, log, cli: cliInvocation(process.argv[1]) });
          announce = () => process.stdout.write(demo.banner);
          shield = demo;
        } else {
          const m = await startMailshield(loaded, { log });
          const s = m.shield;
          announce = () =>
            process.stderr.write(
              `mailshield ${s.listeners.length || s.intercept ? 'listening' : 'running'}; CA certificate: ${s.ca.certPath}\n` +
                s.listeners.map((l) => `  ${l.account} (${l.protocol}) on ${l.host}:${l.port}\n`).join('') +
                (s.intercept ? `  intercept mode on ${s.intercept.host}:${s.intercept.port} (rules installed)\n` : '') +
                (m.dashboard
                  ? `  dashboard: ${m.dashboard.url}\n`
                  : m.dashboardError
                    ? `  dashboard not running: ${m.dashboardError.message} (${m.dashboardError.code})\n`
                    : ''),
            );
          shield = m;
        }
      } catch (e) {
        const err = asShieldError(e);
        process.stderr.write(`mailshield: ${err.message} (${err.code})\n`);
        process.exitCode = 1;
        return;
      }
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string) => {
          log.info({ signal: sig }, 'signal received');
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          shield.stop().then(resolve, resolve);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        // Only now say we are up: a supervisor (or test) that signals as soon as it reads this must find the
        // handlers in place, or the default action kills the process without a clean stop.
        announce();
      });
    });
}
