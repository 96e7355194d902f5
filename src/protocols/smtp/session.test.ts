// Playbooks: "the client sends X, expect commands Y" (harness in playbook.ts; smuggling transcripts in
// smuggling.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../core/config.js';
import { ShieldError } from '../../core/errors.js';
import {
  C,
  CLEAN,
  EHLO_OUT,
  EHLO_UP,
  GREETING,
  OPENED,
  START,
  TXN,
  U,
  makeSession,
  norm,
  play,
  scan,
} from './playbook.js';
import type { Setup } from './playbook.js';

test('implicit both legs: greeting relayed, EHLO rewritten, AUTH continuation, clean message delivered', () => {
  play({}, [
    ...OPENED,
    [C('AUTH LOGIN\r\n'), ['U: AUTH LOGIN\r\n']],
    [U('334 VXNlcm5hbWU6\r\n'), ['C: 334 VXNlcm5hbWU6\r\n']],
    // A SASL line is never parsed as a command (this one spells "DATA" in base64 and in clear).
    [C('DATA\r\n'), ['U: DATA\r\n']],
    [U('334 UGFzc3dvcmQ6\r\n'), ['C: 334 UGFzc3dvcmQ6\r\n']],
    [C('c2VjcmV0\r\n'), ['U: c2VjcmV0\r\n']],
    [U('235 2.7.0 Authentication successful\r\n'), ['C: 235 2.7.0 Authentication successful\r\n']],
    [C('MAIL FROM:<a@test>\r\n'), ['U: MAIL FROM:<a@test>\r\n']],
    [U('250 2.1.0 Ok\r\n'), ['C: 250 2.1.0 Ok\r\n']],
    [C('RCPT TO:<b@test>\r\n'), ['U: RCPT TO:<b@test>\r\n']],
    [U('250 2.1.5 Ok\r\n'), ['C: 250 2.1.5 Ok\r\n']],
    // The server does not see DATA until the scan is done.
    [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing']],
    [C('Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n'), ['D#1: Subject: hi\r\n\r\n.dot\r\nbody\r\n', 'capture-end#1']],
    [scan(1, CLEAN), ['U: DATA\r\n']],
    [U('354 go ahead\r\n'), ['send-capture#1 upstream smtp-dot']],
    [U('250 2.0.0 Ok: queued as ABC\r\n'), ['C: 250 2.0.0 Ok: queued as ABC\r\n', 'discard#1']],
    [C('QUIT\r\n'), ['U: QUIT\r\n']],
    [U('221 2.0.0 Bye\r\n'), ['C: 221 2.0.0 Bye\r\n', 'close both']],
  ]);
});

test('no credentials in logs: AUTH logs the mechanism only', () => {
  const s = makeSession();
  for (const [ev] of OPENED) s.handle(ev);
  const cmds = [...s.handle(C('AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n'))];
  const logs = JSON.stringify(cmds.filter((c) => c.type === 'log'));
  assert.match(logs, /"mechanism":"PLAIN"/);
  assert.doesNotMatch(logs, /AGFsaWNl/);
});

test('upstream STARTTLS: EHLO, STARTTLS, injected bytes discarded, then the client gets the original greeting', () => {
  play({ upstreamTls: 'starttls' }, [
    [START, []],
    [U(GREETING), ['U: EHLO mailshield.localhost\r\n']],
    [U('250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n'), ['U: STARTTLS\r\n']],
    [
      U('220 2.0.0 Ready to start TLS\r\n250 injected\r\n'),
      ['start-tls upstream', 'log MS_ERR_UPSTREAM_STARTTLS_INJECTION'],
      'no-split',
    ],
    [{ type: 'tls-ready', leg: 'upstream' }, [`C: ${GREETING}`]],
    // The client's EHLO is relayed after the upstream leg is encrypted.
    [C('EHLO c\r\n'), ['U: EHLO c\r\n']],
    [U(EHLO_UP), [`C: ${EHLO_OUT}`]],
  ]);
});

test('upstream STARTTLS missing or refused: 421 4.7.0 with the explanation, never plaintext', () => {
  const s = makeSession({ upstreamTls: 'starttls' });
  s.handle(START);
  s.handle(U(GREETING));
  const out = norm(s.handle(U('250-mx.test\r\n250 PIPELINING\r\n')));
  assert.equal(out[0], 'log MS_ERR_UPSTREAM_STARTTLS_MISSING');
  assert.match(
    out[1]!,
    /^C: 421 4\.7\.0 mailshield: .*did not offer STARTTLS.*offered: 250 PIPELINING.*MS_ERR_UPSTREAM_STARTTLS_MISSING\)\r\n$/,
  );
  assert.deepEqual(out.slice(2), ['close both']);

  const t = makeSession({ upstreamTls: 'starttls' });
  t.handle(START);
  t.handle(U(GREETING));
  t.handle(U('250-mx.test\r\n250 STARTTLS\r\n'));
  const out2 = norm(t.handle(U('454 4.7.0 TLS not available\r\n')));
  assert.match(
    out2[1]!,
    /^C: 421 4\.7\.0 mailshield: the mail server refused STARTTLS; offered: 454 4\.7\.0 TLS not available/,
  );
  assert.deepEqual(out2.slice(2), ['close both']);
});

