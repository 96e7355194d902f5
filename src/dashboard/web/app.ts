// The dashboard page: login, hash routing, data loading and the live stream. Rendering is done by the pure views
// (views-live.ts, views-mail.ts); this file only wires them to fetch, EventSource and the URL.
import type { LiveSession } from '../../io/live.js';
import type { DoctorReport } from '../../probe/doctor.js';
import type { MessageView } from '../message-view.js';
import type { PolicyReport } from '../../probe/policy-report.js';
import type { PolicyView } from '../policy-view.js';
import type { ConnectionView, Explanation, QuarantineRow } from '../queries.js';
import type { StatsView } from '../stats.js';
import { drawHourly } from './charts.js';
import { browser, type El } from './dom.js';
import { html, render, useEffect, useRef, useState, type VNode } from './preact.js';
import { connectionsView, nowView } from './views-live.js';
import { interceptionsView, policyReportView, type InterceptionView } from './views-traffic.js';
import {
  policyViewNode,
  quarantineDetailView,
  quarantineListView,
  statsTotalsView,
  tryResultView,
} from './views-mail.js';

async function api<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (res.status === 401) {
    browser.location.hash = '#/login';
    throw new Error('not logged in');
  }
  if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as { error?: string }).error ?? res.statusText);
  return (await res.json()) as T;
}

type FormEvent = { preventDefault(): void; currentTarget: { elements: Record<string, { value: string }> } };

function formValues(e: FormEvent, names: string[]): Record<string, string> {
  e.preventDefault();
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = e.currentTarget.elements[n]?.value ?? '';
    if (v) out[n] = v;
  }
  return out;
}

const qs = (o: Record<string, string>) => new URLSearchParams(o).toString();

function Login(p: { onDone(): void }): VNode {
  const [err, setErr] = useState<string | null>(null);
  const [needPassword, setNeedPassword] = useState(false);
  const submit = async (e: FormEvent) => {
    const v = formValues(e, ['token', 'password']);
    const res = await fetch('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(v),
    });
    if (res.ok) p.onDone();
    else setErr(((await res.json().catch(() => ({}))) as { error?: string }).error ?? 'login failed');
  };
  useEffect(() => {
    void fetch('/api/session')
      .then((r) => r.json() as Promise<{ passwordRequired: boolean }>)
      .then((s: { passwordRequired: boolean }) => setNeedPassword(s.passwordRequired));
  }, []);
  return html`<form class="login" onSubmit=${submit} data-testid="login">
    <h2>Log in</h2>
    <p>Open the URL that <code>mailshield dashboard url</code> prints, or paste its token here.</p>
    <label>token <input name="token" autocomplete="off" /></label>
    ${needPassword ? html`<label>password <input name="password" type="password" /></label>` : null}
    <button type="submit">Log in</button>
    ${err ? html`<p class="bad" data-testid="login-error">${err}</p>` : null}
  </form>`;
}

function NowPage(): VNode {
  const [sessions, setSessions] = useState<LiveSession[]>([]);
  const [, setTick] = useState(0);
  useEffect(() => {
    const es = new browser.EventSource('/api/live');
    es.addEventListener('snapshot', (e) => {
      setSessions(JSON.parse(e.data) as LiveSession[]);
      // The "for" column counts from each session's start: a new picture is also a new now.
      setTick((t) => t + 1);
    });
    es.addEventListener('session', (e) => {
      const s = JSON.parse(e.data) as LiveSession;
      setSessions((list) =>
        s.state === 'closed' ? list.filter((x) => x.id !== s.id) : [...list.filter((x) => x.id !== s.id), s],
      );
    });
    return () => es.close();
  }, []);
  return html`<h2>Now</h2>
    <p class="dim">Live: updates arrive as they happen.</p>
    ${nowView(sessions, new Date())}`;
}

