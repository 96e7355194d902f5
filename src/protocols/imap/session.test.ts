import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShieldError } from '../../core/errors.js';
import { NOTICE, play, playSplit, type Step } from './playbook.js';

const CAPS = 'IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE COMPRESS=DEFLATE STARTTLS AUTH=PLAIN UIDPLUS MOVE BINARY';
const CLIENT_CAPS = 'IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN UIDPLUS MOVE BINARY';
const start: Step = { event: { type: 'start', upstreamFacts: null } };

const MSG = 'From: a@test\r\nSubject: hi\r\n\r\nHello {5}\r\n* 1 FETCH body\r\n';
const BAD_MSG = 'From: x@test\r\nSubject: bad\r\n\r\nINFECTED payload\r\n';
const len = (s: string | Buffer) => Buffer.byteLength(s, 'latin1');

/** Greeting, login and SELECT INBOX (UIDVALIDITY 77) on an implicit/implicit account. */
const loggedIn: Step[] = [
  start,
  { up: `* OK [CAPABILITY ${CAPS}] Dovecot ready.\r\n` },
  { expectClient: `* OK [CAPABILITY ${CLIENT_CAPS}] Dovecot ready.\r\n` },
  { client: 'a1 LOGIN user secret\r\n' },
  { expectUp: 'a1 LOGIN user secret\r\n' },
  { up: `a1 OK [CAPABILITY ${CAPS} NOTIFY] Logged in\r\n` },
  { expectClient: `a1 OK [CAPABILITY ${CLIENT_CAPS} NOTIFY] Logged in\r\n` },
  { client: 'a2 SELECT INBOX\r\n' },
  { expectUp: 'a2 SELECT INBOX\r\n' },
  { up: '* 3 EXISTS\r\n* OK [UIDVALIDITY 77] UIDs valid\r\na2 OK [READ-WRITE] Select completed\r\n' },
  { expectClient: '* 3 EXISTS\r\n* OK [UIDVALIDITY 77] UIDs valid\r\na2 OK [READ-WRITE] Select completed\r\n' },
];

test('capabilities are rewritten in the greeting, CAPABILITY and the tagged OK; credentials are never logged', () => {
  const sim = play([
    ...loggedIn,
    { client: 'a3 CAPABILITY\r\n' },
    { expectUp: 'a3 CAPABILITY\r\n' },
    { up: `* CAPABILITY ${CAPS}\r\na3 OK done\r\n` },
    { expectClient: `* CAPABILITY ${CLIENT_CAPS}\r\na3 OK done\r\n` },
  ]);
  assert.ok(!sim.logs().some((l) => l.includes('secret')));
});

test('upstream STARTTLS: injection after the go-ahead is discarded, capabilities are asked again after TLS', () => {
  playSplit(
    [
      start,
      { up: '* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n' },
      { expectUp: 'ms1.c1 STARTTLS\r\n' },
      { expectClient: '' },
      { up: 'ms1.c1 OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n' },
      {
        expect: (sim) => {
          assert.deepEqual(
            sim.commands.filter((c) => c.type === 'start-tls'),
            [{ type: 'start-tls', leg: 'upstream' }],
          );
          assert.ok(sim.logs().some((l) => l.includes('MS_ERR_UPSTREAM_STARTTLS_INJECTION')));
        },
      },
      { event: { type: 'tls-ready', leg: 'upstream' } },
      { expectUp: 'ms2.c1 CAPABILITY\r\n' },
      { up: '* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE COMPRESS=DEFLATE\r\nms2.c1 OK done\r\n' },
      { expectClient: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE] ready\r\n' },
      { client: 'a NOOP\r\n' },
      { expectUp: 'a NOOP\r\n' },
    ],
    { upstreamTls: 'starttls' },
  );
});

test('upstream STARTTLS: PREAUTH, missing or refused STARTTLS fail closed with an alert', () => {
  const cases: [string[], string][] = [
    [['* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n'], 'MS_ERR_UPSTREAM_PREAUTH_DOWNGRADE'],
    [['* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n'], 'MS_ERR_UPSTREAM_STARTTLS_MISSING'],
    [['* OK hi\r\n', '* CAPABILITY IMAP4rev1\r\nms1.c1 OK done\r\n'], 'MS_ERR_UPSTREAM_STARTTLS_MISSING'],
    [['* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n', 'ms1.c1 NO not now\r\n'], 'MS_ERR_UPSTREAM_STARTTLS_REFUSED'],
  ];
  for (const [lines, code] of cases) {
    const sim = play([start, ...lines.map((up) => ({ up }))], { upstreamTls: 'starttls' });
    const text = sim.take('client');
    assert.match(text, new RegExp(`^\\* BYE \\[ALERT\\] mailshield: .*${code}.*\\r\\n$`), code);
    assert.equal(sim.closed, 'both');
    assert.ok(!sim.commands.some((c) => c.type === 'start-tls'));
  }
});

