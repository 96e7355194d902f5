// Views of the Quarantine, Policy and Statistics pages. Pure, like views-live.ts: untrusted mail text only ever
// lands in text nodes, through visible(); the preview is text, never the message's HTML.
import type { DoctorReport } from '../../probe/doctor.js';
import type { MessageView } from '../message-view.js';
import type { PolicyView } from '../policy-view.js';
import type { QuarantineRow } from '../queries.js';
import type { StatsView } from '../stats.js';
import { bytes, visible, visibleText, when } from './format.js';
import { html, type VNode } from './preact.js';

export function quarantineListView(rows: QuarantineRow[]): VNode {
  if (rows.length === 0)
    return html`<p class="empty" data-testid="quarantine-empty">Nothing in quarantine matches.</p>`;
  return html`<table data-testid="quarantine">
    <thead>
      <tr>
        <th>received</th>
        <th>from</th>
        <th>to</th>
        <th>subject</th>
        <th>engine</th>
        <th>signature / rule</th>
        <th>part</th>
        <th>size</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (r) =>
          html`<tr data-quarantine=${r.id}>
            <td>${when(r.receivedAt)}</td>
            <td data-testid="from">${visible(r.from)}</td>
            <td>${visible(r.to)}</td>
            <td data-testid="subject">
              <a href=${`#/quarantine/${encodeURIComponent(r.id)}`}>${visible(r.subject) || '(no subject)'}</a>
            </td>
            <td>${visible(r.engine)}</td>
            <td>${visible(r.signature)}</td>
            <td data-testid="part">${visible(r.part)}</td>
            <td>${bytes(r.size)}</td>
            <td>${r.released ? html`<span class="released">released</span>` : null}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

export interface DetailActions {
  onRelease(): void;
  onDelete(): void;
  exportHref: string;
}

export function quarantineDetailView(d: { entry: QuarantineRow; message: MessageView }, a: DetailActions): VNode {
  const e = d.entry;
  return html`<div class="detail" data-testid="quarantine-detail">
    <h2 data-testid="detail-subject">${visible(e.subject) || '(no subject)'}</h2>
    <dl class="facts">
      <dt>verdict</dt>
      <dd>${e.verdict}: ${visible(e.signature)} (${visible(e.engine)})</dd>
      <dt>found in</dt>
      <dd data-testid="found-part">${visible(e.part)}</dd>
      <dt>account</dt>
      <dd>${visible(e.account)} (${e.protocol}, ${e.direction})</dd>
      <dt>received</dt>
      <dd>${when(e.receivedAt)}</dd>
      <dt>size, SHA-256</dt>
      <dd>${bytes(e.size)}, <code>${e.sha256}</code></dd>
      <dt>released</dt>
      <dd data-testid="released">${e.released ? `by ${visible(e.released.by)} at ${when(e.released.at)}` : 'no'}</dd>
    </dl>
    <div class="actions">
      <a
        class="button warn"
        data-testid="export"
        href=${a.exportHref}
        download
        title="The exact original bytes, virus included. Open it only in a safe place."
        >Export original (dangerous)</a
      >
      <button data-testid="release" disabled=${e.released !== null} onClick=${a.onRelease}>Release</button>
      <button class="danger" data-testid="delete" onClick=${a.onDelete}>Delete</button>
    </div>
    <p class="warning">
      Export gives the exact original bytes, including what was found. Release lets the next fetch or send of exactly
      this message pass unscanned.
    </p>
    <h3>Headers</h3>
    <table class="headers" data-testid="headers">
      <tbody>
        ${d.message.headers.map(
          (h) =>
            html`<tr>
              <th>${visible(h.name)}</th>
              <td>${visible(h.value)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h3>MIME structure</h3>
    <ul class="mime" data-testid="mime">
      ${d.message.parts.map((p) => {
        const found = e.part !== null && p.filename !== null && visible(e.part) === visible(p.filename);
        return html`<li style=${{ marginLeft: `${p.depth * 1.5}em` }} class=${found ? 'found' : ''}>
          <code>${p.part || 'message'}</code> ${visible(p.contentType)}
          ${p.filename ? html` <span class="filename">“${visible(p.filename)}”</span>` : null}
          ${p.encoding ? ` ${p.encoding}` : ''} ${p.bytes ? bytes(p.bytes) : ''}
          ${found ? html`<b>← found here</b>` : null}
        </li>`;
      })}
    </ul>
    <h3>Preview (text only${d.message.previewFromHtml ? ', converted from HTML' : ''})</h3>
    <pre class="preview" data-testid="preview">
${visibleText(d.message.preview)}${d.message.previewTruncated ? '\n…' : ''}</pre>
  </div>`;
}

export function policyViewNode(p: PolicyView): VNode {
  return html`<div data-testid="policy">
    <h3>Upstream leg: <code>${p.upstream.policy}</code></h3>
    <p>${p.upstream.meaning}</p>
    <h3>Client leg: <code>${p.client.policy}</code></h3>
    <table>
      <thead>
        <tr>
          <th>account</th>
          <th>listener</th>
          <th>profile in force</th>
          <th>meaning</th>
        </tr>
      </thead>
      <tbody>
        ${p.client.accounts.map(
          (a) =>
            html`<tr>
              <td>${visible(a.account)}</td>
              <td>${a.listen}</td>
              <td>${a.profile}</td>
              <td>${a.meaning}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h3>Exceptions</h3>
    ${
      p.exceptions.length === 0
        ? html`<p class="empty">No exceptions.</p>`
        : html`<table data-testid="exceptions">
            <thead>
              <tr>
                <th>host</th>
                <th>allows</th>
                <th>until</th>
                <th>left</th>
                <th>reason</th>
              </tr>
            </thead>
            <tbody>
              ${p.exceptions.map(
                (e) =>
                  html`<tr class=${e.expired ? 'expired' : e.soon ? 'soon' : ''}>
                    <td>${visible(e.host)}</td>
                    <td>${e.allow.join(', ')}</td>
                    <td>${e.until}</td>
                    <td>
                      ${e.expired ? `expired ${-e.daysLeft} day(s) ago` : `${e.daysLeft} day(s)`}${e.soon && !e.expired ? ' — expires soon' : ''}
                    </td>
                    <td>${visible(e.reason ?? '')}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </div>`;
}

export function tryResultView(r: DoctorReport): VNode {
  const fails = r.accounts.filter((a) => a.status === 'FAIL').length;
  return html`<div class="try-result" data-testid="try-result">
    <p class=${fails ? 'bad' : 'good'} data-testid="try-summary">
      ${
        fails
          ? `${fails} account(s) would fail under upstream policy '${r.policy.upstream}'.`
          : `No account would fail under upstream policy '${r.policy.upstream}'.`
      }
    </p>
    <table>
      <thead>
        <tr>
          <th>status</th>
          <th>account</th>
          <th>upstream</th>
          <th>now</th>
          <th>why</th>
          <th>fix</th>
        </tr>
      </thead>
      <tbody>
        ${r.accounts.map(
          (a) =>
            html`<tr class=${`status-${a.status}`} data-account=${a.account}>
              <td>${a.status}</td>
              <td>${visible(a.account)}</td>
              <td>${visible(a.upstream)}</td>
              <td>${a.currentStatus ?? ''}</td>
              <td>${visible(a.reason)}</td>
              <td>${visible(a.fix ?? '')}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      r.clients.length
        ? html`<h4>Mail clients policy.client '${r.policy.client}' would refuse</h4>
            <ul>
              ${r.clients.map((c) => html`<li>${visible(c.clientAddress)} on ${visible(c.listener)}: ${visible(c.reason)}</li>`)}
            </ul>`
        : null
    }
  </div>`;
}

export function statsTotalsView(s: StatsView): VNode {
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const share = (list: { name: string; n: number }[], name: string) => {
    const total = sum(list.map((x) => x.n));
    const n = list.find((x) => x.name === name)?.n ?? 0;
    return total ? `${Math.round((100 * n) / total)}%` : '—';
  };
  return html`<dl class="facts" data-testid="stats-totals">
    <dt>scanned (48 h)</dt>
    <dd>${sum(s.scanned)}</dd>
    <dt>clean</dt>
    <dd>${sum(s.clean)}</dd>
    <dt>infected or blocked</dt>
    <dd>${sum(s.infected)}</dd>
    <dt>refused connections</dt>
    <dd>${sum(s.refused)}</dd>
    <dt>upstream handshakes signed with SHA-1</dt>
    <dd data-testid="sha1-share">${share(s.digests, 'SHA1')}</dd>
  </dl>`;
}