test('upstream failure before the greeting: 421 4.7.0 with the Foundation explanation', () => {
  const s = makeSession();
  const err = new ShieldError('MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE', 'the server signed with RSA+SHA1', {
    offered: 'Peer signing digest: SHA1',
    required: 'SHA256 or better',
    fix: 'policy.upstream: balanced',
  });
  assert.deepEqual(norm(s.handle({ type: 'upstream-failed', error: err })), [
    'log MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
    `C: 421 4.7.0 mailshield: ${err.toReplyText()}\r\n`,
    'close both',
  ]);
});

test('client STARTTLS: AUTH hidden and refused until TLS, pipelined ClientHello kept, fresh EHLO required', () => {
  const plainEhlo = EHLO_OUT.replace('250-AUTH PLAIN LOGIN XOAUTH2\r\n250-AUTH=PLAIN LOGIN\r\n', '').replace(
    '250 SMTPUTF8\r\n',
    '250-SMTPUTF8\r\n250 STARTTLS\r\n',
  );
  play({ clientTls: 'starttls' }, [
    [START, []],
    [U(GREETING), [`C: ${GREETING}`]],
    [C('EHLO c\r\n'), ['U: EHLO c\r\n']],
    [U(EHLO_UP), [`C: ${plainEhlo}`]],
    [
      C('AUTH PLAIN AGEAYg==\r\n'),
      [
        'log MS_ERR_CLIENT_TLS_REQUIRED',
        `C: 530 5.7.0 mailshield: Must issue a STARTTLS command first (this listener hides AUTH until the connection is encrypted, so a password never crosses it in clear; enable STARTTLS in the mail client) (MS_ERR_CLIENT_TLS_REQUIRED)\r\n`,
      ],
    ],
    [
      C('STARTTLS\r\n\x16\x03\x01hello'),
      ['C: 220 2.0.0 Ready to start TLS\r\n', 'start-tls client pending=\x16\x03\x01hello'],
      'no-split',
    ],
    [{ type: 'tls-ready', leg: 'client' }, []],
    [
      C('MAIL FROM:<a@b>\r\n'),
      ['C: 503 5.5.1 mailshield: send EHLO first (a fresh EHLO is required after STARTTLS)\r\n'],
    ],
    [C('EHLO c\r\n'), ['U: EHLO c\r\n']],
    [U(EHLO_UP), [`C: ${EHLO_OUT}`]],
    [C('STARTTLS\r\n'), ['C: 503 5.5.1 mailshield: TLS is already active\r\n']],
  ]);
});

test('client STARTTLS: plaintext injected after STARTTLS is discarded', () => {
  const s = makeSession({ clientTls: 'starttls' });
  s.handle(START);
  s.handle(U(GREETING));
  assert.deepEqual(norm(s.handle(C('STARTTLS\r\nMAIL FROM:<evil@x>\r\n'))), [
    'C: 220 2.0.0 Ready to start TLS\r\n',
    'start-tls client',
    'log MS_ERR_CLIENT_STARTTLS_INJECTION',
  ]);
  assert.deepEqual(norm(s.handle({ type: 'tls-ready', leg: 'client' })), []);
});

test('STARTTLS is not offered on an implicit listener', () => {
  play({}, [...OPENED, [C('STARTTLS\r\n'), ['C: 502 5.5.1 mailshield: STARTTLS is not offered on this listener\r\n']]]);
});