test('upstream failure greets the client with BYE [ALERT] and the explanation', () => {
  const error = new ShieldError('MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE', 'The server signed with SHA-1', {
    offered: 'RSA+SHA1',
    fix: 'add a policy exception',
  });
  const sim = play([{ event: { type: 'upstream-failed', error } }]);
  assert.equal(sim.take('client'), `* BYE [ALERT] mailshield: ${error.toReplyText()}\r\n`);
  assert.equal(sim.closed, 'both');
});

test('client STARTTLS leg: LOGINDISABLED until TLS, LOGIN refused, pipelined ClientHello kept, then login allowed', () => {
  playSplit(
    [
      start,
      { up: `* OK [CAPABILITY ${CAPS}] ready\r\n` },
      { expectClient: `* OK [CAPABILITY ${CLIENT_CAPS} STARTTLS LOGINDISABLED] ready\r\n` },
      { client: 'a1 LOGIN {4+}\r\nuser {6+}\r\nsecret\r\n' },
      { expectUp: '' },
      {
        expect: (sim) =>
          assert.match(sim.take('client'), /^a1 NO \[PRIVACYREQUIRED\] mailshield: .*MS_ERR_CLIENT_TLS_REQUIRED/),
      },
      { client: 'a2 AUTHENTICATE PLAIN {6}\r\n' },
      { expect: (sim) => assert.match(sim.take('client'), /^a2 NO \[PRIVACYREQUIRED\]/) },
      { client: 'a3 STARTTLS\r\n' },
      { expectClient: 'a3 OK Begin TLS negotiation now\r\n' },
      {
        expect: (sim) => {
          const st = sim.commands.find((c) => c.type === 'start-tls');
          assert.ok(st?.type === 'start-tls' && st.leg === 'client' && st.pending === undefined);
        },
      },
      { event: { type: 'tls-ready', leg: 'client' } },
      { client: 'a4 CAPABILITY\r\na5 LOGIN user secret\r\n' },
      { expectUp: 'a4 CAPABILITY\r\na5 LOGIN user secret\r\n' },
      { up: `* CAPABILITY ${CAPS}\r\na4 OK done\r\na5 OK [CAPABILITY ${CAPS}] in\r\n` },
      { expectClient: `* CAPABILITY ${CLIENT_CAPS}\r\na4 OK done\r\na5 OK [CAPABILITY ${CLIENT_CAPS}] in\r\n` },
    ],
    { clientTls: 'starttls' },
  );
});

test('client STARTTLS: a ClientHello in the same read is handed over as pending', () => {
  const sim = play([start, { up: '* OK ready\r\n' }, { client: 'a STARTTLS\r\n\x16\x03\x01\x00\x05hello' }], {
    clientTls: 'starttls',
  });
  const st = sim.commands.find((c) => c.type === 'start-tls');
  assert.ok(st?.type === 'start-tls' && st.leg === 'client');
  assert.equal(st.pending?.toString('latin1'), '\x16\x03\x01\x00\x05hello');
  assert.equal(sim.take('client'), '* OK ready\r\na OK Begin TLS negotiation now\r\n');
});

test('client STARTTLS: plaintext sent after it is discarded and logged', () => {
  const sim = play([start, { up: '* OK ready\r\n' }, { client: 'a STARTTLS\r\nb LOGIN user pass\r\n' }], {
    clientTls: 'starttls',
  });
  const st = sim.commands.find((c) => c.type === 'start-tls');
  assert.ok(st?.type === 'start-tls' && st.pending === undefined);
  assert.ok(sim.logs().some((l) => l.includes('MS_ERR_CLIENT_STARTTLS_INJECTION')));
  assert.ok(!sim.logs().some((l) => l.includes('pass')));
  assert.equal(sim.take('upstream'), '');
});