function ConnectionsPage(): VNode {
  const [rows, setRows] = useState<ConnectionView[] | null>(null);
  const [intercepted, setIntercepted] = useState<InterceptionView[] | null>(null);
  const [filter, setFilter] = useState<Record<string, string>>({});
  const [open, setOpen] = useState<{ id: string | null; explanation: Explanation | null }>({
    id: null,
    explanation: null,
  });
  useEffect(() => {
    void api<{ rows: ConnectionView[] }>(`/api/connections?${qs(filter)}`).then((r) => setRows(r.rows));
  }, [filter]);
  useEffect(() => void api<{ rows: InterceptionView[] }>('/api/interceptions').then((r) => setIntercepted(r.rows)), []);
  const toggle = (id: string) => {
    if (open.id === id) return setOpen({ id: null, explanation: null });
    setOpen({ id, explanation: null });
    void api<Explanation>(`/api/connections/${encodeURIComponent(id)}/explain`).then((x) =>
      setOpen({ id, explanation: x }),
    );
  };
  return html`<h2>Connections</h2>
    <form
      class="filters"
      onSubmit=${(e: FormEvent) => setFilter(formValues(e, ['account', 'protocol', 'result', 'since', 'until']))}
    >
      <input name="account" placeholder="account" />
      <select name="protocol">
        <option value="">any protocol</option>
        <option>pop3</option>
        <option>imap</option>
        <option>smtp</option>
      </select>
      <select name="result" data-testid="result-filter">
        <option value="">any result</option>
        <option value="ok">ok</option>
        <option value="refused">refused</option>
        <option value="error">error</option>
      </select>
      <input name="since" placeholder="since (YYYY-MM-DD)" /><input name="until" placeholder="until" />
      <button type="submit">Filter</button>
    </form>
    ${rows ? connectionsView(rows, open, toggle) : html`<p>loading…</p>`}
    <h3>Intercept mode</h3>
    <p class="dim">Where redirected connections were going, which name was verified, and what was decided.</p>
    ${intercepted ? interceptionsView(intercepted) : html`<p>loading…</p>`}`;
}

function QuarantinePage(): VNode {
  const [rows, setRows] = useState<QuarantineRow[] | null>(null);
  const [filter, setFilter] = useState<Record<string, string>>({});
  useEffect(() => {
    void api<{ rows: QuarantineRow[] }>(`/api/quarantine?${qs(filter)}`).then((r) => setRows(r.rows));
  }, [filter]);
  const names = ['from', 'to', 'subject', 'engine', 'signature', 'since', 'until'];
  return html`<h2>Detections and quarantine</h2>
    <form class="filters" data-testid="quarantine-filter" onSubmit=${(e: FormEvent) => setFilter(formValues(e, names))}>
      ${names.map((n) => html`<input name=${n} placeholder=${n} />`)}
      <button type="submit">Filter</button>
    </form>
    ${rows ? quarantineListView(rows) : html`<p>loading…</p>`}`;
}

function QuarantineDetailPage(p: { id: string }): VNode {
  const [d, setD] = useState<{ entry: QuarantineRow; message: MessageView } | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const load = () =>
    void api<{ entry: QuarantineRow; message: MessageView }>(`/api/quarantine/${encodeURIComponent(p.id)}`).then(
      setD,
      (e: Error) => setErr(e.message),
    );
  useEffect(load, [p.id]);
  if (err) return html`<p class="bad">${err}</p>`;
  if (!d) return html`<p>loading…</p>`;
  const base = `/api/quarantine/${encodeURIComponent(p.id)}`;
  return html`<p><a href="#/quarantine">← quarantine</a></p>
    ${quarantineDetailView(d, {
      exportHref: `${base}/original`,
      onRelease: () => {
        if (
          !browser.confirm('Release this message? The next fetch or send of exactly these bytes will pass unscanned.')
        )
          return;
        void api(`${base}/release`, {}).then(load);
      },
      onDelete: () => {
        if (!browser.confirm('Delete this quarantine entry? The original is gone for good.')) return;
        void api(`${base}/delete`, {}).then(() => (browser.location.hash = '#/quarantine'));
      },
    })}`;
}

function PolicyPage(): VNode {
  const [p, setP] = useState<PolicyView | null>(null);
  const [report, setReport] = useState<PolicyReport | null>(null);
  const [tried, setTried] = useState<DoctorReport | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => void api<PolicyView>('/api/policy').then(setP), []);
  useEffect(() => void api<PolicyReport>('/api/policy/report?since=7d').then(setReport), []);
  const tryIt = (e: FormEvent) => {
    const v = formValues(e, ['upstream', 'client']);
    setBusy(true);
    setTried(null);
    void api<DoctorReport>('/api/policy/try', v).then((r) => {
      setTried(r);
      setBusy(false);
    });
  };
  return html`<h2>Policy</h2>
    ${p ? policyViewNode(p) : html`<p>loading…</p>`} ${report ? policyReportView(report) : null}
    <h3>Try a policy</h3>
    <p>
      Probes every account's server under a candidate policy, as <code>mailshield doctor --policy</code> does, and shows
      what would break and why. Nothing changes until you edit the configuration.
    </p>
    <form class="filters" onSubmit=${tryIt} data-testid="try-form">
      <label
        >upstream
        <select name="upstream">
          <option>strict</option>
          <option selected>balanced</option>
          <option>legacy</option>
        </select></label
      >
      <label
        >client
        <select name="client">
          <option value="">(current)</option>
          <option>auto</option>
          <option>strict</option>
          <option>balanced</option>
          <option>legacy</option>
        </select></label
      >
      <button type="submit" data-testid="try">Try it</button>
    </form>
    ${busy ? html`<p data-testid="try-busy">probing…</p>` : null} ${tried ? tryResultView(tried) : null}`;
}

