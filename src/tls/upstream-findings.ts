// The vocabulary of the upstream policy's checks: what a check sees (Ctx) and how it records a refusal, a warning or
// a per-host exception it used. Refusal text names what the server did, what the policy requires and the exact
// setting that would change the outcome, because it ends up in the mail client's error reply.
import type { PolicyException, Relaxation } from '../core/config.js';
import type { ErrorCode } from '../core/errors.js';
import type { PolicyFinding, UpstreamHandshakeFacts } from '../core/tls-facts.js';
import type { UpstreamProfile } from './profiles.js';

export type UpstreamFactsInput = Omit<
  UpstreamHandshakeFacts,
  'verdict' | 'findings' | 'exceptionsApplied' | 'exceptionsExpired' | 'policy'
>;
export type UpstreamEvaluation = Pick<
  UpstreamHandshakeFacts,
  'policy' | 'verdict' | 'findings' | 'exceptionsApplied' | 'exceptionsExpired'
>;

/** How far ahead a suggested exception runs: long enough to get the server fixed, short enough to be revisited. */
export const EXCEPTION_HINT_DAYS = 90;

export const isoDay = (d: Date): string => d.toISOString().slice(0, 10);
const addDays = (d: Date, n: number): Date => new Date(d.getTime() + n * 86_400_000);

export function sameHost(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, '') === b.toLowerCase().replace(/\.$/, '');
}

/** The digest a certificate signature name implies, e.g. "sha1WithRSAEncryption" -> "SHA1"; null if none. */
export function certSignatureDigest(name: string): string | null {
  const m = /(md2|md4|md5|sha1|sha224|sha256|sha384|sha512)(?![0-9])/i.exec(name.replace(/sha-/gi, 'sha'));
  return m ? m[1]!.toUpperCase() : null;
}

type CipherClass = { aead: boolean; forwardSecret: boolean; broken: boolean };

/** Classifies an OpenSSL cipher name. TLS 1.3 suites are all AEAD and forward-secret. */
export function classifyCipher(name: string): CipherClass {
  if (name.startsWith('TLS_')) return { aead: true, forwardSecret: true, broken: false };
  const broken = /NULL|RC4|DES|EXP|ADH|AECDH|PSK|SRP|anon|MD5|IDEA/.test(name);
  return {
    aead: /GCM|CHACHA20|CCM/.test(name),
    forwardSecret: /^(ECDHE|DHE|EDH)-/.test(name),
    broken,
  };
}

export interface Ctx {
  facts: UpstreamFactsInput;
  profile: UpstreamProfile;
  now: Date;
  where: string;
  active: PolicyException[];
  expired: PolicyException[];
  applied: Set<string>;
  findings: PolicyFinding[];
}

/**
 * How an exception is named in exceptionsApplied, in logs and as the key of its use count in the store; one
 * relaxation at a time, so doctor can say which part of an entry is still needed.
 */
export const describeException = (e: Pick<PolicyException, 'host' | 'until'>, allow: string): string =>
  `${e.host}: ${allow} until ${e.until}`;

export function refuse(c: Ctx, rule: string, code: ErrorCode, message: string, hint?: Relaxation): void {
  const f: PolicyFinding = { level: 'refusal', rule, code, message };
  if (hint) {
    const until = isoDay(addDays(c.now, EXCEPTION_HINT_DAYS));
    // Exceptions match the configured host or server name; a name outlives the address it resolves to today.
    const host = /^[0-9.]+$|:/.test(c.facts.host) ? c.facts.servername : c.facts.host;
    f.exceptionHint = { host, allow: hint, until };
    const lapsed = c.expired.find((e) => e.allow.includes(hint));
    f.message +=
      `. To accept it for this host only, add to policy.exceptions: ` +
      `{host: ${host}, allow: [${hint}], until: ${until}}` +
      (lapsed ? ` (the exception allowing ${hint} for this host expired on ${lapsed.until})` : '');
  }
  c.findings.push(f);
}

export function warn(c: Ctx, rule: string, code: ErrorCode, message: string): void {
  c.findings.push({ level: 'warning', rule, code, message });
}

/** Applies an active exception for `allow` if one exists, recording it; returns the exception. */
export function useException(c: Ctx, allow: Relaxation): PolicyException | undefined {
  const e = c.active.find((x) => x.allow.includes(allow));
  if (e) c.applied.add(describeException(e, allow));
  return e;
}