test('full BODY[] fetch: clean bytes pass identical, infected are replaced with a correct length', () => {
  const sim = play([
    ...loggedIn,
    { client: 'a3 UID FETCH 5,6 (FLAGS BODY.PEEK[])\r\n' },
    { expectUp: 'a3 UID FETCH 5,6 (FLAGS BODY.PEEK[])\r\n' },
    {
      up:
        `* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {${len(MSG)}}\r\n${MSG})\r\n` +
        `* 2 FETCH (UID 6 FLAGS () BODY[] {${len(BAD_MSG)}}\r\n${BAD_MSG})\r\na3 OK Fetch completed.\r\n`,
    },
    {
      expectClient:
        `* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {${len(MSG)}}\r\n${MSG})\r\n` +
        `* 2 FETCH (UID 6 FLAGS () BODY[] {${NOTICE.length}}\r\n${NOTICE.toString()})\r\na3 OK Fetch completed.\r\n`,
    },
    // The verdict is remembered: a second fetch of either message is not scanned again.
    { client: 'a4 UID FETCH 6 (BODY.PEEK[])\r\n' },
    { up: `* 2 FETCH (UID 6 BODY[] {${len(BAD_MSG)}}\r\n${BAD_MSG})\r\na4 OK done\r\n` },
    { expectUp: 'a4 UID FETCH 6 (BODY.PEEK[])\r\n' },
    { expectClient: `* 2 FETCH (UID 6 BODY[] {${NOTICE.length}}\r\n${NOTICE.toString()})\r\na4 OK done\r\n` },
  ]);
  assert.equal(sim.scanned.length, 2);
  assert.equal(sim.scanned[0]!.bytes.toString('latin1'), MSG);
  assert.ok([...sim.captures.values()].every((c) => c.discarded));
});

test('every fetch style at every split offset', () => {
  // RFC822 by sequence number (UID added), BINARY[] with a binary literal, and the infected one as RFC822.
  playSplit([
    ...loggedIn,
    // RFC822 sets \Seen: fetched with PEEK as BODY[], renamed back, FLAGS shown with \Seen, and \Seen stored after.
    { client: 'a3 FETCH 1:2 RFC822\r\n' },
    { expectUp: 'a3 FETCH 1:2 (UID FLAGS BODY.PEEK[])\r\n' },
    {
      up:
        `* 1 FETCH (UID 5 FLAGS (\\Answered) BODY[] {${len(MSG)}}\r\n${MSG})\r\n` +
        `* 2 FETCH (UID 6 FLAGS () BODY[] {${len(BAD_MSG)}}\r\n${BAD_MSG})\r\na3 OK done\r\n`,
    },
    {
      expectClient:
        `* 1 FETCH (UID 5 FLAGS (\\Answered \\Seen) RFC822 {${len(MSG)}}\r\n${MSG})\r\n` +
        `* 2 FETCH (UID 6 FLAGS (\\Seen) RFC822 {${NOTICE.length}}\r\n${NOTICE.toString()})\r\na3 OK done\r\n`,
    },
    {
      expectUp: 'ms1.c1 UID STORE 5 +FLAGS.SILENT (\\Seen)\r\nms2.c1 UID STORE 6 +FLAGS.SILENT (\\Seen)\r\n',
    },
    { up: 'ms1.c1 OK Store completed.\r\nms2.c1 OK Store completed.\r\n' },
    { expectClient: '' },
    { client: 'a4 UID FETCH 7 (BINARY.PEEK[])\r\n' },
    { up: `* 3 FETCH (UID 7 BINARY[] ~{${len(MSG)}}\r\n${MSG})\r\na4 OK done\r\n` },
    { expectClient: `* 3 FETCH (UID 7 BINARY[] ~{${len(MSG)}}\r\n${MSG})\r\na4 OK done\r\n` },
  ]);
});

