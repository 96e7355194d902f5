// Combining engine verdicts, and the words verdicts are described with (headers, notices, replies, logs).
import type { Verdict } from './types.js';

/**
 * Rank used to combine verdicts: a finding (infected/blocked) beats an error, which beats clean.
 * - A finding is positive knowledge that the message is dangerous. If one engine failed and another found a virus,
 *   tempfailing would only make the same virus come back on the next fetch; quarantining it is right either way.
 * - An error beats clean because one engine's "clean" does not vouch for what the failed engine would have found:
 *   treating it as clean would be delivering silently unscanned.
 * Between two findings the first in configured engine order wins (the user ordered them by preference).
 */
function rank(v: Verdict): number {
  switch (v.kind) {
    case 'infected':
    case 'blocked':
      return 2;
    case 'error':
      return 1;
    case 'clean':
      return 0;
  }
}

export function combineVerdicts(verdicts: readonly Verdict[]): Verdict {
  let best: Verdict = { kind: 'clean' };
  for (const v of verdicts) if (rank(v) > rank(best)) best = v;
  return best;
}

export function isFinding(v: Verdict): v is Extract<Verdict, { kind: 'infected' | 'blocked' }> {
  return v.kind === 'infected' || v.kind === 'blocked';
}

/** Printable ASCII without `;` or quotes, for a structured header value. */
export function headerToken(s: string, max = 200): string {
  const t = s
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/[;"\\]/g, '_')
    .trim();
  return t.length > max ? t.slice(0, max - 3) + '...' : t;
}

/** The X-MailShield-Verdict header value (without the name). */
export function verdictHeaderValue(v: Verdict, quarantineId?: string): string {
  const q = quarantineId ? `; quarantine=${headerToken(quarantineId)}` : '';
  switch (v.kind) {
    case 'clean':
      return 'clean';
    case 'infected':
      return `infected; engine=${headerToken(v.engine)}; signature=${headerToken(v.signature)}${q}`;
    case 'blocked':
      return `blocked; rule=${headerToken(v.rule)}${v.code ? `; code=${v.code}` : ''}${q}`;
    case 'error':
      return `unscanned; reason=${headerToken(`${v.engine}: ${v.reason}`, 300)}`;
  }
}

/** One sentence for people: what was found and where. */
export function describeVerdict(v: Verdict): string {
  switch (v.kind) {
    case 'clean':
      return 'no threat found';
    case 'infected':
      return `the virus or test signature "${v.signature}" was found in ${v.part} by the ${v.engine} engine`;
    case 'blocked':
      return `${v.part} was blocked by the rule "${v.rule}" of the ${v.engine} engine${v.detail ? ` (${v.detail})` : ''}`;
    case 'error':
      return `the ${v.engine} engine could not scan the message: ${v.reason}`;
  }
}
