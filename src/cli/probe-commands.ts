// `mailshield probe` and `mailshield doctor`: argv, config and files in; src/probe does the work; one line on error.
// Exit codes: probe 0 = acceptable under the policy, 1 = refused, 2 = unreachable or bad arguments;
// doctor 0 = no account would fail, 1 = some would (or a local check failed), 2 = bad arguments or config.
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CLIENT_POLICIES, UPSTREAM_POLICIES, type ClientPolicyName, type UpstreamPolicyName } from '../core/config.js';
import { asShieldError } from '../core/errors.js';
import { openDb, storePath } from '../store/db.js';
import type { ClientHelloRow } from '../probe/client-leg.js';
import { CLIENT_WINDOW_DAYS, runDoctor } from '../probe/doctor.js';
import { modeForPort, type MailProtocol } from '../protocols/mail-dialog.js';
import { runProbe } from '../probe/probe.js';
import { paintFor, renderProbeHuman, renderProbeJson } from '../probe/render.js';
import { renderDoctorHuman, renderDoctorJson } from '../probe/render-doctor.js';
import { loadConfig } from './context.js';
import { policyReportFor } from './policy-commands.js';

const DEFAULT_PORTS: Record<MailProtocol, number> = { pop3: 110, imap: 143, smtp: 587 };

class UsageError extends Error {}

/** HOST[:PORT], with IPv6 in brackets. */
export function parseTarget(s: string, starttls: MailProtocol | undefined): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:[\]\s]+)(?::(\d+))?$/.exec(s);
  if (!m) throw new UsageError(`expected HOST[:PORT] (IPv6 as [::1]:995), found "${s}"`);
  if (m[2] === undefined) {
    if (!starttls) throw new UsageError(`no port in "${s}": give HOST:PORT, or --starttls to use its usual port`);
    return { host: m[1]!, port: DEFAULT_PORTS[starttls] };
  }
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new UsageError(`port ${m[2]} is out of range`);
  return { host: m[1]!, port };
}

interface ProbeOpts {
  starttls?: MailProtocol;
  servername?: string;
  ca?: string[];
  policy?: UpstreamPolicyName;
  json?: boolean;
  timeout: string;
}

interface DoctorOpts {
  policy?: UpstreamPolicyName;
  clientPolicy?: ClientPolicyName;
  json?: boolean;
  timeout: string;
}

const fail = (code: number, msg: string) => {
  process.stderr.write(`mailshield: ${msg.split('\n')[0]}\n`);
  process.exitCode = code;
};

/** Commander's own usage errors (unknown option, bad choice) exit 2 like ours; help and version stay 0. */
function usageExit2(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
  });
}

function readPems(files: string[]): string[] {
  return files.map((f) => {
    if (!existsSync(f)) throw new UsageError(`--ca ${f}: no such file`);
    return readFileSync(f, 'utf8');
  });
}

function timeoutOf(s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < 100) throw new UsageError(`--timeout expects milliseconds (>= 100), found "${s}"`);
  return n;
}

async function probeAction(target: string, o: ProbeOpts, cmd: Command): Promise<void> {
  let req;
  try {
    const { config: configFile } = cmd.optsWithGlobals<{ config?: string }>();
    const loaded = loadConfig({ config: configFile });
    const { host, port } = parseTarget(target, o.starttls);
    const implied = modeForPort(port);
    const mode = o.starttls ? 'starttls' : implied.mode;
    const protocol = o.starttls ?? implied.protocol;
    const servername = o.servername ?? host;
    req = {
      account: 'probe',
      host,
      port,
      servername,
      mode,
      protocol,
      extraCa: readPems(o.ca ?? []),
      policy: o.policy ?? loaded.config.policy.upstream,
      exceptions: loaded.config.policy.exceptions,
      now: new Date(),
      timeoutMs: timeoutOf(o.timeout),
      greetingTimeoutMs: 1000,
      trials: true,
      talkAfterTls: true,
    } as const;
  } catch (e) {
    fail(2, e instanceof UsageError ? e.message : asShieldError(e).message);
    return;
  }
  const result = await runProbe({ ...req });
  // Unreachable is one line on stderr; JSON consumers still get the object, with reachable: false.
  if (o.json) process.stdout.write(renderProbeJson(result));
  else if (result.reachable) process.stdout.write(renderProbeHuman(result, paintFor(process.stdout.isTTY === true)));
  if (!result.reachable) {
    fail(2, `${req.host}:${req.port} unreachable: ${result.error ?? 'no answer'}`);
    return;
  }
  process.exitCode = result.acceptable ? 0 : 1;
}

