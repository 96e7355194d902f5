// Renders a doctor report: one row per account, then the client leg, lapsing exceptions and local checks. Pure.
import type { CheckStatus } from '../io/doctor-local.js';
import type { DoctorReport } from './doctor.js';
import type { Paint } from './render.js';
import { candidateSection, exceptionSection } from './render-policy.js';

function word(s: CheckStatus, p: Paint): string {
  const padded = s.padEnd(4);
  return s === 'OK' ? p.ok(padded) : s === 'WARN' ? p.warn(padded) : p.bad(padded);
}

export function renderDoctorHuman(r: DoctorReport, p: Paint): string {
  const out: string[] = [];
  const cand = (c: boolean) => (c ? ' (candidate)' : '');
  out.push(
    p.bold('mailshield doctor') +
      `  upstream policy '${r.policy.upstream}'${cand(r.policy.upstreamCandidate)}, ` +
      `client policy '${r.policy.client}'${cand(r.policy.clientCandidate)}`,
  );

  out.push('', p.bold('Accounts'));
  if (r.accounts.length === 0) out.push(p.dim('  (no accounts configured)'));
  const w = Math.max(0, ...r.accounts.map((a) => a.account.length));
  for (const a of r.accounts) {
    const change = a.currentStatus && a.currentStatus !== a.status ? p.dim(` (now ${a.currentStatus})`) : '';
    out.push(`  ${word(a.status, p)} ${a.account.padEnd(w)}  ${a.upstream}${change}`);
    out.push(`       ${a.reason}`);
    if (a.fix) out.push(`       fix: ${a.fix}`);
  }

  out.push('', p.bold(`Mail clients seen in the last 30 days that policy.client '${r.policy.client}' would refuse`));
  if (!r.clientsRecorded) out.push(p.dim('  (no store yet: nothing recorded)'));
  else if (r.clients.length === 0) out.push(p.ok('  none'));
  for (const c of r.clients) {
    out.push(`  ${p.warn('WARN')} ${c.listener} from ${c.clientAddress}, last seen ${c.lastSeen} (${c.seen}x)`);
    out.push(`       ${c.reason}`);
    out.push(`       offered: ${c.offered}`);
    if (c.fix) out.push(`       fix: ${c.fix}`);
  }

  out.push('', p.bold('Exceptions expiring within 30 days'));
  if (r.exceptions.length === 0) out.push(p.ok('  none'));
  for (const e of r.exceptions) {
    const when =
      e.daysLeft < 0 ? p.bad(`expired ${-e.daysLeft} day(s) ago`) : p.warn(`expires in ${e.daysLeft} day(s)`);
    out.push(`  ${e.host} allow [${e.allow.join(', ')}] until ${e.until}: ${when}${e.reason ? ` (${e.reason})` : ''}`);
  }

  out.push('', ...candidateSection(r.traffic, p), '', ...exceptionSection(r.traffic, p));

  out.push('', p.bold('Local'));
  for (const l of r.local) {
    out.push(`  ${word(l.status, p)} ${l.check}: ${l.detail}`);
    if (l.fix) out.push(`       fix: ${l.fix}`);
  }
  out.push('');
  const fails = r.accounts.filter((a) => a.status === 'FAIL').length;
  out.push(
    fails
      ? p.bad(`${fails} account(s) would fail under policy '${r.policy.upstream}'.`)
      : r.exitCode
        ? p.bad('A local check failed.')
        : p.ok('No account would fail.'),
  );
  return out.join('\n') + '\n';
}

export function renderDoctorJson(r: DoctorReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}
