// Overlap across messages (issue 15) for SMTP PIPELINING (RFC 2920): a client ends message 1 with "." and sends the
// next transaction's MAIL, RCPT and DATA in the same write. How far SMTP lets the shield overlap:
// - Message 2's content cannot be captured before message 1's verdict: the client sends it only after the 354 for
//   DATA 2, which must reach it after message 1's final reply, and that is the server's, given after delivery, which
//   waits for the verdict (store and forward; the shield never answers 250 on the server's behalf).
// - Nothing of transaction 2 may reach the server before message 1: the server would take MAIL 2 as a command
//   inside transaction 1.
// - Once message 1 has gone up, MAIL 2 and RCPT 2 follow its end in the same group (RFC 2920: message content may
//   open a group), instead of a round trip later. DATA 2 closes the group and waits, as RFC 2920 requires.
import { test } from 'node:test';
import { C, CLEAN, OPENED, TXN, U, play, scan } from './playbook.js';
import type { ScanAction } from '../../core/scan-contract.js';

const DATA_GO = 'C: 354 End data with <CR><LF>.<CR><LF>\r\n';
const NEXT = 'MAIL FROM:<a2@test>\r\nRCPT TO:<b2@test>\r\nDATA\r\n';

test('overlap: the next transaction is read but held while message 1 is scanned, then pipelined behind it', () => {
  play({}, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), [DATA_GO, 'capture-start#1 outgoing']],
    // Message 1's end and the whole next transaction in one write: nothing of it may go anywhere yet.
    [C(`one\r\n.\r\n${NEXT}`), ['D#1: one\r\n', 'capture-end#1']],
    [scan(1, CLEAN), ['U: DATA\r\n']],
    // Message 1 goes up, and MAIL 2 / RCPT 2 right behind its end; DATA 2 waits for their replies.
    [U('354 go\r\n'), ['send-capture#1 upstream smtp-dot', 'U: MAIL FROM:<a2@test>\r\nRCPT TO:<b2@test>\r\n']],
    [
      U('250 2.0.0 Ok: queued as A\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n'),
      [
        'C: 250 2.0.0 Ok: queued as A\r\n',
        'discard#1',
        'C: 250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n',
        'capture-start#2 outgoing',
      ],
    ],
    [C('two\r\n.\r\n'), ['D#2: two\r\n', 'capture-end#2']],
    [scan(2, CLEAN), ['U: DATA\r\n']],
    [U('354 go\r\n'), ['send-capture#2 upstream smtp-dot']],
    [U('250 2.0.0 Ok: queued as B\r\n'), ['C: 250 2.0.0 Ok: queued as B\r\n', 'discard#2']],
  ]);
});

test('overlap: the final reply of message 1 keeps its place when it is a refusal, and transaction 2 goes on', () => {
  play({}, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), [DATA_GO, 'capture-start#1 outgoing']],
    [C(`one\r\n.\r\n${NEXT}`), ['D#1: one\r\n', 'capture-end#1']],
    [scan(1, CLEAN), ['U: DATA\r\n']],
    [U('354 go\r\n'), ['send-capture#1 upstream smtp-dot', 'U: MAIL FROM:<a2@test>\r\nRCPT TO:<b2@test>\r\n']],
    // The server refuses message 1 after its end: its reply, then transaction 2's, in command order.
    [U('554 5.7.1 spam\r\n'), ['C: 554 5.7.1 spam\r\n', 'discard#1']],
    [U('250 2.1.0 Ok\r\n'), ['C: 250 2.1.0 Ok\r\n']],
    [U('250 2.1.5 Ok\r\n'), ['C: 250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#2 outgoing']],
  ]);
});

test('overlap: an infected message 1 is refused; the RSET and transaction 2 go up together', () => {
  const infected: ScanAction = {
    action: 'replace',
    verdict: { kind: 'infected', engine: 'test', signature: 'T', part: '1' },
    notice: Buffer.from('x'),
    quarantineId: 'q-1',
  };
  play({}, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), [DATA_GO, 'capture-start#1 outgoing']],
    [C(`one\r\n.\r\n${NEXT}`), ['D#1: one\r\n', 'capture-end#1']],
    [
      scan(1, infected),
      [
        'C: 554 5.7.1 mailshield: message refused by the scan (quarantine id q-1)\r\n',
        'discard#1',
        'U: RSET\r\nMAIL FROM:<a2@test>\r\nRCPT TO:<b2@test>\r\n',
      ],
    ],
    [
      U('250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n'),
      ['C: 250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#2 outgoing'],
    ],
  ]);
});

test('overlap: without server PIPELINING, transaction 2 waits for the final reply of message 1', () => {
  const ehlo = '250-mx.test\r\n250 8BITMIME\r\n';
  play({}, [
    [OPENED[0]![0], []],
    OPENED[1]!,
    [C('EHLO c\r\n'), ['U: EHLO c\r\n']],
    [U(ehlo), [`C: ${ehlo}`]],
    ...TXN,
    [C('DATA\r\n'), [DATA_GO, 'capture-start#1 outgoing']],
    [C(`one\r\n.\r\n${NEXT}`), ['D#1: one\r\n', 'capture-end#1']],
    [scan(1, CLEAN), ['U: DATA\r\n']],
    [U('354 go\r\n'), ['send-capture#1 upstream smtp-dot']],
    [U('250 2.0.0 Ok\r\n'), ['C: 250 2.0.0 Ok\r\n', 'discard#1', 'U: MAIL FROM:<a2@test>\r\n']],
  ]);
});

test('overlap: a non-pipelinable command after the message (NOOP, BDAT) waits for the final reply', () => {
  play({}, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), [DATA_GO, 'capture-start#1 outgoing']],
    [C('one\r\n.\r\nNOOP\r\nBDAT 3 LAST\r\nabc'), ['D#1: one\r\n', 'capture-end#1']],
    [scan(1, CLEAN), ['U: DATA\r\n']],
    [U('354 go\r\n'), ['send-capture#1 upstream smtp-dot']],
    [U('250 2.0.0 Ok\r\n'), ['C: 250 2.0.0 Ok\r\n', 'discard#1', 'U: NOOP\r\n']],
    // BDAT is not offered (CHUNKING is hidden): refused locally, its chunk skipped, after the NOOP's reply.
    [U('250 2.0.0 Ok\r\n'), ['C: 250 2.0.0 Ok\r\n502 5.5.1 mailshield: BDAT (CHUNKING) is not offered; use DATA\r\n']],
  ]);
});
