// Overlap across messages (issue 15): a client that pipelines RETR (or TOP) gets every message read and captured
// from the server while earlier scans still run, and the answers in exactly the order it asked, whichever scan
// finishes first. The session pipelines what the client pipelines, whether or not CAPA says PIPELINING: the
// client decided to send ahead; the shield only keeps the answers in order (the outQueue in session-core.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, type AccountConfig } from '../../core/config.js';
import { DEFAULT_LIMITS } from '../../core/limits.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { Sim } from '../playbook.js';
import { createPop3Session } from './session.js';

const account: AccountConfig = {
  name: 'test',
  protocol: 'pop3',
  listen: '127.0.0.1:1995',
  clientTls: 'implicit',
  upstream: 'mail.test:995',
  upstreamTls: 'implicit',
};

const NOTICE = Buffer.from('Subject: [virus removed]\r\n\r\nreplaced\r\n', 'latin1');
const scanner = (bytes: Buffer): ScanAction =>
  bytes.includes('INFECTED')
    ? {
        action: 'replace',
        verdict: { kind: 'infected', engine: 'test', signature: 'T', part: '1' },
        notice: NOTICE,
        quarantineId: 'q-1',
      }
    : { action: 'release', verdict: { kind: 'clean' } };

function sim(keepInfectedOnServer = false): Sim {
  const config = defaultConfig();
  config.pop3.keepInfectedOnServer = keepInfectedOnServer;
  const session = createPop3Session({
    connId: 'c1',
    account,
    config,
    limits: DEFAULT_LIMITS,
    clientSecure: true,
  });
  const s = new Sim(session, scanner, false);
  s.feed({ type: 'start', upstreamFacts: null });
  return s;
}

const up = (s: Sim, text: string) => s.feed({ type: 'data', from: 'upstream', data: Buffer.from(text, 'latin1') });
const client = (s: Sim, text: string) => s.feed({ type: 'data', from: 'client', data: Buffer.from(text, 'latin1') });

// Dot lines in every message, so the re-stuffing of released captures is part of what is compared.
const body = (n: number) => `Subject: m${n}\r\n\r\n..dot ${n}\r\nline\r\n`;
const retrAnswer = (n: number) => `+OK ${n}00 octets\r\n${body(n)}.\r\n`;
const ORDERS = [
  [1, 2, 3],
  [1, 3, 2],
  [2, 1, 3],
  [2, 3, 1],
  [3, 1, 2],
  [3, 2, 1],
];

function opened(capa: string, keep = false): Sim {
  const s = sim(keep);
  up(s, '+OK ready\r\n');
  client(s, 'CAPA\r\n');
  up(s, `+OK\r\nUSER\r\nUIDL\r\nTOP\r\n${capa}.\r\n`);
  s.take('client');
  s.take('upstream');
  return s;
}

for (const capa of ['PIPELINING\r\n', '']) {
  test(`overlap: pipelined RETR 1-3 ${capa ? 'with' : 'without'} PIPELINING in CAPA: captured side by side, answered in order`, () => {
    for (const order of ORDERS) {
      const s = opened(capa);
      client(s, 'RETR 1\r\nRETR 2\r\nRETR 3\r\n');
      assert.equal(s.take('upstream'), 'RETR 1\r\nRETR 2\r\nRETR 3\r\n', 'all three go to the server at once');
      // The server answers back to back; each message is captured while the earlier scans are still pending.
      up(s, retrAnswer(1) + retrAnswer(2) + retrAnswer(3));
      assert.deepEqual([...s.scansWaiting], [1, 2, 3]);
      assert.equal(s.take('client'), '');
      let got = '';
      order.forEach((id, k) => {
        s.finishScan(id);
        got += s.take('client');
        // Out so far: exactly the answers whose scan and every earlier one's are done, never a later one first.
        const done = new Set(order.slice(0, k + 1));
        let ready = 0;
        while (done.has(ready + 1)) ready++;
        const want = [1, 2, 3].slice(0, ready).map(retrAnswer).join('');
        assert.equal(got, want, `scans finished ${order.join(',')}, after the verdict of ${id}`);
      });
      assert.ok([...s.captures.values()].every((c) => c.discarded));
    }
  });
}

test('overlap: a slow first scan does not stop the next message from being read, even one answer at a time', () => {
  const s = opened('PIPELINING\r\n');
  client(s, 'RETR 1\r\nRETR 2\r\n');
  up(s, retrAnswer(1));
  assert.deepEqual([...s.scansWaiting], [1]);
  up(s, retrAnswer(2));
  assert.deepEqual([...s.scansWaiting], [1, 2], 'message 2 captured while message 1 is still being scanned');
  s.finishScan(2);
  assert.equal(s.take('client'), '', 'message 2 waits for message 1');
  s.finishScan(1);
  assert.equal(s.take('client'), retrAnswer(1) + retrAnswer(2));
});

