// Judges one upstream handshake against a profile (profiles.ts) and the per-host exceptions. Pure: facts, profile,
// exceptions and the date in; findings out. Every refusal names what the server did, what the policy requires and
// the exact setting that would change the outcome, because that text ends up in the mail client's error reply.
// The checks are upstream-checks.ts; what they record is upstream-findings.ts.
import type { PolicyException, UpstreamPolicyName } from '../core/config.js';
import { ShieldError, type ErrorCode } from '../core/errors.js';
import { UPSTREAM_PROFILES } from './profiles.js';
import {
  checkCertStrength,
  checkCipher,
  checkEphemeral,
  checkHandshakeSignature,
  checkProtocol,
  checkVerification,
} from './upstream-checks.js';
import {
  describeException,
  isoDay,
  sameHost,
  type Ctx,
  type UpstreamEvaluation,
  type UpstreamFactsInput,
} from './upstream-findings.js';

export {
  EXCEPTION_HINT_DAYS,
  certSignatureDigest,
  classifyCipher,
  describeException,
  type UpstreamEvaluation,
  type UpstreamFactsInput,
} from './upstream-findings.js';

export function evaluateUpstream(
  facts: UpstreamFactsInput,
  profileName: UpstreamPolicyName,
  exceptions: PolicyException[],
  now: Date,
): UpstreamEvaluation {
  const profile = UPSTREAM_PROFILES[profileName];
  const today = isoDay(now);
  const mine = exceptions.filter((e) => sameHost(e.host, facts.host) || sameHost(e.host, facts.servername));
  const c: Ctx = {
    facts,
    profile,
    now,
    where: `${facts.host}:${facts.port}`,
    // `until` is inclusive: an exception dated today still applies today.
    active: mine.filter((e) => e.until >= today),
    expired: mine.filter((e) => e.until < today),
    applied: new Set(),
    findings: [],
  };
  checkVerification(c);
  checkCertStrength(c);
  const oldAccepted = checkProtocol(c);
  checkCipher(c);
  checkHandshakeSignature(c, oldAccepted);
  checkEphemeral(c);
  const refused = c.findings.some((f) => f.level === 'refusal');
  return {
    policy: profile.name,
    verdict: refused ? 'refused' : c.findings.length ? 'warn' : 'ok',
    // Refusals first, in the order checked (identity before strength before handshake), so [0] is the headline.
    findings: [...c.findings.filter((f) => f.level === 'refusal'), ...c.findings.filter((f) => f.level === 'warning')],
    exceptionsApplied: [...c.applied],
    exceptionsExpired: c.expired.map((e) => describeException(e, e.allow.join(', '))),
  };
}

/** The error a refused evaluation raises: the first refusal, which names the most basic problem. */
export function refusalError(ev: UpstreamEvaluation): ShieldError | null {
  const f = ev.findings.find((x) => x.level === 'refusal');
  return f ? new ShieldError(f.code as ErrorCode, f.message) : null;
}
