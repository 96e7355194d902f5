// Overlap across messages (issue 15): while the scan of one message runs, the session goes on reading the server,
// so the next message of a FETCH 1:N (or of the next pipelined FETCH) is captured and scanned at the same time. The
// client still gets every response in exactly the server's order, whichever scan finishes first: a response whose
// scan is pending holds back itself and everything after it (ordered.ts), never more, never reordered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOTICE, play, Sim, type Step } from './playbook.js';

const CAPS = 'IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE UIDPLUS MOVE BINARY';
const len = (s: string) => Buffer.byteLength(s, 'latin1');
const msg = (n: number) => `From: a@test\r\nSubject: m${n}\r\n\r\nbody ${n}\r\n`;
const BAD = 'From: x@test\r\nSubject: bad\r\n\r\nINFECTED payload\r\n';

const loggedIn: Step[] = [
  { event: { type: 'start', upstreamFacts: null } },
  { up: `* OK [CAPABILITY ${CAPS}] ready\r\n` },
  { client: 'a1 LOGIN user secret\r\n' },
  { up: 'a1 OK Logged in\r\n' },
  { client: 'a2 SELECT INBOX\r\n' },
  { up: '* 3 EXISTS\r\n* OK [UIDVALIDITY 77] UIDs valid\r\na2 OK [READ-WRITE] Select completed\r\n' },
  { expect: (s) => void (s.take('client'), s.take('upstream')) },
];

/** Every order three scans can finish in. */
const ORDERS = [
  [1, 2, 3],
  [1, 3, 2],
  [2, 1, 3],
  [2, 3, 1],
  [3, 1, 2],
  [3, 2, 1],
];

interface Case {
  name: string;
  client: string;
  /** What the shield sends the server for `client` (PEEK and UID added where the shield needs them). */
  up: string;
  /** The server's answer, in one read. */
  reply: string;
  /** What the client must get once every scan is done: the server's order. */
  want: string;
  /** What the shield sends the server after the client has the content (\Seen stored by the shield). */
  after?: string;
}

const fetchOf = (n: number, item: string, body: string, flags = '') =>
  `* ${n} FETCH (UID ${n + 4}${flags} ${item} {${len(body)}}\r\n${body})\r\n`;

const CASES: Case[] = [
  {
    name: 'FETCH 1:3 (BODY.PEEK[])',
    client: 'a3 FETCH 1:3 (BODY.PEEK[])\r\n',
    up: 'a3 FETCH 1:3 (UID BODY.PEEK[])\r\n',
    reply: [1, 2, 3].map((n) => fetchOf(n, 'BODY[]', msg(n))).join('') + 'a3 OK Fetch completed.\r\n',
    want: [1, 2, 3].map((n) => fetchOf(n, 'BODY[]', msg(n))).join('') + 'a3 OK Fetch completed.\r\n',
  },
  {
    // BODY[] sets \Seen: the shield fetches with PEEK and stores \Seen itself once each message is delivered.
    name: 'FETCH 1:3 (BODY[]) with an infected second message',
    client: 'a3 FETCH 1:3 (BODY[])\r\n',
    up: 'a3 FETCH 1:3 (UID FLAGS BODY.PEEK[])\r\n',
    reply:
      fetchOf(1, 'BODY[]', msg(1), ' FLAGS ()') +
      fetchOf(2, 'BODY[]', BAD, ' FLAGS ()') +
      fetchOf(3, 'BODY[]', msg(3), ' FLAGS ()') +
      'a3 OK Fetch completed.\r\n',
    want:
      fetchOf(1, 'BODY[]', msg(1), ' FLAGS (\\Seen)') +
      fetchOf(2, 'BODY[]', NOTICE.toString('latin1'), ' FLAGS (\\Seen)') +
      fetchOf(3, 'BODY[]', msg(3), ' FLAGS (\\Seen)') +
      'a3 OK Fetch completed.\r\n',
    after: [5, 6, 7].map((uid, i) => `ms${i + 1}.c1 UID STORE ${uid} +FLAGS.SILENT (\\Seen)\r\n`).join(''),
  },
  {
    name: 'FETCH 1:3 RFC822',
    client: 'a3 FETCH 1:3 RFC822\r\n',
    up: 'a3 FETCH 1:3 (UID FLAGS BODY.PEEK[])\r\n',
    reply: [1, 2, 3].map((n) => fetchOf(n, 'BODY[]', msg(n), ' FLAGS (\\Seen)')).join('') + 'a3 OK done\r\n',
    want: [1, 2, 3].map((n) => fetchOf(n, 'RFC822', msg(n), ' FLAGS (\\Seen)')).join('') + 'a3 OK done\r\n',
  },
  {
    // Two FETCH commands in one write, and a NOOP behind them: all go to the server at once, and the responses
    // after a held one (the second FETCH's, the NOOP's EXISTS and OK) keep their place.
    name: 'pipelined a FETCH 1 BODY.PEEK[], b FETCH 2:3 BODY.PEEK[], c NOOP',
    client: 'a FETCH 1 BODY.PEEK[]\r\nb FETCH 2:3 BODY.PEEK[]\r\nc NOOP\r\n',
    up: 'a FETCH 1 (UID BODY.PEEK[])\r\nb FETCH 2:3 (UID BODY.PEEK[])\r\nc NOOP\r\n',
    reply:
      fetchOf(1, 'BODY[]', msg(1)) +
      'a OK done\r\n' +
      fetchOf(2, 'BODY[]', msg(2)) +
      fetchOf(3, 'BODY[]', msg(3)) +
      'b OK done\r\n* 4 EXISTS\r\nc OK noop\r\n',
    want:
      fetchOf(1, 'BODY[]', msg(1)) +
      'a OK done\r\n' +
      fetchOf(2, 'BODY[]', msg(2)) +
      fetchOf(3, 'BODY[]', msg(3)) +
      'b OK done\r\n* 4 EXISTS\r\nc OK noop\r\n',
  },
];

