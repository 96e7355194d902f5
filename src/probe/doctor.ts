// `mailshield doctor`: before a policy change goes live, which accounts and which mail clients would break? Every
// account's upstream is probed once and judged under the current and the candidate policy; recorded ClientHellos
// are judged under the current and candidate policy.client; exceptions about to lapse and the local set-up are
// checked too. The result is an object; render-doctor.ts prints it.
import type { ClientPolicyName, Config, PolicyException, UpstreamPolicyName } from '../core/config.js';
import { splitHostPort } from '../core/hosts.js';
import { checkCa, checkClamd, checkListener, type CheckStatus, type LocalCheck } from '../io/doctor-local.js';
import { checkCaNames, checkIntercept } from '../io/intercept/doctor-checks.js';
import { refusedClients, type ClientHelloRow, type RefusedClient } from './client-leg.js';
import { runProbe } from './probe.js';
import type { PolicyReport } from './policy-report.js';
import type { ProbeResult, ProfileVerdict } from './result.js';

/** How far back recorded clients count, and how far ahead a lapsing exception is worth a line. */
export const CLIENT_WINDOW_DAYS = 30;
export const EXCEPTION_WARN_DAYS = 30;

export interface AccountRow {
  account: string;
  upstream: string;
  status: CheckStatus;
  /** Status under the configured policy, when a candidate policy is being tried. */
  currentStatus: CheckStatus | null;
  reason: string;
  fix: string | null;
  tls: ProbeResult['tls'];
}

export interface ExceptionRow {
  host: string;
  allow: string[];
  until: string;
  daysLeft: number;
  reason: string | null;
}

export interface DoctorReport {
  policy: {
    upstream: UpstreamPolicyName;
    upstreamCandidate: boolean;
    client: ClientPolicyName;
    clientCandidate: boolean;
  };
  accounts: AccountRow[];
  /** Clients from the last CLIENT_WINDOW_DAYS that policy.client (candidate or current) would refuse. */
  clients: RefusedClient[];
  /** False when there is no store yet, so nothing was recorded. */
  clientsRecorded: boolean;
  exceptions: ExceptionRow[];
  /** What policy.candidate would have refused in real traffic, and exception uses (policy-report.ts). */
  traffic: PolicyReport;
  local: LocalCheck[];
  exitCode: number;
}

export interface DoctorInput {
  config: Config;
  dataDir: string;
  /** Trust anchors per account (upstreamCa read by the CLI), by account name. */
  extraCa: Record<string, string[]>;
  policy: UpstreamPolicyName | null;
  clientPolicy: ClientPolicyName | null;
  /** Recorded ClientHellos, or null when there is no store. */
  helloRows: ClientHelloRow[] | null;
  /** The store's policy report for the last CLIENT_WINDOW_DAYS (read by the CLI). */
  traffic: PolicyReport;
  now: Date;
  timeoutMs: number;
}

const DAY = 86_400_000;

function fixFor(v: ProfileVerdict, r: ProbeResult): string | null {
  const hint = v.exceptionHints[0];
  if (hint) return `add to policy.exceptions: {host: ${hint.host}, allow: [${hint.allow}], until: ${hint.until}}`;
  const rule = v.rules[0] ?? '';
  if (rule === 'unreachable') return "check the account's upstream host and port, and that this machine can reach it";
  if (rule === 'starttls-not-offered' || rule === 'starttls-refused' || rule === 'starttls-failed')
    return 'if the server speaks implicit TLS on another port (995/993/465), point upstream there with upstreamTls: implicit';
  if (rule === 'preauth') return "use the server's implicit-TLS port (993) with upstreamTls: implicit";
  if (rule.startsWith('cert-') || rule.startsWith('pin-') || rule === 'handshake')
    return 'see the reason; run `mailshield probe ' + `${r.target.host}:${r.target.port}\` for details`;
  return null;
}

