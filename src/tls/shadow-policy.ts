// The shadow judgement: a handshake the policy in force accepted is judged a second time, by the same pure
// evaluation functions, under policy.candidate. When the candidate would refuse it, the result says so with the
// explanation the peer would have read. Nothing here touches the connection: the caller only records the result.
// This answers "what would this stricter policy have refused last week?" from real traffic (issue 16).
import { createHash } from 'node:crypto';
import type { ClientPolicyName, PolicyException, UpstreamPolicyName } from '../core/config.js';
import { describeHello, evaluateClientHello, type ClientPolicyDecision } from './client-policy.js';
import type { ClientHelloInfo, WouldRefuse } from '../core/tls-facts.js';
import { evaluateUpstream, type UpstreamEvaluation, type UpstreamFactsInput } from './upstream-policy.js';

/** A client's offer as a short stable id: the same mail client build gives the same id on every connection. */
export function clientFingerprint(info: ClientHelloInfo): string {
  const shape = JSON.stringify([info.versions, info.cipherSuiteNames, info.signatureAlgorithms]);
  return createHash('sha256').update(shape).digest('hex').slice(0, 16);
}

/** The client leg: `inForce` is what the listener decided; only an accepted hello can be a "would refuse". */
export function shadowClient(
  info: ClientHelloInfo,
  inForce: ClientPolicyDecision,
  candidate: ClientPolicyName | undefined,
  listen: string,
): WouldRefuse | null {
  if (!candidate || !inForce.ok) return null;
  const d = evaluateClientHello(info, candidate, listen);
  if (d.ok || !d.refusal) return null;
  return {
    leg: 'client',
    peer: clientFingerprint(info),
    // SNI is where the client connected, not what it is; it stays out of the fingerprint and the label.
    peerLabel: describeHello({ ...info, sni: null }),
    policy: inForce.policy,
    candidate,
    code: d.refusal.code,
    rule: d.refusal.code.replace(/^MS_ERR_CLIENT_TLS_/, 'client-').toLowerCase(),
    explanation: d.refusal.message,
    admit: d.refusal.fix ?? null,
  };
}

/** The upstream leg: the same facts, the same exceptions and the same date, under the candidate profile. */
export function shadowUpstream(
  facts: UpstreamFactsInput,
  inForce: UpstreamEvaluation,
  candidate: UpstreamPolicyName | undefined,
  exceptions: PolicyException[],
  now: Date,
): WouldRefuse | null {
  if (!candidate || inForce.verdict === 'refused') return null;
  const ev = evaluateUpstream(facts, candidate, exceptions, now);
  const f = ev.findings.find((x) => x.level === 'refusal');
  if (!f) return null;
  const where = `${facts.host}:${facts.port}`;
  const hint = f.exceptionHint;
  return {
    leg: 'upstream',
    peer: where,
    peerLabel: facts.servername === facts.host ? where : `${where} (${facts.servername})`,
    policy: inForce.policy,
    candidate,
    code: f.code,
    rule: f.rule,
    explanation: f.message,
    admit: hint ? `policy.exceptions: {host: ${hint.host}, allow: [${hint.allow}], until: ${hint.until}}` : null,
  };
}
