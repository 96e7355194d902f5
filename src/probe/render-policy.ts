// Renders a policy report (policy-report.ts): what the candidate would refuse in real traffic, then the exceptions
// in use. Pure. Doctor prints the same sections through candidateSection() and exceptionSection().
import type { Paint } from './render.js';
import { daysAgo, type PolicyReport } from './policy-report.js';

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

function candidateWords(r: PolicyReport): string {
  const c = r.candidate;
  const parts = [
    c.client ? `client '${c.client}' (now '${r.policy.client}')` : null,
    c.upstream ? `upstream '${c.upstream}' (now '${r.policy.upstream}')` : null,
  ].filter((x): x is string => x !== null);
  return parts.join(', ');
}

/** "Seen in real traffic under the candidate": one entry per peer, most often seen first. */
export function candidateSection(r: PolicyReport, p: Paint): string[] {
  const out = [p.bold(`Seen in real traffic under the candidate since ${r.since.slice(0, 10)}`)];
  if (!r.candidate.client && !r.candidate.upstream) {
    out.push(p.dim('  (no policy.candidate configured: set policy.candidate.client and/or .upstream to try one)'));
    return out;
  }
  out.push(`  candidate: ${candidateWords(r)}`);
  if (!r.recorded) out.push(p.dim('  (no store yet: nothing recorded)'));
  else if (r.peers.length === 0) out.push(p.ok('  nothing it would refuse'));
  for (const g of r.peers) {
    const who = g.leg === 'client' ? `client ${g.peer}: ${g.label}` : `upstream ${g.label}`;
    out.push(`  ${p.warn('WOULD REFUSE')} ${who}`);
    out.push(
      `       ${plural(g.count, 'handshake')} on ${g.accounts.join(', ')}, first seen ${g.firstSeen}, last seen ` +
        `${g.lastSeen}; accepted by '${g.policy}', refused by '${g.candidate}' (${g.code})`,
    );
    out.push(`       ${g.explanation}`);
    if (g.admit) out.push(`       would need: ${g.admit}`);
  }
  return out;
}

/** Every configured exception with its uses: "used 312 times, last used today, expires in 12 days". */
export function exceptionSection(r: PolicyReport, p: Paint): string[] {
  const out = [p.bold('Exceptions in use')];
  if (r.exceptions.length === 0) out.push(p.dim('  (no policy.exceptions configured)'));
  const now = new Date(r.now);
  for (const e of r.exceptions) {
    const when =
      e.daysLeft < 0
        ? p.bad(`expired ${plural(-e.daysLeft, 'day')} ago`)
        : e.daysLeft <= 14
          ? p.warn(`expires in ${plural(e.daysLeft, 'day')}`)
          : `expires in ${plural(e.daysLeft, 'day')}`;
    const use = e.lastUsed
      ? `used ${plural(e.uses, 'time')}, last used ${daysAgo(e.lastUsed, now)}`
      : p.warn('never used: removable');
    out.push(
      `  exception for ${e.host} allow [${e.allow}] until ${e.until}: ${use}, ${when}${e.reason ? ` (${e.reason})` : ''}`,
    );
  }
  return out;
}

export function renderPolicyReportHuman(r: PolicyReport, p: Paint): string {
  // The candidate is named in its own section below.
  const head =
    p.bold('mailshield policy report') + `  policy client '${r.policy.client}', upstream '${r.policy.upstream}'`;
  return [head, '', ...candidateSection(r, p), '', ...exceptionSection(r, p)].join('\n') + '\n';
}

export function renderPolicyReportJson(r: PolicyReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}
