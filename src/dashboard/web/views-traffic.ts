// Views of what real traffic showed: on the Policy page, the handshakes policy.candidate would have refused and how
// often each exception was used; on the Connections page, what intercept mode decided for redirected connections.
// Pure, like the other views: every value from the store comes from a peer or the configuration and goes through
// visible() into a text node.
import type { PolicyReport } from '../../probe/policy-report.js';
import type { InterceptionRow } from '../../store/interceptions.js';
import { visible, when } from './format.js';
import { html, type VNode } from './preact.js';

const candidateLine = (c: PolicyReport['candidate']): string =>
  [c.upstream ? `upstream '${c.upstream}'` : null, c.client ? `client '${c.client}'` : null].filter(Boolean).join(', ');

/** "used 312 times, last used 2026-12-01 09:30:12, expires in 12 days", or why it can go. */
export function exceptionUseLine(e: PolicyReport['exceptions'][number]): string {
  const expiry = e.daysLeft < 0 ? `expired ${-e.daysLeft} day(s) ago` : `expires in ${e.daysLeft} day(s)`;
  if (e.removable) return `never used — removable; ${expiry}`;
  return `used ${e.uses} time(s), last used ${when(e.lastUsed)}, ${expiry}`;
}

export function policyReportView(r: PolicyReport): VNode {
  const candidate = candidateLine(r.candidate);
  return html`<div data-testid="policy-report">
    <h3>Seen in real traffic under the candidate</h3>
    <p class="dim">Since ${when(r.since)}.</p>
    ${
      !candidate
        ? html`<p class="empty" data-testid="no-candidate">
            No <code>policy.candidate</code> is set:
            ${r.peers.length ? 'these were recorded under an earlier one.' : 'nothing is being tried in the background.'}
          </p>`
        : html`<p>Candidate: ${candidate}.</p>`
    }
    ${
      candidate && r.peers.length === 0
        ? html`<p class="empty" data-testid="would-refuse-empty">
            ${r.recorded ? 'The candidate would have refused nothing seen.' : 'Nothing recorded yet.'}
          </p>`
        : null
    }
    ${
      r.peers.length
        ? html`<table data-testid="would-refuse">
            <thead>
              <tr>
                <th>leg</th>
                <th>peer</th>
                <th>accounts</th>
                <th>times</th>
                <th>first seen</th>
                <th>last seen</th>
                <th>why the candidate would refuse it</th>
                <th>what would admit it</th>
              </tr>
            </thead>
            <tbody>
              ${r.peers.map(
                (p) =>
                  html`<tr data-leg=${p.leg}>
                    <td>${p.leg}</td>
                    <td>${visible(p.label)}</td>
                    <td>${p.accounts.map(visible).join(', ')}</td>
                    <td>${p.count}</td>
                    <td>${when(p.firstSeen)}</td>
                    <td>${when(p.lastSeen)}</td>
                    <td>${visible(p.explanation)} <span class="dim">(${visible(p.code)})</span></td>
                    <td>${p.admit ? html`<code>${visible(p.admit)}</code>` : '—'}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : null
    }
    <h3>Exceptions in use</h3>
    ${
      r.exceptions.length === 0
        ? html`<p class="empty">No exceptions.</p>`
        : html`<ul data-testid="exception-uses">
            ${r.exceptions.map(
              (e) =>
                html`<li class=${e.removable ? 'removable' : ''}>
                  <code>${visible(e.host)}</code> ${visible(e.allow)}: ${exceptionUseLine(e)}
                </li>`,
            )}
          </ul>`
    }
  </div>`;
}

/** One row of /api/interceptions. */
export type InterceptionView = InterceptionRow & { at: string };

const DECISION: Record<InterceptionView['decision'], string> = {
  intercept: 'intercepted',
  passthrough: 'relayed untouched',
  refuse: 'refused',
};

export function interceptionsView(rows: InterceptionView[]): VNode {
  if (rows.length === 0)
    return html`<p class="empty" data-testid="interceptions-empty">No intercepted connection recorded.</p>`;
  return html`<table data-testid="interceptions">
    <thead>
      <tr>
        <th>at</th>
        <th>client</th>
        <th>original destination</th>
        <th>protocol</th>
        <th>name verified</th>
        <th>decision</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (r) =>
          html`<tr class=${`decision-${r.decision}`} data-connection=${r.connectionId}>
            <td>${when(r.at)}</td>
            <td>${visible(r.clientAddress)}</td>
            <td>${visible(r.originalDestination)}</td>
            <td>${visible(r.protocol)} <span class="dim">${visible(r.tlsMode)}</span></td>
            <td>
              ${r.name ? visible(r.name) : '—'}${r.nameSource ? html` <span class="dim">(from ${r.nameSource === 'sni' ? 'SNI' : 'hosts'})</span>` : null}
            </td>
            <td>${DECISION[r.decision]}${r.reason ? `: ${visible(r.reason)}` : ''}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