/** Runs a case with scanning held, checks that all three messages were captured first, then finishes the scans. */
function run(c: Case, order: number[], cut?: { step: number; at: number }): Sim {
  const steps: Step[] = [
    ...loggedIn,
    { client: c.client },
    { expectUp: c.up },
    { up: c.reply },
    {
      expect: (sim) => {
        // Every message was read and captured while no verdict was known: the scans run side by side.
        assert.deepEqual([...sim.scansWaiting], [1, 2, 3], 'all three captures ended before any scan-done');
        assert.equal(sim.take('client'), '', 'nothing of a held response (or after it) reaches the client');
      },
    },
  ];
  const sim = play(steps, { autoScan: false }, cut);
  let got = '';
  for (const id of order) {
    sim.finishScan(id);
    got += sim.take('client');
  }
  assert.equal(got, c.want, `${c.name}, scans finished in order ${order.join(',')}`);
  assert.equal(sim.take('upstream'), c.after ?? '');
  assert.ok(
    [...sim.captures.values()].every((cap) => cap.discarded),
    'every capture let go',
  );
  return sim;
}

for (const c of CASES) {
  test(`overlap: ${c.name}: next messages captured before the first verdict, output in server order`, () => {
    for (const order of ORDERS) run(c, order);
    // And with the server's answer split at every offset (TCP may cut anywhere).
    const replyStep = loggedIn.length + 2;
    for (let at = 1; at < len(c.reply); at += 7) run(c, [3, 2, 1], { step: replyStep, at });
  });
}

test('overlap: output that does not wait for a scan is not held: a response before the held one goes out at once', () => {
  const sim = play(
    [
      ...loggedIn,
      { client: 'a NOOP\r\nb FETCH 1:2 BODY.PEEK[]\r\n' },
      { up: '* 5 EXISTS\r\na OK noop\r\n' + fetchOf(1, 'BODY[]', msg(1)) + fetchOf(2, 'BODY[]', msg(2)) },
      { expectClient: '* 5 EXISTS\r\na OK noop\r\n' },
      { expect: (s) => assert.deepEqual([...s.scansWaiting], [1, 2]) },
    ],
    { autoScan: false },
  );
  // The second message's verdict alone releases nothing: the first response is still ahead of it.
  sim.finishScan(2);
  assert.equal(sim.take('client'), '');
  sim.finishScan(1);
  assert.equal(sim.take('client'), fetchOf(1, 'BODY[]', msg(1)) + fetchOf(2, 'BODY[]', msg(2)));
  // The tagged OK was still on its way; it follows the released responses directly.
  sim.feed({ type: 'data', from: 'upstream', data: Buffer.from('b OK done\r\n') });
  assert.equal(sim.take('client'), 'b OK done\r\n');
});
