// `mailshield dashboard url` and `mailshield dashboard hash-password`: the login URL of this install's dashboard
// (token from dataDir, address as bound by the running shield, else as configured), and the scrypt hash to put in
// dashboard.passwordHash.
import type { Command } from 'commander';
import { hashPassword } from '../dashboard/auth.js';
import { dashboardUrl, loadOrCreateToken, readBoundAddress } from '../dashboard/server-files.js';
import { loadConfig } from './context.js';

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += (chunk as Buffer).toString('utf8');
  return s.replace(/\r?\n$/, '');
}

export function registerDashboardCommands(program: Command): void {
  const d = program.command('dashboard').description('the web dashboard');
  d.command('url')
    .description('print the URL that opens the dashboard (it carries the access token: keep it private)')
    .action((_o: unknown, cmd: Command) => {
      const { config: configFile } = cmd.optsWithGlobals<{ config?: string }>();
      const loaded = loadConfig({ config: configFile });
      if (!loaded.config.dashboard.enabled) {
        process.stderr.write('mailshield: the dashboard is off (dashboard.enabled: false)\n');
        process.exitCode = 1;
        return;
      }
      // The token is made on first start; making it here too lets the URL be printed before the first start.
      const token = loadOrCreateToken(loaded.dataDir);
      const listen = loaded.config.dashboard.listen;
      const bound = readBoundAddress(loaded.dataDir);
      process.stdout.write(dashboardUrl(bound ?? listen, token) + '\n');
    });
  d.command('hash-password')
    .description('read a password on stdin and print the dashboard.passwordHash value for it (scrypt)')
    .action(async () => {
      const pw = await readStdin();
      if (pw.length < 8) {
        process.stderr.write('mailshield: use a password of at least 8 characters\n');
        process.exitCode = 2;
        return;
      }
      process.stdout.write(hashPassword(pw) + '\n');
    });
}