function StatsPage(): VNode {
  const [s, setS] = useState<StatsView | null>(null);
  const chart = useRef<El | null>(null);
  useEffect(() => void api<StatsView>('/api/stats').then(setS), []);
  useEffect(() => {
    if (!s || !chart.current) return;
    const c = drawHourly(chart.current, s);
    return () => c.destroy();
  }, [s]);
  const bars = (title: string, list: { name: string; n: number }[], id: string) => {
    const max = Math.max(1, ...list.map((x) => x.n));
    return html`<h3>${title}</h3>
      <div class="bars" data-testid=${id}>
        ${list.length === 0 ? html`<p class="empty">No handshakes recorded yet.</p>` : null}
        ${list.map(
          (x) =>
            html`<div class="bar-row">
              <span class="bar-label">${x.name}</span>
              <span class="bar" style=${{ width: `${(70 * x.n) / max}%` }}></span><span>${x.n}</span>
            </div>`,
        )}
      </div>`;
  };
  return html`<h2>Statistics</h2>
    <div ref=${chart} class="chart" data-testid="chart"></div>
    ${s ? statsTotalsView(s) : null}
    ${s ? bars('Upstream handshakes by TLS version', s.tlsVersions, 'by-version') : null}
    ${s ? bars('Upstream handshakes by handshake signature digest (how much still relies on SHA-1?)', s.digests, 'by-digest') : null}`;
}

const PAGES = [
  ['now', 'Now'],
  ['connections', 'Connections'],
  ['quarantine', 'Quarantine'],
  ['policy', 'Policy'],
  ['stats', 'Statistics'],
] as const;

function route(): string[] {
  return browser.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
}

function App(): VNode {
  const [r, setR] = useState(route());
  const [authed, setAuthed] = useState<boolean | null>(null);
  useEffect(() => {
    const check = () =>
      void fetch('/api/session')
        .then((x) => x.json() as Promise<{ authenticated: boolean }>)
        .then((s) => setAuthed(s.authenticated));
    // A token in the URL fragment (the banner's link, also pasted into an open tab): exchange it for the cookie,
    // then drop it from the address bar.
    const consumeToken = (): boolean => {
      const m = /token=([^&]+)/.exec(browser.location.hash);
      if (!m) return false;
      void fetch('/api/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: decodeURIComponent(m[1]!) }),
      }).then((res) => {
        browser.history.replaceState(null, '', browser.location.pathname + (res.ok ? '#/now' : '#/login'));
        setR(route());
        check();
      });
      return true;
    };
    browser.addEventListener('hashchange', () => {
      if (!consumeToken()) setR(route());
    });
    if (!consumeToken()) check();
  }, []);
  if (authed === null) return html`<p>loading…</p>`;
  const page = r[0] ?? 'now';
  if (!authed || page === 'login')
    return html`<${Login}
      onDone=${() => {
        setAuthed(true);
        browser.location.hash = '#/now';
      }}
    />`;
  const body =
    page === 'connections'
      ? html`<${ConnectionsPage} />`
      : page === 'quarantine' && r[1]
        ? html`<${QuarantineDetailPage} id=${decodeURIComponent(r[1])} />`
        : page === 'quarantine'
          ? html`<${QuarantinePage} />`
          : page === 'policy'
            ? html`<${PolicyPage} />`
            : page === 'stats'
              ? html`<${StatsPage} />`
              : html`<${NowPage} />`;
  return html`<nav>
      <span class="brand">mailshield</span>
      ${PAGES.map(([id, label]) => html`<a href=${`#/${id}`} class=${page === id ? 'active' : ''} data-testid=${`nav-${id}`}>${label}</a>`)}
    </nav>
    <main data-page=${page}>${body}</main>`;
}

render(html`<${App} />`, browser.document.getElementById('app'));