test('infected: 554 5.7.1 with the detection, RSET upstream swallowed, next message delivered', () => {
  const reply = 'virus Eicar-Signature in attachment "eicar.com"; quarantine id q-42';
  play({}, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing']],
    [C('x\r\n.\r\n'), ['D#1: x\r\n', 'capture-end#1']],
    [
      scan(1, {
        action: 'refuse',
        verdict: { kind: 'infected', engine: 'clamd', signature: 'Eicar-Signature', part: 'eicar.com' },
        reply,
        quarantineId: 'q-42',
      }),
      [`C: 554 5.7.1 mailshield: ${reply}\r\n`, 'discard#1', 'U: RSET\r\n'],
    ],
    [C('MAIL FROM:<a@test>\r\n'), ['U: MAIL FROM:<a@test>\r\n']],
    // The reply to our RSET is not the client's; the MAIL reply is.
    [U('250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n'), ['C: 250 2.1.0 Ok\r\n']],
    [C('RCPT TO:<b@test>\r\n'), ['U: RCPT TO:<b@test>\r\n']],
    [U('250 2.1.5 Ok\r\n'), ['C: 250 2.1.5 Ok\r\n']],
    [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#2 outgoing']],
    [C('clean\r\n.\r\n'), ['D#2: clean\r\n', 'capture-end#2']],
    [scan(2, CLEAN), ['U: DATA\r\n']],
    [U('354 go\r\n'), ['send-capture#2 upstream smtp-dot']],
    [U('250 2.0.0 queued\r\n'), ['C: 250 2.0.0 queued\r\n', 'discard#2']],
  ]);
});

test('a refusal without the quarantine id in its text gets it appended; tempfail is 451 4.7.0', () => {
  const s = makeSession();
  for (const [ev] of [...OPENED, ...TXN]) s.handle(ev);
  s.handle(C('DATA\r\n'));
  s.handle(C('x\r\n.\r\n'));
  const out = norm(
    s.handle(
      scan(1, {
        action: 'refuse',
        verdict: { kind: 'blocked', engine: 'builtin', rule: 'executables', part: 'a.exe' },
        reply: 'blocked attachment a.exe',
        quarantineId: 'q-7',
      }),
    ),
  );
  assert.equal(out[0], 'C: 554 5.7.1 mailshield: blocked attachment a.exe (quarantine id q-7)\r\n');

  const t = makeSession();
  for (const [ev] of [...OPENED, ...TXN]) t.handle(ev);
  t.handle(C('DATA\r\n'));
  t.handle(C('x\r\n.\r\n'));
  assert.deepEqual(
    norm(
      t.handle(
        scan(1, {
          action: 'tempfail',
          verdict: { kind: 'error', engine: 'clamd', reason: 'down' },
          reason: 'scanner unavailable',
        }),
      ),
    ),
    ['C: 451 4.7.0 mailshield: scanner unavailable\r\n', 'discard#1', 'U: RSET\r\n'],
  );
});

test('the server refusing DATA after the scan reaches the client unchanged', () => {
  play({}, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing']],
    [C('x\r\n.\r\n'), ['D#1: x\r\n', 'capture-end#1']],
    [scan(1, CLEAN), ['U: DATA\r\n']],
    [U('554 5.5.1 Error: no valid recipients\r\n'), ['C: 554 5.5.1 Error: no valid recipients\r\n', 'discard#1']],
  ]);
});

test('MAIL/RCPT rejections pass unchanged; DATA without recipients is refused locally', () => {
  play({}, [
    ...OPENED,
    [C('MAIL FROM:<a@test>\r\n'), ['U: MAIL FROM:<a@test>\r\n']],
    [U('250 2.1.0 Ok\r\n'), ['C: 250 2.1.0 Ok\r\n']],
    [C('RCPT TO:<nobody@test>\r\n'), ['U: RCPT TO:<nobody@test>\r\n']],
    [
      U('550 5.1.1 <nobody@test>: Recipient address rejected\r\n'),
      ['C: 550 5.1.1 <nobody@test>: Recipient address rejected\r\n'],
    ],
    [C('DATA\r\n'), ['C: 554 5.5.1 mailshield: no valid recipients\r\n']],
  ]);
});