function readHelloRows(dataDir: string, now: Date): ClientHelloRow[] | null {
  const file = storePath(dataDir);
  if (!existsSync(file)) return null;
  const db = openDb(file);
  try {
    const since = new Date(now.getTime() - CLIENT_WINDOW_DAYS * 86_400_000).toISOString();
    return db
      .prepare(
        `SELECT account, listener, client_address, at, versions_json, ciphers_json, sigalgs_json, groups_json, sni,
                alpn_json FROM client_hellos WHERE at >= ? ORDER BY at DESC`,
      )
      .all(since) as ClientHelloRow[];
  } finally {
    db.close();
  }
}

async function doctorAction(o: DoctorOpts, cmd: Command): Promise<void> {
  let input;
  try {
    const { config: configFile } = cmd.optsWithGlobals<{ config?: string }>();
    const loaded = loadConfig({ config: configFile });
    const now = new Date();
    const extraCa: Record<string, string[]> = {};
    for (const a of loaded.config.accounts) {
      if (a.upstreamCa) {
        const f = loaded.resolvePath(a.upstreamCa);
        if (!existsSync(f)) throw new UsageError(`accounts ${a.name}: upstreamCa ${f} does not exist`);
        extraCa[a.name] = [readFileSync(f, 'utf8')];
      }
    }
    input = {
      config: loaded.config,
      dataDir: loaded.dataDir,
      extraCa,
      policy: o.policy ?? null,
      clientPolicy: o.clientPolicy ?? null,
      helloRows: readHelloRows(loaded.dataDir, now),
      traffic: policyReportFor(
        loaded.config,
        loaded.dataDir,
        new Date(now.getTime() - CLIENT_WINDOW_DAYS * 86_400_000),
        now,
      ),
      now,
      timeoutMs: timeoutOf(o.timeout),
    };
  } catch (e) {
    const err = e instanceof UsageError ? e : asShieldError(e);
    fail(2, `${err.message}${'code' in err ? ` (${String(err.code)})` : ''}`);
    return;
  }
  const report = await runDoctor(input);
  process.stdout.write(
    o.json ? renderDoctorJson(report) : renderDoctorHuman(report, paintFor(process.stdout.isTTY === true)),
  );
  process.exitCode = report.exitCode;
}

export function registerProbeCommands(program: Command): void {
  usageExit2(
    program
      .command('probe')
      .description("show a mail server's TLS facts and how each upstream profile judges them")
      .argument('<host[:port]>', 'server; 995/993/465 mean implicit TLS, 110/143/25/587 STARTTLS')
      .addOption(
        new Option('--starttls <protocol>', 'use STARTTLS with this protocol').choices(['pop3', 'imap', 'smtp']),
      )
      .option('--servername <name>', 'name for SNI and certificate checking (default: the host)')
      .option(
        '--ca <file>',
        'extra trust anchor (PEM), like upstreamCa; repeatable',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .addOption(
        new Option('--policy <profile>', 'judge under this upstream profile (default: policy.upstream)').choices([
          ...UPSTREAM_POLICIES,
        ]),
      )
      .option('--json', 'print the result as JSON')
      .option('--timeout <ms>', 'per-connection timeout', '10000')
      .action((target: string, o: ProbeOpts, cmd: Command) => probeAction(target, o, cmd)),
  );

  usageExit2(
    program
      .command('doctor')
      .description(
        'check every account, recorded mail clients, exceptions and the local set-up under a (candidate) policy',
      )
      .addOption(
        new Option('--policy <profile>', 'candidate upstream profile (default: policy.upstream)').choices([
          ...UPSTREAM_POLICIES,
        ]),
      )
      .addOption(
        new Option('--client-policy <profile>', 'candidate client profile (default: policy.client)').choices([
          ...CLIENT_POLICIES,
        ]),
      )
      .option('--json', 'print the report as JSON')
      .option('--timeout <ms>', 'per-connection timeout', '10000')
      .action((o: DoctorOpts, cmd: Command) => doctorAction(o, cmd)),
  );
}
