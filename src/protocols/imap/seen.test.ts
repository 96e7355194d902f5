import { test } from 'node:test';
import assert from 'node:assert/strict';
import { play, type Step } from './playbook.js';
import { hasSeen, withSeen } from './seen.js';

const start: Step = { event: { type: 'start', upstreamFacts: null } };
const MSG = 'From: a@test\r\nSubject: hi\r\n\r\nHello\r\n';
const len = (s: string) => Buffer.byteLength(s, 'latin1');

const opened = (select: string, reply: string): Step[] => [
  start,
  { up: '* OK [CAPABILITY IMAP4rev1] ready\r\n' },
  { client: 'a1 LOGIN u p\r\n' },
  { up: 'a1 OK in\r\n' },
  { client: `a2 ${select} INBOX\r\n` },
  { up: `* OK [UIDVALIDITY 7] ok\r\na2 OK ${reply} done\r\n` },
  { expect: (s) => void s.take('client') },
  { expect: (s) => void s.take('upstream') },
];

test('withSeen and hasSeen', () => {
  assert.equal(withSeen('()'), '(\\Seen)');
  assert.equal(withSeen('(\\Answered $Label)'), '(\\Answered $Label \\Seen)');
  assert.equal(withSeen('(\\Seen)'), '(\\Seen)');
  assert.ok(hasSeen('(\\Flagged \\Seen)') && !hasSeen('(\\Seenx)'));
});

test('a non-peek BODY[] without FLAGS: FLAGS asked upstream, shown with \\Seen, STORE after the response is out', () => {
  play([
    ...opened('SELECT', '[READ-WRITE]'),
    { client: 'a3 UID FETCH 5 BODY[]\r\n' },
    { expectUp: 'a3 UID FETCH 5 (FLAGS BODY.PEEK[])\r\n' },
    { up: `* 1 FETCH (UID 5 FLAGS (\\Recent) BODY[] {${len(MSG)}}\r\n${MSG})\r\n` },
    { expectClient: `* 1 FETCH (UID 5 FLAGS (\\Recent \\Seen) BODY[] {${len(MSG)}}\r\n${MSG})\r\n` },
    { expectUp: 'ms1.c1 UID STORE 5 +FLAGS.SILENT (\\Seen)\r\n' },
    { up: 'a3 OK done\r\nms1.c1 OK stored\r\n' },
    { expectClient: 'a3 OK done\r\n' },
  ]);
});

test('no STORE: PEEK, already seen, EXAMINE, SELECT [READ-ONLY]; FLAGS untouched there', () => {
  const cases: [string, string, string, string][] = [
    ['SELECT', '[READ-WRITE]', 'a3 UID FETCH 5 (FLAGS BODY.PEEK[])\r\n', '()'],
    ['SELECT', '[READ-WRITE]', 'a3 UID FETCH 5 (FLAGS BODY[])\r\n', '(\\Seen)'],
    ['EXAMINE', '[READ-ONLY]', 'a3 UID FETCH 5 (FLAGS BODY[])\r\n', '()'],
    ['SELECT', '[READ-ONLY]', 'a3 UID FETCH 5 (FLAGS BODY[])\r\n', '()'],
  ];
  for (const [select, reply, cmd, flags] of cases) {
    const sim = play([
      ...opened(select, reply),
      { client: cmd },
      { expect: (s) => assert.equal(s.take('upstream'), cmd.replace('BODY[]', 'BODY.PEEK[]')) },
      { up: `* 1 FETCH (UID 5 FLAGS ${flags} BODY[] {${len(MSG)}}\r\n${MSG})\r\na3 OK done\r\n` },
    ]);
    assert.equal(
      sim.take('client'),
      `* 1 FETCH (UID 5 FLAGS ${flags} BODY[] {${len(MSG)}}\r\n${MSG})\r\na3 OK done\r\n`,
      `${select} ${reply} ${cmd}`,
    );
    assert.equal(sim.take('upstream'), '', `${select} ${reply} ${cmd}: no STORE`);
  }
});

test('a tempfail leaves the flags untouched: NO [UNAVAILABLE], FLAGS never shown, no STORE', () => {
  const failing = 'Subject: x\r\n\r\nSCANFAIL\r\n';
  const sim = play([
    ...opened('SELECT', '[READ-WRITE]'),
    { client: 'a3 FETCH 1 (FLAGS RFC822)\r\n' },
    { expectUp: 'a3 FETCH 1 (UID FLAGS BODY.PEEK[])\r\n' },
    { up: `* 1 FETCH (UID 5 FLAGS () BODY[] {${len(failing)}}\r\n${failing})\r\na3 OK done\r\n` },
  ]);
  assert.match(sim.take('client'), /^a3 NO \[UNAVAILABLE\] mailshield: the message could not be scanned/);
  assert.equal(sim.take('upstream'), '');
});

test('a part fetch sets \\Seen only once the held part went out; unsolicited FLAGS of other messages unchanged', () => {
  const sim = play(
    [
      ...opened('SELECT', '[READ-WRITE]'),
      { client: 'a3 UID FETCH 5 (BODY[1])\r\n' },
      { expectUp: 'a3 UID FETCH 5 (FLAGS BODY.PEEK[1])\r\n' },
      { up: '* 3 FETCH (FLAGS (\\Deleted))\r\n* 1 FETCH (UID 5 FLAGS () BODY[1] {5}\r\nHello)\r\na3 OK done\r\n' },
      { expectClient: '* 3 FETCH (FLAGS (\\Deleted))\r\n' },
      { expectUp: 'ms1.c1 UID FETCH 5 (UID BODY.PEEK[])\r\n' },
      { up: `* 1 FETCH (UID 5 BODY[] {${len(MSG)}}\r\n${MSG})\r\nms1.c1 OK done\r\n` },
      { expectClient: '' },
      { scan: true },
      { expectClient: '* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[1] {5}\r\nHello)\r\na3 OK done\r\n' },
      { expectUp: 'ms2.c1 UID STORE 5 +FLAGS.SILENT (\\Seen)\r\n' },
    ],
    { autoScan: false },
  );
  assert.equal(sim.scanned.length, 1);
});