test('chunked partial fetch: the shield fetches the whole message once, by UID, and filters its own response', () => {
  const whole = MSG;
  const chunk1 = whole.slice(0, 20);
  const chunk2 = whole.slice(20, 40);
  const steps: Step[] = [
    ...loggedIn,
    { client: 'a3 UID FETCH 5 (UID RFC822.SIZE BODY.PEEK[]<0.20>)\r\n' },
    { expectUp: 'a3 UID FETCH 5 (UID RFC822.SIZE BODY.PEEK[]<0.20>)\r\n' },
    { up: `* 1 FETCH (UID 5 RFC822.SIZE ${len(whole)} BODY[]<0> {20}\r\n${chunk1})\r\na3 OK done\r\n` },
    // Held: nothing reaches the client before the whole message is scanned.
    { expectClient: '' },
    { expectUp: 'ms1.c1 UID FETCH 5 (UID BODY.PEEK[])\r\n' },
    { up: `* 1 FETCH (UID 5 BODY[] {${len(whole)}}\r\n${whole})\r\nms1.c1 OK done\r\n` },
    { expectClient: `* 1 FETCH (UID 5 RFC822.SIZE ${len(whole)} BODY[]<0> {20}\r\n${chunk1})\r\na3 OK done\r\n` },
    { client: 'a4 UID FETCH 5 (UID BODY.PEEK[]<20.20>)\r\n' },
    { up: `* 1 FETCH (UID 5 BODY[]<20> {20}\r\n${chunk2})\r\na4 OK done\r\n` },
    { expectUp: 'a4 UID FETCH 5 (UID BODY.PEEK[]<20.20>)\r\n' },
    { expectClient: `* 1 FETCH (UID 5 BODY[]<20> {20}\r\n${chunk2})\r\na4 OK done\r\n` },
    { expect: (sim) => assert.equal(sim.scanned.length, 1) },
  ];
  playSplit(steps);
});

test('partial and part fetches of an infected message are served from the notice', () => {
  const body = NOTICE.subarray(NOTICE.indexOf('\r\n\r\n') + 4);
  const sim = play([
    ...loggedIn,
    { client: 'a3 FETCH 2 (BODY.PEEK[1] BODY.PEEK[]<0.10>)\r\n' },
    { expectUp: 'a3 FETCH 2 (UID BODY.PEEK[1] BODY.PEEK[]<0.10>)\r\n' },
    { up: `* 2 FETCH (UID 6 BODY[1] {7}\r\nINFECTE BODY[]<0> {10}\r\nFrom: x@te)\r\na3 OK done\r\n` },
    { expectUp: 'ms1.c1 UID FETCH 6 (UID BODY.PEEK[])\r\n' },
    { up: `* 2 FETCH (UID 6 BODY[] {${len(BAD_MSG)}}\r\n${BAD_MSG})\r\nms1.c1 OK done\r\n` },
    {
      expectClient:
        `* 2 FETCH (UID 6 BODY[1] {${body.length}}\r\n${body.toString()} BODY[]<0> {10}\r\n` +
        `${NOTICE.subarray(0, 10).toString()})\r\na3 OK done\r\n`,
    },
    // Later chunks of the same message come from the notice without any new scan or fetch.
    { client: 'a4 UID FETCH 6 (BODY.PEEK[]<10.1000>)\r\n' },
    { up: `* 2 FETCH (UID 6 BODY[]<10> {${len(BAD_MSG) - 10}}\r\n${BAD_MSG.slice(10)})\r\na4 OK done\r\n` },
    { expectUp: 'a4 UID FETCH 6 (BODY.PEEK[]<10.1000>)\r\n' },
    {
      expectClient: `* 2 FETCH (UID 6 BODY[]<10> {${NOTICE.length - 10}}\r\n${NOTICE.subarray(10).toString()})\r\na4 OK done\r\n`,
    },
  ]);
  assert.equal(sim.scanned.length, 1);
});

test('an ENVELOPE subject cannot spoof the UID a verdict is cached under', () => {
  const sim = play([
    ...loggedIn,
    // Message 6 (clean) gets a verdict first.
    { client: 'a3 UID FETCH 6 BODY.PEEK[]\r\n' },
    { up: `* 2 FETCH (UID 6 BODY[] {${len(MSG)}}\r\n${MSG})\r\na3 OK done\r\n` },
    // Message 9 claims "UID 6" in its subject; the real UID comes later.
    { client: 'a4 FETCH 3 (ENVELOPE BODY.PEEK[1])\r\n' },
    {
      up: '* 3 FETCH (ENVELOPE (NIL "x) UID 6" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[1] {8}\r\nINFECTED UID 9)\r\na4 OK done\r\n',
    },
    { expect: (sim) => assert.match(sim.take('upstream'), /ms1\.c1 UID FETCH 9 \(UID BODY\.PEEK\[\]\)/) },
  ]);
  assert.doesNotMatch(sim.take('client'), /INFECTED/);
});

