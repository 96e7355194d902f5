// `mailshield policy report [--since 7d] [--json]`: what policy.candidate would have refused in real traffic, and
// which exceptions are in use. Reads the store the daemon writes; src/probe builds and renders the report.
// Exit codes: 0 = the candidate would refuse nothing seen, 1 = it would refuse something, 2 = bad arguments.
import { existsSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { asShieldError } from '../core/errors.js';
import { openDb, storePath } from '../store/db.js';
import { buildPolicyReport, loadPolicyReport, parseSince, type PolicyReport } from '../probe/policy-report.js';
import { paintFor } from '../probe/render.js';
import { renderPolicyReportHuman, renderPolicyReportJson } from '../probe/render-policy.js';
import type { Config } from '../core/config.js';
import { loadConfig } from './context.js';

export { parseSince };

/** The report from the store in dataDir, or an empty "nothing recorded" one when there is no store yet. */
export function policyReportFor(config: Config, dataDir: string, since: Date, now: Date): PolicyReport {
  const file = storePath(dataDir);
  if (!existsSync(file)) return buildPolicyReport({ config, wouldRefuse: null, uses: [], since, now });
  const db = openDb(file);
  try {
    return loadPolicyReport(db, config, since, now);
  } finally {
    db.close();
  }
}

interface ReportOpts {
  since: string;
  json?: boolean;
}

function reportAction(o: ReportOpts, cmd: Command): void {
  let report: PolicyReport;
  try {
    const { config: configFile } = cmd.optsWithGlobals<{ config?: string }>();
    const loaded = loadConfig({ config: configFile });
    const now = new Date();
    report = policyReportFor(loaded.config, loaded.dataDir, parseSince(o.since, now), now);
  } catch (e) {
    const err = asShieldError(e);
    process.stderr.write(`mailshield: ${err.message.split('\n')[0]}\n`);
    process.exitCode = 2;
    return;
  }
  process.stdout.write(
    o.json ? renderPolicyReportJson(report) : renderPolicyReportHuman(report, paintFor(process.stdout.isTTY === true)),
  );
  process.exitCode = report.peers.length > 0 ? 1 : 0;
}

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('try a policy on real traffic before it applies');
  policy
    .command('report')
    .description('what policy.candidate would have refused in real traffic, and which exceptions are in use')
    .option('--since <window>', 'how far back: 7d, 12h, 2w, or a date YYYY-MM-DD', '7d')
    .option('--json', 'print the report as JSON')
    .exitOverride((err) => {
      throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
    })
    .action((o: ReportOpts, cmd: Command) => reportAction(o, cmd));
}
