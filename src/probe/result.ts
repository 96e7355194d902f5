// The probe's result object, and its assembly from what the connections saw. Pure: the facts, the exceptions and
// the date in, verdicts out. The JSON form of ProbeResult is the `--json` contract (issue 7); renderers only format
// it, so the human table and the JSON can never disagree.
import type { PolicyException, UpstreamPolicyName } from '../core/config.js';
import { UPSTREAM_POLICIES } from '../core/config.js';
import type { CertSummary, PolicyFinding } from '../core/tls-facts.js';
import { TLS_VERSIONS, type TlsVersionName } from '../tls/names.js';
import { evaluateUpstream, type UpstreamFactsInput, type UpstreamEvaluation } from '../tls/upstream-policy.js';
import {
  starttlsFindings,
  type HygieneFinding,
  type MailProtocol,
  type Reply,
  type StarttlsTranscript,
} from '../protocols/mail-dialog.js';
import type { Trial } from '../io/probe-tls.js';

export type { Trial };

export interface ProfileVerdict {
  /** Whether the proxy would connect under this profile (a warning still connects). */
  ok: boolean;
  verdict: 'ok' | 'warn' | 'refused';
  /** Why it is refused, one sentence per broken rule; empty when ok. */
  reasons: string[];
  /** Accepted, but worth knowing (e.g. a SHA-1 handshake signature under balanced). */
  warnings: string[];
  /** The rules broken, as ids ("handshake-signature-sha1", "cert-expired", "starttls-not-offered", ...). */
  rules: string[];
  /** The policy.exceptions entries that would admit the server, when an exception can. */
  exceptionHints: { host: string; allow: string; until: string }[];
  exceptionsApplied: string[];
  exceptionsExpired: string[];
}

export interface ProbeResult {
  target: {
    host: string;
    port: number;
    servername: string;
    mode: 'implicit' | 'starttls';
    protocol: MailProtocol | null;
  };
  /** False when no TCP connection could be made, or the server never spoke its protocol. */
  reachable: boolean;
  /** One line: why the probe could not run (unreachable, no greeting); null otherwise. */
  error: string | null;
  greeting: string | null;
  capabilitiesBeforeTls: string[] | null;
  capabilitiesAfterTls: string[] | null;
  tls: {
    protocol: string | null;
    cipher: string | null;
    peerSigningDigest: string | null;
    peerSignatureType: string | null;
    serverTempKey: string | null;
    /** Why the main handshake failed, if it did. */
    error: string | null;
  };
  /** Which versions the server accepts, by trial handshakes (min = max = that version). */
  versions: Record<TlsVersionName, boolean>;
  versionTrials: Record<TlsVersionName, Trial> | null;
  /** The handshake when mailshield offers TLS 1.2 signature schemes without SHA-1; null if not tried. */
  withoutSha1: Trial | null;
  certificates: CertSummary[];
  hostname: { name: string; matches: boolean | null; error: string | null };
  verification: { ok: boolean; errors: string[]; codes: string[] };
  profiles: Record<UpstreamPolicyName, ProfileVerdict>;
  /** The profile that decides the exit code (--policy, or the configured policy.upstream). */
  policy: UpstreamPolicyName;
  acceptable: boolean;
  findings: HygieneFinding[];
}

/** Everything the connections learnt; io/probe-tls.ts's MainConnection has this shape. */
export interface Observations {
  plain: StarttlsTranscript | null;
  tlsAttempted: boolean;
  facts: UpstreamFactsInput | null;
  dialogError: { message: string } | null;
  handshakeError: { message: string; code: string } | null;
  secure: { greeting: Reply | null; capabilities: string[] | null; protocol: MailProtocol | null } | null;
}

export interface AssembleInput {
  target: ProbeResult['target'];
  /** Null when the TCP connection failed. */
  main: Observations | null;
  connectError: string | null;
  versionTrials: Record<TlsVersionName, Trial> | null;
  withoutSha1: Trial | null;
  policy: UpstreamPolicyName;
  exceptions: PolicyException[];
  now: Date;
}

const VERIFICATION_RULES = /^(cert-|pin-)/;

