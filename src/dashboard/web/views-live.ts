// Views of the Now and Connections pages: data in, Preact vnodes out (htm templates). Pure: no fetch, no DOM, no
// clock; tested in Node by walking the vnodes. Every value from a peer or from mail goes through visible() into a
// text node.
import type { LiveSession } from '../../io/live.js';
import type { ConnectionView, Explanation } from '../queries.js';
import { bytes, exceptionYaml, explainParts, since, tlsLine, visible, when } from './format.js';
import { html, type VNode } from './preact.js';

export function nowView(sessions: LiveSession[], now: Date): VNode {
  const byAccount = new Map<string, LiveSession[]>();
  for (const s of sessions) byAccount.set(s.account, [...(byAccount.get(s.account) ?? []), s]);
  if (sessions.length === 0)
    return html`<p class="empty" data-testid="now-empty">No mail client is connected right now.</p>`;
  return html`${[...byAccount].map(
    ([account, list]) =>
      html`<section class="account">
        <h3>${visible(account)} <span class="count">${list.length} session(s)</span></h3>
        <table data-testid="now-table">
          <thead>
            <tr>
              <th>client</th>
              <th>client TLS</th>
              <th>signature scheme</th>
              <th>upstream TLS</th>
              <th>peer signing digest</th>
              <th>server temp key</th>
              <th>certificate</th>
              <th>bytes in / out</th>
              <th>state</th>
              <th>for</th>
            </tr>
          </thead>
          <tbody>
            ${list.map(
              (s) =>
                html`<tr data-session=${s.id} class=${`state-${s.state}`}>
                  <td>${visible(s.clientAddress)} <span class="dim">${s.protocol}</span></td>
                  <td>${tlsLine(s.clientTls)}</td>
                  <td>${visible(s.clientTls?.signatureScheme ?? '—')}</td>
                  <td>${tlsLine(s.upstreamTls)}</td>
                  <td>
                    ${visible([s.upstreamTls?.peerSignatureType, s.upstreamTls?.peerSigningDigest].filter(Boolean).join('+') || '—')}
                  </td>
                  <td>${visible(s.upstreamTls?.serverTempKey ?? '—')}</td>
                  <td class=${`verdict-${s.upstreamTls?.verdict ?? 'none'}`}>${s.upstreamTls?.verdict ?? '—'}</td>
                  <td data-testid="bytes">${bytes(s.bytesFromClient)} / ${bytes(s.bytesFromUpstream)}</td>
                  <td data-testid="state">${s.state}</td>
                  <td>${since(s.startedAt, now)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </section>`,
  )}`;
}

export function connectionsView(
  rows: ConnectionView[],
  open: { id: string | null; explanation: Explanation | null },
  onToggle: (id: string) => void,
): VNode {
  if (rows.length === 0) return html`<p class="empty">No connection matches.</p>`;
  return html`<table data-testid="connections">
    <thead>
      <tr>
        <th>started</th>
        <th>account</th>
        <th>protocol</th>
        <th>client</th>
        <th>result</th>
        <th>outcome</th>
        <th>bytes in / out</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (r) =>
          html`<tr class=${`result-${r.result}`} data-connection=${r.id}>
              <td>${when(r.startedAt)}</td>
              <td>${visible(r.account)}</td>
              <td>${r.protocol}</td>
              <td>${visible(r.clientAddress)}</td>
              <td>
                ${
                  r.result === 'ok'
                    ? 'ok'
                    : html`<button class="link" data-testid="explain" onClick=${() => onToggle(r.id)}>
                        ${open.id === r.id ? '▾' : '▸'} ${r.result}: ${r.errorCode ?? r.outcome}
                      </button>`
                }
              </td>
              <td>${visible(r.outcome ?? 'open')}</td>
              <td>${bytes(r.bytesFromClient)} / ${bytes(r.bytesFromUpstream)}</td>
            </tr>
            ${
              open.id === r.id
                ? html`<tr class="explanation-row">
                    <td colspan="7">${open.explanation ? explanationView(open.explanation) : 'loading…'}</td>
                  </tr>`
                : null
            }`,
      )}
    </tbody>
  </table>`;
}

export function explanationView(x: Explanation): VNode {
  const hints = (x.upstream?.findings ?? []).filter((f) => f.exceptionHint);
  return html`<div class="explanation" data-testid="explanation">
    ${x.errors.map((e) => {
      const p = explainParts(e.message);
      return html`<div class="error">
        <p class="told"><b>What the mail client was told:</b> <code>${visible(e.message)} (${e.code})</code></p>
        <dl>
          <dt>what happened</dt>
          <dd>${visible(p.what)}</dd>
          ${
            p.offered
              ? html`<dt>the peer offered</dt>
                  <dd>${visible(p.offered)}</dd>`
              : null
          }
          ${
            p.required
              ? html`<dt>the policy requires</dt>
                  <dd>${visible(p.required)}</dd>`
              : null
          }
          ${
            p.fix
              ? html`<dt>what changes it</dt>
                  <dd>${visible(p.fix)}</dd>`
              : null
          }
        </dl>
      </div>`;
    })}
    ${x.errors.length === 0 ? html`<p>No error was recorded for this connection.</p>` : null}
    ${
      hints.length
        ? html`<p><b>The exact setting:</b> add under <code>policy.exceptions</code>:</p>
            ${hints.map((f) => html`<pre>${exceptionYaml(f.exceptionHint as { host: string; allow: string; until: string })}</pre>`)}`
        : null
    }
    ${
      x.clientHello
        ? html`<h4>ClientHello (what the mail client offered)</h4>
            <dl class="facts" data-testid="client-hello">
              <dt>versions</dt>
              <dd>${x.clientHello.versions.join(', ')}</dd>
              <dt>cipher suites</dt>
              <dd>${x.clientHello.ciphers.join(', ')}</dd>
              <dt>signature algorithms</dt>
              <dd>${x.clientHello.sigalgs.join(', ')}</dd>
              <dt>groups</dt>
              <dd>${x.clientHello.groups.join(', ')}</dd>
              <dt>SNI</dt>
              <dd>${visible(x.clientHello.sni ?? '—')}</dd>
              <dt>client policy</dt>
              <dd>${x.clientHello.policy} (${x.clientHello.accepted ? 'accepted' : 'refused'})</dd>
            </dl>`
        : null
    }
    ${
      x.upstream
        ? html`<h4>Upstream handshake (as <code>openssl s_client</code> names it)</h4>
            <dl class="facts" data-testid="upstream-facts">
              <dt>server</dt>
              <dd>${visible(`${x.upstream.host ?? '?'}:${x.upstream.port ?? '?'}`)}</dd>
              <dt>protocol, cipher</dt>
              <dd>${x.upstream.protocol ?? '—'}, ${x.upstream.cipher ?? '—'}</dd>
              <dt>Peer signing digest</dt>
              <dd>${x.upstream.peerSigningDigest ?? '—'}</dd>
              <dt>Peer signature type</dt>
              <dd>${x.upstream.peerSignatureType ?? '—'}</dd>
              <dt>Server Temp Key</dt>
              <dd>${x.upstream.serverTempKey ?? '—'}</dd>
              <dt>policy, verdict</dt>
              <dd>${x.upstream.policy ?? '—'}: ${x.upstream.verdict}</dd>
              ${x.upstream.findings.map(
                (f) =>
                  html`<dt>${f.level} ${f.rule}</dt>
                    <dd>${visible(f.message)}</dd>`,
              )}
              ${x.upstream.chain.map(
                (c, i) =>
                  html`<dt>certificate ${i}</dt>
                    <dd>${visible(c.subject)} — ${c.signatureAlgorithm}, ${c.keyType} ${c.keyBits}</dd>`,
              )}
            </dl>`
        : null
    }
  </div>`;
}
