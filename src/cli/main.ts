// The CLI entry point: the only place that reads argv. Each command group registers itself from its own file.
import { Command, CommanderError } from 'commander';
import { asShieldError } from '../core/errors.js';
import { registerCaCommands } from './ca-commands.js';
import { registerDashboardCommands } from './dashboard-commands.js';
import { registerInitCommand } from './init-command.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerInterceptCommands } from './intercept-commands.js';
import { registerProbeCommands } from './probe-commands.js';
import { registerQuarantineCommands } from './quarantine-commands.js';
import { registerStartCommand } from './start-command.js';

export function buildProgram(): Command {
  const program = new Command('mailshield')
    .description('Local mail-security proxy for POP3, IMAP and SMTP')
    .version('0.1.0')
    .option('-c, --config <file>', 'configuration file (default: $MAILSHIELD_CONFIG, then ./mailshield.yaml)');
  registerStartCommand(program);
  registerInitCommand(program);
  registerCaCommands(program);
  registerQuarantineCommands(program);
  registerProbeCommands(program);
  registerPolicyCommands(program);
  registerInterceptCommands(program);
  registerDashboardCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    const err = asShieldError(e);
    process.stderr.write(`mailshield: ${err.message} (${err.code})\n`);
    process.exitCode = err.code === 'MS_ERR_INTERNAL' ? 2 : 1;
  }
}