test('overlap: pipelined TOP of unscanned messages: the hidden RETRs are scanned side by side, answers in order', () => {
  for (const order of ORDERS) {
    const s = opened('PIPELINING\r\n');
    client(s, 'TOP 1 1\r\nTOP 2 1\r\nTOP 3 1\r\nNOOP\r\n');
    // Each TOP asks for the whole message first: a verdict from a truncated message would not be one.
    assert.equal(s.take('upstream'), 'RETR 1\r\nRETR 2\r\nRETR 3\r\nNOOP\r\n');
    up(s, `+OK\r\n${body(1)}.\r\n+OK\r\nSubject: m2\r\n\r\nINFECTED\r\n.\r\n+OK\r\n${body(3)}.\r\n+OK\r\n`);
    assert.deepEqual([...s.scansWaiting], [1, 2, 3]);
    const ups: string[] = [];
    for (const id of order) {
      s.finishScan(id);
      ups.push(s.take('upstream'));
    }
    // A clean verdict sends the client's own TOP at once, not after the earlier scans.
    assert.deepEqual(
      ups,
      order.map((id) => (id === 2 ? '' : `TOP ${id} 1\r\n`)),
    );
    assert.equal(s.take('client'), '', 'the TOP answers are still on their way');
    // The server answers the TOPs in the order it got them.
    const topAnswer = (n: number) => `+OK\r\nSubject: m${n}\r\n\r\n..dot ${n}\r\n.\r\n`;
    up(
      s,
      order
        .filter((id) => id !== 2)
        .map(topAnswer)
        .join(''),
    );
    const notice =
      `+OK ${NOTICE.length} octets (mailshield replaced this message; original in quarantine q-1)\r\n` +
      'Subject: [virus removed]\r\n\r\nreplaced\r\n.\r\n';
    assert.equal(s.take('client'), topAnswer(1) + notice + topAnswer(3) + '+OK\r\n', `order ${order.join(',')}`);
  }
});

const KEPT = (n: number) =>
  `+OK mailshield kept infected message ${n} on the server (pop3.keepInfectedOnServer: true)\r\n`;
const NOTICE_ANSWER =
  `+OK ${NOTICE.length} octets (mailshield replaced this message; original in quarantine q-1)\r\n` +
  'Subject: [virus removed]\r\n\r\nreplaced\r\n.\r\n';

test('overlap: RETR/DELE pairs under keepInfectedOnServer: each DELE waits in its place, the next RETR does not', () => {
  for (const order of ORDERS) {
    const s = opened('PIPELINING\r\n', true);
    client(s, 'RETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nRETR 3\r\nDELE 3\r\nQUIT\r\n');
    // Every RETR goes up at once; the DELEs need their message's verdict first, QUIT every answer.
    assert.equal(s.take('upstream'), 'RETR 1\r\nRETR 2\r\nRETR 3\r\n');
    up(s, retrAnswer(1) + `+OK\r\nSubject: m2\r\n\r\nINFECTED\r\n.\r\n` + retrAnswer(3));
    assert.deepEqual([...s.scansWaiting], [1, 2, 3], 'all three captured before any verdict');
    const ups: string[] = [];
    for (const id of order) {
      s.finishScan(id);
      ups.push(s.take('upstream'));
    }
    // A clean message's DELE goes up with its verdict; the infected one's never does.
    assert.deepEqual(
      ups.filter(Boolean),
      order.filter((id) => id !== 2).map((id) => `DELE ${id}\r\n`),
    );
    up(s, '+OK deleted\r\n+OK deleted\r\n');
    assert.equal(s.take('upstream'), 'QUIT\r\n', 'QUIT only after every earlier answer');
    assert.equal(
      s.take('client'),
      retrAnswer(1) + '+OK deleted\r\n' + NOTICE_ANSWER + KEPT(2) + retrAnswer(3) + '+OK deleted\r\n',
      `order ${order.join(',')}`,
    );
  }
});

test('overlap: TOP of a message whose RETR is being scanned keeps its place; the RETR after it goes up at once', () => {
  const s = opened('PIPELINING\r\n');
  client(s, 'RETR 1\r\nTOP 1 0\r\nRETR 2\r\n');
  assert.equal(s.take('upstream'), 'RETR 1\r\nRETR 2\r\n');
  up(s, retrAnswer(1) + retrAnswer(2));
  assert.deepEqual([...s.scansWaiting], [1, 2]);
  s.finishScan(2);
  assert.equal(s.take('upstream') + s.take('client'), '');
  s.finishScan(1);
  // Clean: the client's TOP goes up now, and its answer sits between the two messages.
  assert.equal(s.take('upstream'), 'TOP 1 0\r\n');
  assert.equal(s.take('client'), retrAnswer(1));
  up(s, '+OK\r\nSubject: m1\r\n\r\n.\r\n');
  assert.equal(s.take('client'), '+OK\r\nSubject: m1\r\n\r\n.\r\n' + retrAnswer(2));
});

test('overlap: the server vanishing while a deferred DELE waits answers it in its place and closes', () => {
  const s = opened('', true);
  client(s, 'RETR 1\r\nDELE 1\r\nRETR 2\r\n');
  up(s, retrAnswer(1));
  s.feed({ type: 'closed', leg: 'upstream' });
  assert.equal(s.closed, null, 'message 1 is still being scanned: its answer is owed');
  s.finishScan(1);
  const got = s.take('client');
  assert.ok(got.startsWith(retrAnswer(1)), got);
  const rest = got.slice(retrAnswer(1).length).split('\r\n').filter(Boolean);
  assert.equal(rest.length, 2, got);
  for (const line of rest) assert.match(line, /^-ERR \[SYS\/TEMP\] .*MS_ERR_UPSTREAM_CLOSED/);
  assert.equal(s.closed, 'both');
  assert.ok([...s.captures.values()].every((c) => c.discarded));
});