function verdictOf(
  ev: UpstreamEvaluation | null,
  blocking: { rule: string; message: string }[],
  hygieneWarnings: string[],
): ProfileVerdict {
  const findings: PolicyFinding[] = ev?.findings ?? [];
  const refusals = [...blocking, ...findings.filter((f) => f.level === 'refusal')];
  const warnings = [...findings.filter((f) => f.level === 'warning').map((f) => f.message), ...hygieneWarnings];
  const ok = refusals.length === 0;
  return {
    ok,
    verdict: !ok ? 'refused' : warnings.length ? 'warn' : 'ok',
    reasons: refusals.map((f) => f.message),
    warnings,
    rules: [...refusals, ...findings.filter((f) => f.level === 'warning')].map((f) => f.rule),
    exceptionHints: findings.flatMap((f) => (f.level === 'refusal' && f.exceptionHint ? [f.exceptionHint] : [])),
    exceptionsApplied: ev?.exceptionsApplied ?? [],
    exceptionsExpired: ev?.exceptionsExpired ?? [],
  };
}

export function assembleProbe(i: AssembleInput): ProbeResult {
  const m = i.main;
  const facts = m?.facts ?? null;
  const findings = m?.plain ? starttlsFindings(m.plain) : [];
  // A greeting over TLS (implicit) wins; before TLS (STARTTLS) it is the only one.
  const greetingReply = m?.plain?.greeting ?? m?.secure?.greeting ?? null;
  const reachable = m !== null && m.dialogError === null;
  const handshakeOk = facts !== null && m?.handshakeError === null && m.tlsAttempted;

  // What stops the connection before any TLS rule is looked at: no TLS at all, a failed handshake, a downgrade.
  const blocking: { rule: string; message: string }[] = findings
    .filter((f) => f.level === 'refusal')
    .map((f) => ({ rule: f.rule, message: f.message }));
  if (m && reachable && !m.tlsAttempted && blocking.length === 0) {
    blocking.push({ rule: 'starttls-failed', message: 'the STARTTLS exchange did not reach TLS' });
  }
  if (m?.tlsAttempted && m.handshakeError) blocking.push({ rule: 'handshake', message: m.handshakeError.message });
  if (!reachable) {
    blocking.push({ rule: 'unreachable', message: i.connectError ?? m?.dialogError?.message ?? 'not reachable' });
  }
  const hygieneWarnings = findings.filter((f) => f.level === 'warning').map((f) => f.message);

  const profiles = {} as Record<UpstreamPolicyName, ProfileVerdict>;
  for (const name of UPSTREAM_POLICIES) {
    const ev = handshakeOk && facts ? evaluateUpstream(facts, name, i.exceptions, i.now) : null;
    profiles[name] = verdictOf(ev, blocking, hygieneWarnings);
  }

  // Certificate rules are the same in every profile, so strict's evaluation lists them all.
  const certFindings =
    handshakeOk && facts
      ? evaluateUpstream(facts, 'strict', [], i.now).findings.filter(
          (f) => f.level === 'refusal' && VERIFICATION_RULES.test(f.rule),
        )
      : [];
  const verification = handshakeOk
    ? {
        ok: certFindings.length === 0,
        errors: certFindings.map((f) => f.message),
        codes: certFindings.map((f) => f.code),
      }
    : {
        ok: false,
        errors: [m?.handshakeError?.message ?? i.connectError ?? m?.dialogError?.message ?? 'no TLS handshake'],
        codes: [m?.handshakeError?.code ?? 'MS_ERR_UPSTREAM_TLS_HANDSHAKE'],
      };

  const versions = Object.fromEntries(
    TLS_VERSIONS.map((v) => [v, i.versionTrials ? i.versionTrials[v].ok : facts?.protocol === v]),
  ) as Record<TlsVersionName, boolean>;

  return {
    target: {
      ...i.target,
      protocol: i.target.protocol ?? m?.secure?.protocol ?? null,
    },
    reachable,
    error: reachable ? null : (i.connectError ?? m?.dialogError?.message ?? 'not reachable'),
    greeting: greetingReply ? greetingReply.lines.join('\n') : null,
    capabilitiesBeforeTls: m?.plain?.capabilities ?? null,
    capabilitiesAfterTls: m?.secure?.capabilities ?? null,
    tls: {
      protocol: facts?.protocol ?? null,
      cipher: facts?.cipher ?? null,
      peerSigningDigest: facts?.peerSigningDigest ?? null,
      peerSignatureType: facts?.peerSignatureType ?? null,
      serverTempKey: facts?.serverTempKey ?? null,
      error: m?.handshakeError?.message ?? null,
    },
    versions,
    versionTrials: i.versionTrials,
    withoutSha1: i.withoutSha1,
    certificates: facts?.chain ?? [],
    hostname: {
      name: i.target.servername,
      matches: facts?.verification ? facts.verification.hostnameError === null : null,
      error: facts?.verification?.hostnameError ?? null,
    },
    verification,
    profiles,
    policy: i.policy,
    acceptable: profiles[i.policy].ok,
    findings,
  };
}
