// `mailshield start`: runs every configured account until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { asShieldError } from '../core/errors.js';
import { startShield } from '../io/server.js';
import { loadConfig } from './context.js';
import { createLogger } from './logging.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start every configured account (listeners, TLS on both legs, scanning)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { config: configFile } = cmd.optsWithGlobals<{ config?: string }>();
      const loaded = loadConfig({ config: configFile });
      const log = createLogger({ level: loaded.config.log.level, format: loaded.config.log.format });
      if (loaded.file === null) {
        process.stderr.write(
          'mailshield: no configuration file (--config, MAILSHIELD_CONFIG or ./mailshield.yaml); ' +
            'starting on embedded defaults with no accounts. Run `mailshield init` to write a template.\n',
        );
      }
      let shield;
      try {
        shield = await startShield(loaded, { log });
      } catch (e) {
        const err = asShieldError(e);
        process.stderr.write(`mailshield: ${err.message} (${err.code})\n`);
        process.exitCode = 1;
        return;
      }
      process.stderr.write(
        `mailshield ${shield.listeners.length ? 'listening' : 'running'}; CA certificate: ${shield.ca.certPath}\n` +
          shield.listeners.map((l) => `  ${l.account} (${l.protocol}) on ${l.host}:${l.port}\n`).join(''),
      );
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string) => {
          log.info({ signal: sig }, 'signal received');
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          shield.stop().then(resolve, resolve);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
    });
}
