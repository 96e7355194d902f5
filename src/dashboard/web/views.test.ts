// The dashboard's pure views and formatting, in Node: vnodes are walked, not rendered. What matters most is that
// untrusted text only ever becomes text (a string child), never markup or a dangerouslySetInnerHTML prop.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../core/config.js';
import type { LiveSession } from '../../io/live.js';
import { buildPolicyReport } from '../../probe/policy-report.js';
import type { QuarantineRow } from '../queries.js';
import { bytes, explainParts, visible, visibleText, when } from './format.js';
import type { VNode } from './preact.js';
import { connectionsView, explanationView, nowView } from './views-live.js';
import { policyViewNode, quarantineDetailView, quarantineListView, tryResultView } from './views-mail.js';
import { interceptionsView, policyReportView } from './views-traffic.js';

/** All text a vnode tree shows, and every prop name used on the way. */
function walk(n: unknown, out: { text: string[]; props: Set<string> } = { text: [], props: new Set() }) {
  if (n === null || n === undefined || typeof n === 'boolean') return out;
  if (typeof n === 'string' || typeof n === 'number') {
    out.text.push(String(n));
    return out;
  }
  if (Array.isArray(n)) {
    n.forEach((c) => walk(c, out));
    return out;
  }
  const v = n as VNode;
  for (const k of Object.keys(v.props ?? {})) out.props.add(k);
  walk(v.props?.children, out);
  return out;
}
const textOf = (n: unknown) => walk(n).text.join('');

const XSS = '<img src=x onerror=alert(1)>';

describe('format', () => {
  it('shows bidi overrides and control characters as code points, keeps other text as is', () => {
    assert.equal(visible('invoice\u202Efdp.exe'), 'invoice<U+202E>fdp.exe');
    assert.equal(visible('a\u0000b\r\nc\u2066'), 'a<U+0000>b<U+000D><U+000A>c<U+2066>');
    assert.equal(visible('Grüße 日本 ' + XSS), 'Grüße 日本 ' + XSS);
    assert.equal(visible(null), '');
    assert.equal(visibleText('line 1\r\nline\t2\u200B'), 'line 1\nline\t2<U+200B>');
  });

  it('formats bytes and times, and splits an explanation into its parts', () => {
    assert.equal(bytes(512), '512 B');
    assert.equal(bytes(300 * 1024), '300.0 KB');
    assert.equal(when('2026-12-01T09:30:12.345Z'), '2026-12-01 09:30:12');
    assert.deepEqual(explainParts('refused; offered: TLSv1; required: TLS 1.2; set policy.client: legacy'), {
      what: 'refused',
      offered: 'TLSv1',
      required: 'TLS 1.2',
      fix: 'set policy.client: legacy',
    });
  });
});

const row: QuarantineRow = {
  id: 'abc123',
  receivedAt: '2026-12-01T09:00:00.000Z',
  account: 'acct',
  protocol: 'pop3',
  direction: 'incoming',
  verdict: 'infected',
  engine: 'builtin',
  signature: 'EICAR-Test-File',
  part: XSS + '.txt',
  subject: XSS,
  from: `"${XSS}" <x@example.test>`,
  to: 'me@example.test',
  size: 2048,
  sha256: 'f'.repeat(64),
  released: null,
};