test('PIPELINING: MAIL/RCPT go out together, DATA waits, replies come back in order', () => {
  play({}, [
    ...OPENED,
    [
      C('MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nRCPT TO:<bad@test>\r\nRCPT TO:<c@test>\r\nDATA\r\n'),
      ['U: MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nRCPT TO:<bad@test>\r\nRCPT TO:<c@test>\r\n'],
    ],
    [U('250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n'), ['C: 250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n']],
    [
      U('550 5.1.1 no\r\n250 2.1.5 Ok\r\n'),
      ['C: 550 5.1.1 no\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing'],
    ],
    [C('m\r\n.\r\nQUIT\r\n'), ['D#1: m\r\n', 'capture-end#1']],
    // QUIT waits behind the scan and the delivery.
    [scan(1, CLEAN), ['U: DATA\r\n']],
    [U('354 go\r\n'), ['send-capture#1 upstream smtp-dot']],
    [U('250 2.0.0 queued\r\n'), ['C: 250 2.0.0 queued\r\n', 'discard#1', 'U: QUIT\r\n']],
    [U('221 bye\r\n'), ['C: 221 bye\r\n', 'close both']],
  ]);
});

test('without server PIPELINING, commands go one at a time', () => {
  const ehlo = '250-mx.test\r\n250 8BITMIME\r\n';
  play({}, [
    [START, []],
    [U(GREETING), [`C: ${GREETING}`]],
    [C('EHLO c\r\n'), ['U: EHLO c\r\n']],
    [U(ehlo), [`C: ${ehlo}`]],
    [C('MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\n'), ['U: MAIL FROM:<a@test>\r\n']],
    [U('250 ok\r\n'), ['C: 250 ok\r\n', 'U: RCPT TO:<b@test>\r\n']],
  ]);
});

test('HELO-only client works', () => {
  play({}, [
    [START, []],
    [U(GREETING), [`C: ${GREETING}`]],
    [C('HELO old\r\n'), ['U: HELO old\r\n']],
    [U('250 mx.test\r\n'), ['C: 250 mx.test\r\n']],
    ...TXN,
    [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing']],
  ]);
});

test('bare LF in DATA (Python smtplib): normalized to CRLF, scanned and delivered', () => {
  play({}, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing']],
    [
      C('Subject: x\n\nbad\nline\r\n.\r\nNOOP\r\n'),
      ['D#1: Subject: x\r\n\r\nbad\r\nline\r\n', 'log MS_ERR_CLIENT_BARE_LINE_ENDING', 'capture-end#1'],
    ],
    [scan(1, CLEAN), ['U: DATA\r\n']],
    [U('354 go\r\n'), ['send-capture#1 upstream smtp-dot']],
    // NOOP waits for the final reply.
    [U('250 2.0.0 queued\r\n'), ['C: 250 2.0.0 queued\r\n', 'discard#1', 'U: NOOP\r\n']],
  ]);
});

test('message over the size limit: 552 5.3.4, never scanned', () => {
  play({ maxMessageBytes: 10 }, [
    ...OPENED,
    ...TXN,
    [C('DATA\r\n'), ['C: 354 End data with <CR><LF>.<CR><LF>\r\n', 'capture-start#1 outgoing']],
    [
      C('0123456789\r\n.\r\n'),
      [
        'log MS_ERR_CLIENT_MESSAGE_TOO_LARGE',
        'C: 552 5.3.4 mailshield: message too big: the size limit is 10 bytes (limits.maxMessageBytes or the server SIZE)\r\n',
        'discard#1',
        'U: RSET\r\n',
      ],
    ],
  ]);
});

test('client vanishing mid-DATA: capture discarded, nothing delivered', () => {
  const s = makeSession();
  for (const [ev] of [...OPENED, ...TXN]) s.handle(ev);
  s.handle(C('DATA\r\n'));
  s.handle(C('half a mess'));
  assert.deepEqual(norm(s.handle({ type: 'closed', leg: 'client' })), [
    'log MS_ERR_CLIENT_VANISHED',
    'discard#1',
    'close both',
  ]);
  assert.deepEqual(norm(s.handle(scan(1, CLEAN))), []);
});

test('client vanishing during the scan: nothing delivered', () => {
  const s = makeSession();
  for (const [ev] of [...OPENED, ...TXN]) s.handle(ev);
  s.handle(C('DATA\r\n'));
  s.handle(C('x\r\n.\r\n'));
  assert.deepEqual(norm(s.handle({ type: 'closed', leg: 'client' })), ['discard#1', 'close both']);
  assert.deepEqual(norm(s.handle(scan(1, CLEAN))), []);
});

test('commands before the greeting get 554 and the connection closes', () => {
  const s = makeSession({ upstreamTls: 'starttls' });
  s.handle(START);
  assert.deepEqual(norm(s.handle(C('EHLO eager\r\n'))), [
    'log MS_ERR_CLIENT_PROTOCOL',
    'C: 554 5.5.1 mailshield: protocol error: command sent before the greeting (MS_ERR_CLIENT_PROTOCOL)\r\n',
    'close both',
  ]);
});

