// SMTP transcripts on the shared playbook harness (src/protocols/playbook.ts): a transcript of events and the
// commands each must produce, as transcript lines (sends to the same leg and capture data of the same capture
// merged, debug logs dropped), which is what must not change when TCP splits a data event anywhere: every playbook
// also runs with each data event cut at every offset.
import assert from 'node:assert/strict';
import { validateConfig } from '../../core/config.js';
import type { AccountConfig, Config } from '../../core/config.js';
import type { SessionEvent } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { cutsOf, lines, readsOf } from '../playbook.js';
import { createSmtpSession } from './session.js';

export interface Setup {
  clientTls?: AccountConfig['clientTls'];
  upstreamTls?: AccountConfig['upstreamTls'];
  signature?: Config['actions']['outgoingSignature'];
  maxMessageBytes?: number;
  maxLineBytes?: number;
  bareLineEndings?: Config['smtp']['bareLineEndings'];
}

export function makeSession(s: Setup = {}) {
  const raw = {
    accounts: [
      {
        name: 'sub',
        protocol: 'smtp',
        listen: '127.0.0.1:1587',
        clientTls: s.clientTls ?? 'implicit',
        upstream: 'mail.test:465',
        upstreamTls: s.upstreamTls ?? 'implicit',
      },
    ],
    actions: { outgoingSignature: s.signature ?? { mode: 'off' } },
    limits: { maxMessageBytes: s.maxMessageBytes ?? 1000, maxLineBytes: s.maxLineBytes ?? 512 },
    smtp: { bareLineEndings: s.bareLineEndings ?? 'normalize' },
  };
  const config = validateConfig(raw, 'test.yaml');
  const account = config.accounts[0]!;
  return createSmtpSession({
    connId: 'c1',
    account,
    config,
    limits: config.limits,
    clientSecure: account.clientTls === 'implicit',
  });
}

/** Normalises commands into readable lines. */
export const norm = lines;

export type Step = [SessionEvent, string[]] | [SessionEvent, string[], 'no-split'];

export const C = (s: string): SessionEvent => ({ type: 'data', from: 'client', data: Buffer.from(s, 'latin1') });
export const U = (s: string): SessionEvent => ({ type: 'data', from: 'upstream', data: Buffer.from(s, 'latin1') });
export const START: SessionEvent = { type: 'start', upstreamFacts: null };
export const scan = (id: number, result: ScanAction): SessionEvent => ({ type: 'scan-done', id, result });
export const CLEAN: ScanAction = { action: 'release', verdict: { kind: 'clean' } };

/** Runs the playbook whole, then with every data event (unless marked) cut at every offset. */
export function play(setup: Setup, steps: Step[]): void {
  const s = makeSession(setup);
  steps.forEach(([ev, want], i) => assert.deepEqual(norm(s.handle(ev)), want, `step ${i}`));
  const lengths = steps.map(([ev, , mode]) => (ev.type === 'data' && mode !== 'no-split' ? ev.data.length : null));
  for (const cut of cutsOf(lengths, 'each-step')) {
    if (cut.kind !== 'step') continue;
    const { step: i, at: k } = cut;
    const t = makeSession(setup);
    steps.forEach(([e2, want2], j) => {
      if (j !== i) return assert.deepEqual(norm(t.handle(e2)), want2, `step ${j} (step ${i} split at ${k})`);
      if (e2.type !== 'data') return;
      const got = readsOf(e2.data, j, cut).flatMap((data) => t.handle({ ...e2, data }));
      assert.deepEqual(norm(got), want2, `step ${j} split at ${k}`);
    });
  }
}

export const GREETING = '220 mx.test ESMTP Postfix\r\n';
export const EHLO_UP =
  '250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n' +
  '250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n';
export const EHLO_OUT =
  '250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n250-AUTH=PLAIN LOGIN\r\n' +
  '250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n';

/** Steps that bring an implicit/implicit session to an authenticated, EHLO'd state. */
export const OPENED: Step[] = [
  [START, []],
  [U(GREETING), [`C: ${GREETING}`]],
  [C('EHLO client.test\r\n'), ['U: EHLO client.test\r\n']],
  [U(EHLO_UP), [`C: ${EHLO_OUT}`]],
];

export const TXN: Step[] = [
  [C('MAIL FROM:<a@test>\r\n'), ['U: MAIL FROM:<a@test>\r\n']],
  [U('250 2.1.0 Ok\r\n'), ['C: 250 2.1.0 Ok\r\n']],
  [C('RCPT TO:<b@test>\r\n'), ['U: RCPT TO:<b@test>\r\n']],
  [U('250 2.1.5 Ok\r\n'), ['C: 250 2.1.5 Ok\r\n']],
];