describe('views', () => {
  it('puts mail text in the quarantine list and detail as text only', () => {
    for (const node of [
      quarantineListView([row]),
      quarantineDetailView(
        {
          entry: row,
          message: {
            headers: [{ name: 'Subject', value: XSS + '\u202E' }],
            parts: [
              {
                part: '2',
                depth: 1,
                contentType: 'text/plain',
                filename: XSS + '.txt',
                disposition: 'attachment',
                encoding: 'base64',
                bytes: 90,
              },
            ],
            preview: `<script>alert(1)</script>`,
            previewTruncated: false,
            previewFromHtml: false,
          },
        },
        { onRelease() {}, onDelete() {}, exportHref: '/x' },
      ),
    ]) {
      const w = walk(node);
      assert.ok(w.text.join('').includes(XSS), 'the payload is visible as text');
      assert.ok(!w.props.has('dangerouslySetInnerHTML'));
    }
    const detail = textOf(
      quarantineDetailView(
        {
          entry: row,
          message: {
            headers: [{ name: 'Subject', value: 'a\u202Eb' }],
            parts: [],
            preview: '',
            previewTruncated: false,
            previewFromHtml: false,
          },
        },
        { onRelease() {}, onDelete() {}, exportHref: '/x' },
      ),
    );
    assert.match(detail, /a<U\+202E>b/);
    assert.doesNotMatch(detail, /\u202E/);
  });

  it('marks the part the scanner named in the MIME tree', () => {
    const t = textOf(
      quarantineDetailView(
        {
          entry: row,
          message: {
            headers: [],
            parts: [
              {
                part: '',
                depth: 0,
                contentType: 'multipart/mixed',
                filename: null,
                disposition: null,
                encoding: null,
                bytes: 0,
              },
              {
                part: '2',
                depth: 1,
                contentType: 'text/plain',
                filename: XSS + '.txt',
                disposition: 'attachment',
                encoding: 'base64',
                bytes: 90,
              },
            ],
            preview: 'hi',
            previewTruncated: true,
            previewFromHtml: true,
          },
        },
        { onRelease() {}, onDelete() {}, exportHref: '/x' },
      ),
    );
    assert.match(t, /found here/);
    assert.match(t, /converted from HTML/);
  });

  it('groups live sessions by account and shows both legs', () => {
    const s: LiveSession = {
      id: 's1',
      account: 'isp',
      protocol: 'pop3',
      clientAddress: '127.0.0.1:5000',
      startedAt: '2026-12-01T09:00:00.000Z',
      state: 'scanning',
      clientTls: { version: 'TLSv1', cipher: 'ECDHE-RSA-AES128-SHA', signatureScheme: null },
      upstreamTls: {
        version: 'TLSv1.2',
        cipher: 'X',
        peerSigningDigest: 'SHA1',
        peerSignatureType: 'RSA',
        serverTempKey: 'ECDH, prime256v1, 256 bits',
        verdict: 'warn',
      },
      bytesFromClient: 10,
      bytesFromUpstream: 4096,
      outcome: null,
    };
    const t = textOf(nowView([s], new Date('2026-12-01T09:01:05.000Z')));
    for (const want of [
      'isp',
      'TLSv1, ECDHE-RSA-AES128-SHA',
      'RSA+SHA1',
      'ECDH, prime256v1, 256 bits',
      'warn',
      '4.0 KB',
      'scanning',
      '1 min',
    ])
      assert.ok(t.includes(want), `${want} in ${t}`);
    assert.match(textOf(nowView([], new Date())), /No mail client/);
  });

  it('a refusal row expands to the explanation with the exception to paste', () => {
    const conn = {
      id: 'c1',
      account: 'isp',
      protocol: 'pop3',
      listener: 'l',
      clientAddress: 'a',
      startedAt: '2026-12-01T09:00:00Z',
      endedAt: null,
      outcome: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      bytesFromClient: 0,
      bytesFromUpstream: 0,
      result: 'refused' as const,
      errorCode: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
      errorText: 'x',
    };
    const x = {
      connectionId: 'c1',
      errors: [
        {
          code: 'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
          side: 'upstream',
          at: '',
          message: 'upstream signed with RSA+SHA1; policy strict requires SHA-256',
        },
      ],
      clientHello: null,
      upstream: {
        host: 'pop.isp.test',
        port: 995,
        protocol: 'TLSv1.2',
        cipher: 'c',
        peerSigningDigest: 'SHA1',
        peerSignatureType: 'RSA',
        serverTempKey: 'k',
        policy: 'strict',
        verdict: 'refused',
        findings: [
          {
            level: 'refusal',
            rule: 'handshake-signature-sha1',
            code: 'X',
            message: 'm',
            exceptionHint: { host: 'pop.isp.test', allow: 'sha1-handshake-signature', until: '2027-03-01' },
          },
        ],
        chain: [],
      },
    };
    assert.doesNotMatch(textOf(connectionsView([conn], { id: null, explanation: null }, () => {})), /exceptions/);
    const t = textOf(connectionsView([conn], { id: 'c1', explanation: x }, () => {}));
    assert.match(t, /What the mail client was told/);
    assert.match(t, /- \{host: pop\.isp\.test, allow: \[sha1-handshake-signature\], until: 2027-03-01\}/);
    assert.match(textOf(explanationView({ ...x, errors: [] })), /No error was recorded/);
  });

  it('policy: an exception about to lapse is marked; a try-out counts the failures', () => {
    const p = policyViewNode({
      client: { policy: 'auto', accounts: [] },
      upstream: { policy: 'balanced', meaning: 'm' },
      exceptions: [
        { host: 'h', allow: ['tls1.1'], until: '2026-12-05', reason: null, daysLeft: 4, soon: true, expired: false },
      ],
      warnDays: 30,
    });
    assert.match(textOf(p), /4 day\(s\) — expires soon/);
    const r = tryResultView({
      policy: { upstream: 'strict', upstreamCandidate: true, client: 'auto', clientCandidate: false },
      accounts: [
        {
          account: 'isp',
          upstream: 'u',
          status: 'FAIL',
          currentStatus: 'WARN',
          reason: 'SHA1',
          fix: 'ask',
          tls: {} as never,
        },
      ],
      clients: [],
      clientsRecorded: true,
      exceptions: [],
      local: [],
      traffic: buildPolicyReport({
        config: defaultConfig(),
        wouldRefuse: [],
        uses: [],
        since: new Date('2026-11-24T00:00:00Z'),
        now: new Date('2026-12-01T00:00:00Z'),
      }),
      exitCode: 1,
    });
    assert.match(textOf(r), /1 account\(s\) would fail under upstream policy 'strict'/);
  });
});