test('an over-long command line: 500 5.5.2, the session goes on', () => {
  play({ maxLineBytes: 600 }, [
    ...OPENED,
    [
      C(`NOOP ${'x'.repeat(700)}\r\nNOOP\r\n`),
      [
        'log MS_ERR_CLIENT_LINE_TOO_LONG',
        'C: 500 5.5.2 mailshield: line too long (the limit is 600 bytes)\r\n',
        'U: NOOP\r\n',
      ],
    ],
  ]);
});

test('BDAT is refused and its payload is not read as commands', () => {
  play({}, [
    ...OPENED,
    [
      C('BDAT 6 LAST\r\nRSET\r\nNOOP\r\n'),
      ['C: 502 5.5.1 mailshield: BDAT (CHUNKING) is not offered; use DATA\r\n', 'U: NOOP\r\n'],
    ],
  ]);
});

test('outgoing signature: header mode prefixes a header; footer mode skipped under DKIM, added to plain text', () => {
  const deliver = (setup: Setup, msg: string) => {
    const s = makeSession(setup);
    for (const [ev] of [...OPENED, ...TXN]) s.handle(ev);
    s.handle(C('DATA\r\n'));
    s.handle(C(msg));
    s.handle(scan(1, CLEAN));
    return norm(s.handle(U('354 go\r\n')));
  };
  assert.deepEqual(deliver({ signature: { mode: 'header', text: 'Scanned\r\nX: y' } }, 'a\r\n.\r\n'), [
    'send-capture#1 upstream smtp-dot prefix=X-Mailshield-Scanned: Scanned X: y\r\n',
  ]);
  assert.deepEqual(deliver({ signature: { mode: 'footer', text: 'Virus-free.' } }, 'Subject: s\r\n\r\nbody\r\n.\r\n'), [
    'send-capture#1 upstream raw suffix=-- \r\nVirus-free.\r\n.\r\n',
  ]);
  // A dot-leading line would need stuffing inside the capture: no footer then.
  assert.deepEqual(deliver({ signature: { mode: 'footer', text: 'Virus-free.' } }, 'Subject: s\r\n\r\n..x\r\n.\r\n'), [
    'send-capture#1 upstream smtp-dot',
  ]);
  assert.deepEqual(
    deliver(
      { signature: { mode: 'footer', text: 'Virus-free.' } },
      'DKIM-Signature: v=1;\r\n b=x\r\nSubject: s\r\n\r\nbody\r\n.\r\n',
    ),
    ['send-capture#1 upstream smtp-dot'],
  );
  assert.deepEqual(
    deliver(
      { signature: { mode: 'footer', text: 'Virus-free.' } },
      'Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n.\r\n',
    ),
    ['send-capture#1 upstream smtp-dot'],
  );
  assert.deepEqual(deliver({}, 'a\r\n.\r\n'), ['send-capture#1 upstream smtp-dot']);
});

test('upstream closing mid-session: 421 to the client; unreadable replies: 421 and close', () => {
  const s = makeSession();
  for (const [ev] of OPENED) s.handle(ev);
  assert.deepEqual(norm(s.handle({ type: 'closed', leg: 'upstream' })), [
    'log MS_ERR_UPSTREAM_CLOSED',
    'C: 421 4.4.2 mailshield: the mail server closed the connection; try again (MS_ERR_UPSTREAM_CLOSED)\r\n',
    'close both',
  ]);
  const t = makeSession();
  for (const [ev] of OPENED) t.handle(ev);
  t.handle(C('NOOP\r\n'));
  const out = norm(t.handle(U('garbage\r\n')));
  assert.equal(out.at(-1), 'close both');
  assert.match(out.at(-2)!, /^C: 421 4\.4\.0 /);
});

test('pipelined input beyond the backlog cap while blocked closes with 421', () => {
  const s = makeSession();
  for (const [ev] of OPENED) s.handle(ev);
  s.handle(C('EHLO again\r\n'));
  const big = 'NOOP\r\n'.repeat(200_000);
  const out = norm(s.handle(C(big)));
  assert.equal(out.at(-1), 'close both');
  assert.match(out.at(-2)!, /^C: 421 4\.5\.0/);
});

test('default config has the signature off', () => {
  assert.equal(defaultConfig().actions.outgoingSignature.mode, 'off');
});
