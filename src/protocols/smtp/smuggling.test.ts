// SMTP smuggling transcripts (issue 12 item 1). One client message carries a fake end of data followed by a second,
// forged transaction. Every variant must reach the server as exactly one message: the normalized original, with the
// smuggled commands inside its body. The transcripts run whole and split at every offset (playbook.ts); the bytes the
// server would receive are then read back by the most lenient parser we can model (any of CRLF, LF or CR ends a
// line, NULs are skipped, a "." line ends the data). If that parser sees one message, every stricter one does too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DotStuffer } from '../../core/dot-stuffing.js';
import type { SessionCommand } from '../../core/session.js';
import { C, CLEAN, OPENED, TXN, U, makeSession, play, scan } from './playbook.js';
import type { Setup, Step } from './playbook.js';

const FIRST = 'From: a@test\r\nSubject: first\r\n\r\nhello';
const SMUGGLED =
  'MAIL FROM:<ceo@bank.test>\r\nRCPT TO:<b@test>\r\nDATA\r\nFrom: ceo@bank.test\r\nSubject: smuggled\r\n\r\n' +
  'pay now\r\n';
/** Every variant means the same message once normalized: the fake end is a "." line of content. */
const NORMALIZED = `From: a@test\r\nSubject: first\r\n\r\nhello\r\n.\r\n${SMUGGLED}`;

/** `rejects`: the first forbidden byte, which `reject` mode names in its reply. */
const VARIANTS: { name: string; fakeEnd: string; rejects: string }[] = [
  { name: '<LF>.<CR><LF>', fakeEnd: '\n.\r\n', rejects: 'bare LF' },
  { name: '<LF>.<LF>', fakeEnd: '\n.\n', rejects: 'bare LF' },
  { name: '<CR><LF>.<LF>', fakeEnd: '\r\n.\n', rejects: 'bare LF' },
  { name: '<CR>.<CR>', fakeEnd: '\r.\r', rejects: 'bare CR' },
  { name: '<CR><LF>.<CR>', fakeEnd: '\r\n.\r', rejects: 'bare CR' },
  { name: '<CR><LF>.<NUL><CR><LF>', fakeEnd: '\r\n.\0\r\n', rejects: 'NUL byte' },
  { name: '<CR><LF><NUL>.<CR><LF>', fakeEnd: '\r\n\0.\r\n', rejects: 'NUL byte' },
  { name: '<LF><NUL>.<NUL><LF>', fakeEnd: '\n\0.\0\n', rejects: 'bare LF' },
];

/** The client's one write: the message with its fake end and forged transaction, the real end, then QUIT. */
const attack = (fakeEnd: string) => `${FIRST}${fakeEnd}${SMUGGLED}.\r\nQUIT\r\n`;

const DATA_GO: Step = [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing']];

/** What the driver would write upstream for these commands: sends as they are, send-capture dot-stuffed. */
function upstreamWire(cmds: SessionCommand[]): string {
  const captured = new Map<number, Buffer[]>();
  let wire = '';
  for (const c of cmds) {
    if (c.type === 'capture-data') captured.set(c.id, [...(captured.get(c.id) ?? []), c.data]);
    else if (c.type === 'send' && c.to === 'upstream') wire += c.data.toString('latin1');
    else if (c.type === 'send-capture' && c.to === 'upstream') {
      assert.equal(c.framing, 'smtp-dot');
      const st = new DotStuffer();
      wire += Buffer.concat([st.push(Buffer.concat(captured.get(c.id) ?? [])), st.end()]).toString('latin1');
    }
  }
  return wire;
}

/** The most lenient server: returns each transaction as [MAIL FROM argument, message]. */
function lenientServer(wire: string): [string, string][] {
  const out: [string, string][] = [];
  let from = '';
  let body: string[] | null = null;
  for (const raw of wire.split(/\r\n|\r|\n/)) {
    const line = raw.replace(/\0/g, '');
    if (body) {
      if (line === '.') {
        out.push([from, body.map((l) => `${l}\r\n`).join('')]);
        body = null;
      } else body.push(line.startsWith('.') ? line.slice(1) : line);
    } else if (/^MAIL FROM:/i.test(line)) from = line.slice(10);
    else if (/^DATA$/i.test(line)) body = [];
  }
  return out;
}

/** Runs the steps once, unsplit, and returns every command (play() checks them, whole and split). */
function runAll(setup: Setup, steps: Step[]): SessionCommand[] {
  const s = makeSession(setup);
  return steps.flatMap(([ev]) => s.handle(ev));
}

for (const v of VARIANTS) {
  test(`smuggling ${v.name} (normalize): the server gets exactly one message, the normalized original`, () => {
    const steps: Step[] = [
      ...OPENED,
      ...TXN,
      DATA_GO,
      [C(attack(v.fakeEnd)), [`D#1: ${NORMALIZED}`, 'log MS_ERR_CLIENT_BARE_LINE_ENDING', 'capture-end#1']],
      // QUIT, the client's next real command, waits behind the scan and the delivery.
      [scan(1, CLEAN), ['U: DATA\r\n']],
      [U('354 go ahead\r\n'), ['send-capture#1 upstream smtp-dot']],
      [U('250 2.0.0 Ok: queued as A1\r\n'), ['C: 250 2.0.0 Ok: queued as A1\r\n', 'discard#1', 'U: QUIT\r\n']],
      [U('221 2.0.0 Bye\r\n'), ['C: 221 2.0.0 Bye\r\n', 'close both']],
    ];
    play({}, steps);
    const wire = upstreamWire(runAll({}, steps));
    assert.deepEqual(lenientServer(wire), [['<a@test>', NORMALIZED]]);
    // Byte for byte: one transaction, the body dot-stuffed ("hello\r\n..\r\nMAIL FROM:..."), then the real QUIT.
    const stuffed = NORMALIZED.replace(/^\./gm, '..');
    assert.equal(wire, `EHLO client.test\r\nMAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n${stuffed}.\r\nQUIT\r\n`);
  });

  test(`smuggling ${v.name} (reject): 554 with the code and the session closes, nothing reaches the server`, () => {
    const steps: Step[] = [
      ...OPENED,
      ...TXN,
      DATA_GO,
      [
        C(attack(v.fakeEnd)),
        ['log MS_ERR_CLIENT_BARE_LINE_ENDING', `C: ${reply(v.rejects)}`, 'discard#1', 'close both'],
      ],
      // Whatever the client sends after is never read as a command.
      [C('MAIL FROM:<ceo@bank.test>\r\n'), []],
    ];
    play({ bareLineEndings: 'reject' }, steps);
    assert.deepEqual(lenientServer(upstreamWire(runAll({ bareLineEndings: 'reject' }, steps))), []);
  });
}

const reply = (what: string) =>
  `554 5.6.0 mailshield: message refused: it contains a ${what} (SMTP requires CRLF line endings and no NUL, RFC ` +
  '5321 section 2.3.8) and this listener has smtp.bareLineEndings: reject; it was not sent and the connection ' +
  'closes. Fix the sending program, or set smtp.bareLineEndings: normalize (MS_ERR_CLIENT_BARE_LINE_ENDING)\r\n';
test('the lenient server model does see the smuggled message when the fake end goes through unchanged', () => {
  // The check above can fail: fed the attack directly, as an unprotected server would be, it finds two messages.
  const direct = `MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n${attack('\n.\r\n')}`;
  const got = lenientServer(direct);
  assert.equal(got.length, 2);
  assert.equal(got[1]![0], '<ceo@bank.test>');
});