/** One account's row under one profile. */
export function accountStatus(
  r: ProbeResult,
  policy: UpstreamPolicyName,
): { status: CheckStatus; reason: string; fix: string | null } {
  const v = r.profiles[policy];
  if (!v.ok) return { status: 'FAIL', reason: v.reasons[0] ?? 'refused', fix: fixFor(v, r) };
  if (v.verdict === 'warn' || v.exceptionsApplied.length) {
    const sha1 = v.rules.includes('handshake-signature-sha1');
    return {
      status: 'WARN',
      reason: v.exceptionsApplied.length
        ? `accepted only because of policy.exceptions (${v.exceptionsApplied.join('; ')})`
        : (v.warnings[0] ?? 'accepted with a warning'),
      fix: sha1
        ? `ask the operator of ${r.target.servername} to enable SHA-256 handshake signatures; policy 'strict' would refuse it`
        : v.exceptionsApplied.length
          ? 'remove the exception once the server is fixed'
          : null,
    };
  }
  const t = r.tls;
  return {
    status: 'OK',
    reason: `${t.protocol}, ${t.cipher}, ${t.peerSignatureType ?? '?'}+${t.peerSigningDigest ?? '?'}, ${t.serverTempKey ?? '?'}`,
    fix: null,
  };
}

export function lapsingExceptions(exceptions: PolicyException[], now: Date): ExceptionRow[] {
  const today = now.toISOString().slice(0, 10);
  const horizon = new Date(now.getTime() + EXCEPTION_WARN_DAYS * DAY).toISOString().slice(0, 10);
  return exceptions
    .filter((e) => e.until <= horizon)
    .map((e) => ({
      host: e.host,
      allow: [...e.allow],
      until: e.until,
      daysLeft: Math.round((Date.parse(`${e.until}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / DAY),
      reason: e.reason ?? null,
    }))
    .sort((a, b) => a.daysLeft - b.daysLeft);
}

export async function runDoctor(i: DoctorInput): Promise<DoctorReport> {
  const cfg = i.config;
  const policy = i.policy ?? cfg.policy.upstream;
  const clientPolicy = i.clientPolicy ?? cfg.policy.client;
  const accounts = await Promise.all(
    cfg.accounts.map(async (a): Promise<AccountRow> => {
      const { host, port } = splitHostPort(a.upstream);
      const r = await runProbe({
        account: a.name,
        host,
        port,
        servername: a.upstreamServername ?? host,
        mode: a.upstreamTls,
        protocol: a.protocol,
        extraCa: i.extraCa[a.name] ?? [],
        pin: a.upstreamPin,
        policy,
        exceptions: cfg.policy.exceptions,
        now: i.now,
        timeoutMs: i.timeoutMs,
        greetingTimeoutMs: i.timeoutMs,
        trials: false,
        talkAfterTls: false,
      });
      const s = accountStatus(r, policy);
      return {
        account: a.name,
        upstream: a.upstream,
        ...s,
        currentStatus: policy !== cfg.policy.upstream ? accountStatus(r, cfg.policy.upstream).status : null,
        tls: r.tls,
      };
    }),
  );

  const since = new Date(i.now.getTime() - CLIENT_WINDOW_DAYS * DAY);
  const clients = i.helloRows ? refusedClients(i.helloRows, clientPolicy, since) : [];

  const local: LocalCheck[] = [
    ...(await checkCa(i.dataDir)),
    ...(await checkCaNames(i.dataDir, cfg)),
    ...checkIntercept(cfg),
  ];
  for (const a of cfg.accounts) local.push(await checkListener(a, i.dataDir));
  if (cfg.scan.engines.includes('clamd'))
    local.push(await checkClamd(cfg.scan.clamd.address, Math.min(i.timeoutMs, 5000)));

  const failed = accounts.some((a) => a.status === 'FAIL') || local.some((l) => l.status === 'FAIL');
  return {
    policy: {
      upstream: policy,
      upstreamCandidate: policy !== cfg.policy.upstream,
      client: clientPolicy,
      clientCandidate: clientPolicy !== cfg.policy.client,
    },
    accounts,
    clients,
    clientsRecorded: i.helloRows !== null,
    exceptions: lapsingExceptions(cfg.policy.exceptions, i.now),
    traffic: i.traffic,
    local,
    exitCode: failed ? 1 : 0,
  };
}