test('a long scan holds later responses in order and sends keepalives at a response boundary', () => {
  const sim = play(
    [
      ...loggedIn,
      { client: 'a3 UID FETCH 5 BODY.PEEK[]\r\na4 NOOP\r\n' },
      { up: `* 1 FETCH (UID 5 BODY[] {${len(MSG)}}\r\n${MSG})\r\na3 OK done\r\n* 4 EXISTS\r\na4 OK noop\r\n` },
      { expectClient: '' },
      { expect: (s) => assert.ok(s.timers.has('imap-scan-keepalive')) },
      { event: { type: 'timer', name: 'imap-scan-keepalive' } },
      { expectClient: '* OK mailshield: scanning...\r\n' },
      { scan: true },
      {
        expectClient: `* 1 FETCH (UID 5 BODY[] {${len(MSG)}}\r\n${MSG})\r\na3 OK done\r\n* 4 EXISTS\r\na4 OK noop\r\n`,
      },
      { expect: (s) => assert.ok(!s.timers.has('imap-scan-keepalive')) },
    ],
    { autoScan: false },
  );
  assert.equal(sim.scanned.length, 1);
});

test('scanner failure: the FETCH answers NO [UNAVAILABLE] and no content is sent', () => {
  const failing = 'Subject: x\r\n\r\nSCANFAIL\r\n';
  play([
    ...loggedIn,
    { client: 'a3 UID FETCH 5 BODY.PEEK[]\r\n' },
    { up: `* 1 FETCH (UID 5 BODY[] {${len(failing)}}\r\n${failing})\r\na3 OK done\r\n` },
    {
      expect: (s) =>
        assert.match(
          s.take('client'),
          /^a3 NO \[UNAVAILABLE\] mailshield: the message could not be scanned \(engine down\)/,
        ),
    },
  ]);
});