describe('views of real traffic', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const cfg = defaultConfig();
  cfg.policy.candidate = { upstream: 'strict' };
  cfg.policy.exceptions = [
    { host: 'pop.isp.test', allow: ['sha1-handshake-signature'], until: '2026-12-13', reason: 'ISP' },
    { host: 'old.example', allow: ['tls1.1'], until: '2027-01-31' },
  ];
  const refusal = (at: string) => ({
    at,
    account: 'isp' + XSS,
    leg: 'upstream' as const,
    peer: 'pop.isp.test:995',
    peer_label: 'pop.isp.test:995 (' + XSS + '\u202E)',
    policy: 'balanced',
    candidate: 'strict',
    code: 'MS_ERR_UPSTREAM_POLICY',
    rule: 'sha1-handshake-signature',
    explanation: 'server signs the handshake with SHA-1; ' + XSS,
    admit: '- {host: pop.isp.test, allow: [sha1-handshake-signature], until: 2027-03-01}',
  });

  it('policy report: would-refuse peers with counts and dates, exception uses and the removable ones, as text', () => {
    const r = buildPolicyReport({
      config: cfg,
      wouldRefuse: [refusal('2026-11-30T08:00:00.000Z'), refusal('2026-12-01T09:30:12.000Z')],
      uses: [
        {
          exception: 'pop.isp.test: sha1-handshake-signature until 2026-12-13',
          uses: 312,
          first_used: '2026-11-02T00:00:00.000Z',
          last_used: '2026-12-01T09:30:12.000Z',
        },
      ],
      since: new Date(now.getTime() - 7 * 86_400_000),
      now,
    });
    const w = walk(policyReportView(r));
    const t = w.text.join('');
    assert.match(t, /Candidate: upstream 'strict'/);
    assert.ok(t.includes(XSS + '22026-11-30 08:00:002026-12-01 09:30:12'), 'accounts, seen twice, first and last seen');
    assert.ok(t.includes('isp' + XSS), 'account as text');
    assert.ok(
      t.includes('pop.isp.test:995 (' + XSS + '<U+202E>)'),
      'the peer label shown with the bidi override visible',
    );
    assert.ok(t.includes('server signs the handshake with SHA-1; ' + XSS), 'the explanation');
    assert.ok(t.includes('allow: [sha1-handshake-signature], until: 2027-03-01'), 'the exception it would need');
    assert.match(
      t,
      /sha1-handshake-signature: used 312 time\(s\), last used 2026-12-01 09:30:12, expires in 12 day\(s\)/,
    );
    assert.match(t, /tls1\.1: never used — removable; expires in 61 day\(s\)/);
    assert.ok(!w.props.has('dangerouslySetInnerHTML'));

    const none = textOf(policyReportView({ ...r, peers: [], candidate: { client: null, upstream: null } }));
    assert.match(none, /No policy\.candidate is set/);
    const earlier = textOf(policyReportView({ ...r, candidate: { client: null, upstream: null } }));
    assert.match(earlier, /No policy\.candidate is set:\s*these were recorded under an earlier one/);
    const quiet = textOf(policyReportView({ ...r, peers: [] }));
    assert.match(quiet, /would have refused nothing seen/);
    assert.match(textOf(policyReportView({ ...r, peers: [], recorded: false })), /Nothing recorded yet/);
  });

  it('interceptions: original destination, the name verified and its source, and the decision', () => {
    const base = {
      at: '2026-12-01T09:30:12.000Z',
      clientAddress: '127.0.0.1:50000',
      protocol: 'imap',
      tlsMode: 'implicit',
      sni: null,
    };
    const w = walk(
      interceptionsView([
        {
          ...base,
          connectionId: 'c1',
          originalDestination: '127.0.0.9:993',
          name: 'imap.example' + XSS,
          nameSource: 'sni',
          decision: 'intercept',
          reason: null,
        },
        {
          ...base,
          connectionId: 'c2',
          originalDestination: '127.0.0.9:995',
          name: 'pop.example',
          nameSource: 'hosts',
          decision: 'passthrough',
          reason: 'bank.example is in intercept.passthrough',
        },
        {
          ...base,
          connectionId: 'c3',
          originalDestination: '127.0.0.9:143\u202E',
          name: null,
          nameSource: null,
          decision: 'refuse',
          reason: 'no name: ' + XSS,
        },
      ]),
    );
    const t = w.text.join('');
    assert.match(t, /127\.0\.0\.9:993/);
    assert.ok(t.includes('imap.example' + XSS + ' (from SNI)'));
    assert.match(t, /pop\.example \(from hosts\)/);
    assert.match(t, /intercepted/);
    assert.match(t, /relayed untouched: bank\.example is in intercept\.passthrough/);
    assert.ok(t.includes('127.0.0.9:143<U+202E>'));
    assert.ok(t.includes('refused: no name: ' + XSS));
    assert.ok(!w.props.has('dangerouslySetInnerHTML'));
    assert.match(textOf(interceptionsView([])), /No intercepted connection recorded/);
  });
});