test('APPEND: the shield answers the continuation, scans, then sends the command with the server continuation', () => {
  playSplit(
    [
      start,
      { up: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n' },
      { expectClient: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n' },
      { client: `a1 APPEND Sent (\\Seen) {${len(MSG)}}\r\n` },
      { expectClient: '+ Ready for literal data\r\n' },
      { expectUp: '' },
      { client: `${MSG}\r\na2 NOOP\r\n` },
      // Pipelined NOOP waits behind the APPEND.
      { expectUp: `a1 APPEND Sent (\\Seen) {${len(MSG)}}\r\n` },
      { up: '+ go ahead\r\n' },
      { expectUp: `${MSG}\r\na2 NOOP\r\n` },
      { expectClient: '' },
      { up: 'a1 OK [APPENDUID 1 9] done\r\na2 OK noop\r\n' },
      { expectClient: 'a1 OK [APPENDUID 1 9] done\r\na2 OK noop\r\n' },
      { expect: (sim) => assert.equal(sim.scanned[0]?.direction, 'outgoing') },
    ],
    { upstreamTls: 'implicit' },
  );
});

test('APPEND with LITERAL+ upstream uses a non-synchronizing literal; infected APPEND is refused and never sent', () => {
  const sim = play([
    ...loggedIn,
    { client: `a3 APPEND Sent {${len(MSG)}+}\r\n${MSG}\r\n` },
    { expectClient: '' },
    { expectUp: `a3 APPEND Sent {${len(MSG)}+}\r\n${MSG}\r\n` },
    { client: `a4 APPEND Drafts {${len(BAD_MSG)}}\r\n` },
    { expectClient: '+ Ready for literal data\r\n' },
    { client: `${BAD_MSG}\r\n` },
    { expectUp: '' },
    {
      expect: (s) =>
        assert.match(
          s.take('client'),
          /^a4 NO \[ALERT\] mailshield: the message was not saved: it contains Test\.Virus/,
        ),
    },
  ]);
  assert.equal(sim.scanned.length, 2);
});

test('APPEND larger than the limit: sync gets NO [TOOBIG] and the session goes on', () => {
  const limits = { maxLiteralBytes: 10 };
  play(
    [
      ...loggedIn,
      { client: 'a3 APPEND Sent {11}\r\n' },
      { expect: (s) => assert.match(s.take('client'), /^a3 NO \[TOOBIG\] .*MS_ERR_CLIENT_LITERAL_TOO_LARGE/) },
      { client: 'a5 NOOP\r\n' },
      { expectUp: 'a5 NOOP\r\n' },
    ],
    { limits },
  );
});

test('an oversized LITERAL+ is answered NO [TOOBIG] and BYE at once and the connection closes, data unread', () => {
  for (const [cmd, limits] of [
    ['a4 APPEND Sent {11+}\r\n', { maxLiteralBytes: 10 }],
    ['a4 APPEND Sent {99999999999+}\r\n', {}],
    ['a4 LOGIN {99999999999+}\r\n', {}],
    ['a4 SEARCH CHARSET UTF-8 TEXT {99999999999+}\r\n', {}],
  ] as const) {
    const sim = play([...loggedIn, { client: `${cmd}0123456789A` }], { limits });
    const said = sim.take('client');
    assert.match(said, /^a4 NO \[TOOBIG\] mailshield: .*MS_ERR_CLIENT_LITERAL_TOO_LARGE.*\r\n\* BYE mailshield: /, cmd);
    assert.equal(sim.closed, 'both', cmd);
    assert.equal(sim.take('upstream'), '', `${cmd}: nothing of it goes upstream`);
    assert.ok(!sim.commands.some((c) => c.type === 'capture-start'), cmd);
  }
  // In the middle of a command already on its way upstream: still answered at once.
  const sim = play([...loggedIn, { client: 'a5 SEARCH TEXT {3+}\r\nabc TEXT {99999999999+}\r\nxyz' }]);
  assert.match(sim.take('client'), /^a5 NO \[TOOBIG\]/);
  assert.equal(sim.closed, 'both');
});

test('IDLE passes through: continuation, pushes, DONE', () => {
  playSplit([
    ...loggedIn,
    { client: 'a3 IDLE\r\n' },
    { expectUp: 'a3 IDLE\r\n' },
    { up: '+ idling\r\n' },
    { expectClient: '+ idling\r\n' },
    { up: '* 4 EXISTS\r\n* 1 FETCH (FLAGS (\\Seen))\r\n' },
    { expectClient: '* 4 EXISTS\r\n* 1 FETCH (FLAGS (\\Seen))\r\n' },
    { client: 'DONE\r\n' },
    { expectUp: 'DONE\r\n' },
    { up: 'a3 OK Idle completed\r\n' },
    { expectClient: 'a3 OK Idle completed\r\n' },
  ]);
});

test('other literals pass untouched (LIST with a literal mailbox name, ENVELOPE, BODY[HEADER])', () => {
  playSplit([
    ...loggedIn,
    { client: 'a3 LIST "" *\r\n' },
    { up: '* LIST () "/" {5}\r\nSent!\r\na3 OK done\r\n' },
    { expectClient: '* LIST () "/" {5}\r\nSent!\r\na3 OK done\r\n' },
    { client: 'a4 UID FETCH 5 (ENVELOPE BODY.PEEK[HEADER])\r\n' },
    { up: '* 1 FETCH (UID 5 ENVELOPE (NIL {3}\r\nabc NIL) BODY[HEADER] {4}\r\nH\r\n\r\n)\r\na4 OK done\r\n' },
    { expectClient: '* 1 FETCH (UID 5 ENVELOPE (NIL {3}\r\nabc NIL) BODY[HEADER] {4}\r\nH\r\n\r\n)\r\na4 OK done\r\n' },
    { expect: (s) => assert.equal(s.scanned.length, 0) },
  ]);
});

test('an unframeable server line ends the session with BYE', () => {
  const sim = play([...loggedIn, { up: `* ${'x'.repeat(600)}` }], { limits: { maxLineBytes: 512 } });
  assert.match(sim.take('client'), /^\* BYE \[ALERT\] mailshield: .*MS_ERR_UPSTREAM_PROTOCOL/);
  assert.equal(sim.closed, 'both');
});

test('COMPRESS is refused locally', () => {
  const sim = play([...loggedIn, { client: 'a3 COMPRESS DEFLATE\r\n' }]);
  assert.match(sim.take('client'), /^a3 NO \[CANNOT\]/);
  assert.equal(sim.take('upstream'), '');
});

test('a held part larger than maxMessageBytes is withheld: NO [UNAVAILABLE], no content, no own fetch', () => {
  const sim = play(
    [
      ...loggedIn,
      { client: 'a3 UID FETCH 5 (BODY.PEEK[2])\r\n' },
      { up: `* 1 FETCH (UID 5 BODY[2] {2000}\r\n${'x'.repeat(2000)})\r\na3 OK done\r\n` },
    ],
    { limits: { maxMessageBytes: 1000 } },
  );
  assert.match(sim.take('client'), /^a3 NO \[UNAVAILABLE\] mailshield: the message part is larger/);
  assert.equal(sim.take('upstream'), 'a3 UID FETCH 5 (BODY.PEEK[2])\r\n');
});
