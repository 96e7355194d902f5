// POP3 session transcripts. Each runs whole, split at every offset, and byte by byte (playbook.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, type AccountConfig } from '../../core/config.js';
import { ShieldError } from '../../core/errors.js';
import { DEFAULT_LIMITS } from '../../core/limits.js';
import type { SessionCommand, SessionEvent, SessionOptions } from '../../core/session.js';
import type { ScanAction } from '../../core/scan-contract.js';
import { fromClient as c, fromUpstream as u, playAllSplits, type Out, type Step } from './playbook.js';
import { createPop3Session } from './session.js';

interface Setup {
  clientTls?: AccountConfig['clientTls'];
  upstreamTls?: AccountConfig['upstreamTls'];
  keep?: boolean;
  maxLineBytes?: number;
}

function options(s: Setup = {}): SessionOptions {
  const config = defaultConfig();
  config.pop3.keepInfectedOnServer = s.keep ?? false;
  const clientTls = s.clientTls ?? 'implicit';
  const account: AccountConfig = {
    name: 'test',
    protocol: 'pop3',
    listen: '127.0.0.1:1995',
    clientTls,
    upstream: 'mail.test:995',
    upstreamTls: s.upstreamTls ?? 'implicit',
  };
  return {
    connId: 'c1',
    account,
    config,
    limits: { ...DEFAULT_LIMITS, maxLineBytes: s.maxLineBytes ?? DEFAULT_LIMITS.maxLineBytes },
    clientSecure: clientTls === 'implicit',
  };
}

function play(s: Setup, steps: Step[]): SessionCommand[] {
  return playAllSplits(() => createPop3Session(options(s)), steps);
}

const START: SessionEvent = { type: 'start', upstreamFacts: null };
const GREETING = '+OK Dovecot ready. <1896.697170952@dbc.mailcom>\r\n';
/** Start and greeting for an implicit-TLS upstream. */
const opened: Step[] = [
  { ev: START, expect: [] },
  { ev: u(GREETING), expect: [['send', 'client', GREETING]] },
];

const clean: ScanAction = { action: 'release', verdict: { kind: 'clean' } };
const NOTICE =
  'Subject: [virus removed] hi\r\n\r\nmailshield removed this message.\r\n.dot line\r\nline 3\r\nline 4\r\n';
const infected: ScanAction = {
  action: 'replace',
  verdict: { kind: 'infected', engine: 'clamd', signature: 'Eicar-Test-Signature', part: '1' },
  notice: Buffer.from(NOTICE, 'latin1'),
  quarantineId: 'q-1',
};
const NOTICE_WIRE =
  `+OK ${NOTICE.length} octets (mailshield replaced this message; original in quarantine q-1)\r\n` +
  'Subject: [virus removed] hi\r\n\r\nmailshield removed this message.\r\n..dot line\r\nline 3\r\nline 4\r\n.\r\n';
const tempfail: ScanAction = {
  action: 'tempfail',
  verdict: { kind: 'error', engine: 'clamd', reason: 'connect ECONNREFUSED' },
  reason: 'clamd could not be reached',
};
const scanned = (id: number, result: ScanAction): SessionEvent => ({ type: 'scan-done', id, result });
const logScanned: Out = ['log', 'info', 'message scanned'];
/** An upstream message body held for scanning as capture `id`: started, its bytes, ended. */
const captured = (id: number, body: string): Out[] => [
  ['capture-start', id],
  ['capture-data', id, body],
  ['capture-end', id],
];

// A message with the lines POP3 stuffing is about: leading dots, a lone dot, a double dot.
const MESSAGE = 'Subject: dots\r\n\r\n.leading dot\r\n.\r\n..\r\nend\r\n';
const STUFFED = 'Subject: dots\r\n\r\n..leading dot\r\n..\r\n...\r\nend\r\n.\r\n';

test('greeting passes through unchanged; USER/PASS relayed and never logged', () => {
  const all = play({}, [
    ...opened,
    { ev: c('USER bob\r\n'), expect: [['send', 'upstream', 'USER bob\r\n']] },
    { ev: u('+OK\r\n'), expect: [['send', 'client', '+OK\r\n']] },
    { ev: c('PASS s3cret-pw\r\n'), expect: [['send', 'upstream', 'PASS s3cret-pw\r\n']] },
    { ev: u('+OK Logged in.\r\n'), expect: [['send', 'client', '+OK Logged in.\r\n']] },
    { ev: c('XFOO bar\r\n'), expect: [['send', 'upstream', 'XFOO bar\r\n']] },
    { ev: u('-ERR Unknown command: XFOO\r\n'), expect: [['send', 'client', '-ERR Unknown command: XFOO\r\n']] },
    { ev: c('QUIT\r\n'), expect: [['send', 'upstream', 'QUIT\r\n']] },
    { ev: u('+OK Logging out.\r\n'), expect: [['send', 'client', '+OK Logging out.\r\n']] },
    { ev: { type: 'closed', leg: 'upstream' }, expect: [['close', 'both']] },
  ]);
  const logged = JSON.stringify(all.filter((x) => x.type === 'log'));
  assert.ok(!logged.includes('s3cret') && !logged.includes('bob'), logged);
  assert.ok(logged.includes('"verb":"PASS"'));
});

const UPSTREAM_CAPA =
  '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN XOAUTH2\r\n.\r\n';

test('CAPA with an implicit-TLS client: STLS removed, everything else unchanged', () => {
  play({ clientTls: 'implicit' }, [
    ...opened,
    { ev: c('CAPA\r\n'), expect: [['send', 'upstream', 'CAPA\r\n']] },
    {
      ev: u(UPSTREAM_CAPA),
      expect: [
        [
          'send',
          'client',
          '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN XOAUTH2\r\n.\r\n',
        ],
      ],
    },
  ]);
});

test('CAPA with clientTls none: STLS removed, USER and SASL kept', () => {
  play({ clientTls: 'none' }, [
    ...opened,
    { ev: c('CAPA\r\n'), expect: [['send', 'upstream', 'CAPA\r\n']] },
    {
      ev: u('+OK\r\nSTLS\r\nUSER\r\nSASL PLAIN\r\n.\r\n'),
      expect: [['send', 'client', '+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n']],
    },
    {
      ev: c('STLS\r\n'),
      expect: [
        ['send', 'client', '-ERR mailshield: STLS refused: this listener does not offer STLS (clientTls: none)\r\n'],
      ],
    },
    { ev: c('USER bob\r\n'), expect: [['send', 'upstream', 'USER bob\r\n']] },
  ]);
});

const HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05]);

test('STARTTLS client: STLS advertised, logins gated until TLS, pipelined ClientHello kept, state forgotten', () => {
  const tlsRequired = (verb: string) =>
    `-ERR [AUTH] mailshield: ${verb} refused: issue STLS first; this listener (clientTls: starttls) accepts passwords ` +
    'only over TLS so they never cross the network in plaintext; enable STARTTLS/STLS in the mail client ' +
    '(MS_ERR_CLIENT_TLS_REQUIRED)\r\n';
  play({ clientTls: 'starttls' }, [
    ...opened,
    { ev: c('CAPA\r\n'), expect: [['send', 'upstream', 'CAPA\r\n']] },
    {
      ev: u(UPSTREAM_CAPA),
      expect: [
        ['send', 'client', '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\n.\r\n'],
      ],
    },
    {
      ev: c('USER bob\r\n'),
      expect: [
        ['log', 'warn', 'login before STLS refused'],
        ['send', 'client', tlsRequired('USER')],
      ],
    },
    {
      ev: c('AUTH PLAIN AGJvYgBwdw==\r\nAPOP bob 0123456789abcdef\r\n'),
      expect: [
        ['log', 'warn', 'login before STLS refused'],
        ['send', 'client', tlsRequired('AUTH')],
        ['log', 'warn', 'login before STLS refused'],
        ['send', 'client', tlsRequired('APOP')],
      ],
    },
    {
      ev: c('STLS\r\n'),
      sameRead: HELLO,
      expect: [
        ['send', 'client', '+OK Begin TLS negotiation\r\n'],
        ['start-tls', 'client', HELLO.toString('latin1')],
      ],
    },
    { ev: { type: 'tls-ready', leg: 'client' }, expect: [['log', 'info', 'client STLS complete']] },
    { ev: c('CAPA\r\n'), expect: [['send', 'upstream', 'CAPA\r\n']] },
    {
      ev: u(UPSTREAM_CAPA),
      expect: [
        [
          'send',
          'client',
          '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN XOAUTH2\r\n.\r\n',
        ],
      ],
    },
    { ev: c('USER bob\r\n'), expect: [['send', 'upstream', 'USER bob\r\n']] },
    { ev: c('STLS\r\n'), expect: [] },
    {
      ev: u('+OK\r\n'),
      expect: [['send', 'client', '+OK\r\n-ERR mailshield: STLS refused: this connection already uses TLS\r\n']],
    },
  ]);
});

test('STARTTLS client: plaintext injected after STLS is discarded, never executed', () => {
  play({ clientTls: 'starttls' }, [
    ...opened,
    {
      ev: c('STLS\r\nUSER evil\r\nPASS evil\r\n'),
      expect: [
        ['send', 'client', '+OK Begin TLS negotiation\r\n'],
        ['start-tls', 'client'],
        ['log', 'warn', 'discarded plaintext the client sent after STARTTLS'],
      ],
    },
    { ev: { type: 'tls-ready', leg: 'client' }, expect: [['log', 'info', 'client STLS complete']] },
    { ev: c('NOOP\r\n'), expect: [['send', 'upstream', 'NOOP\r\n']] },
  ]);
});

test('STARTTLS client: STLS pipelined behind CAPA is answered after the CAPA reply', () => {
  play({ clientTls: 'starttls' }, [
    ...opened,
    { ev: c('NOOP\r\nSTLS\r\n'), expect: [['send', 'upstream', 'NOOP\r\n']] },
    {
      ev: u('+OK\r\n'),
      expect: [
        ['send', 'client', '+OK\r\n+OK Begin TLS negotiation\r\n'],
        ['start-tls', 'client'],
      ],
    },
  ]);
});

const STLS_UPSTREAM_GREETING = '+OK ISP POP3 <77.1@isp.test>\r\n';

test('upstream STLS: the client sees nothing until TLS is up, then the original greeting', () => {
  play({ upstreamTls: 'starttls', clientTls: 'implicit' }, [
    { ev: START, expect: [] },
    { ev: c('CAPA\r\n'), expect: [] },
    { ev: u(STLS_UPSTREAM_GREETING), expect: [['send', 'upstream', 'CAPA\r\n']] },
    { ev: u('+OK\r\nUSER\r\nSTLS\r\n.\r\n'), expect: [['send', 'upstream', 'STLS\r\n']] },
    { ev: u('+OK Begin TLS\r\n'), expect: [['start-tls', 'upstream']] },
    {
      ev: { type: 'tls-ready', leg: 'upstream' },
      expect: [
        ['log', 'info', 'upstream STLS complete'],
        ['send', 'client', STLS_UPSTREAM_GREETING],
        ['send', 'upstream', 'CAPA\r\n'],
      ],
    },
    { ev: u('+OK\r\nUSER\r\n.\r\n'), expect: [['send', 'client', '+OK\r\nUSER\r\n.\r\n']] },
  ]);
});

test('upstream STLS: bytes after the go-ahead are discarded and logged', () => {
  play({ upstreamTls: 'starttls' }, [
    { ev: START, expect: [] },
    { ev: u(STLS_UPSTREAM_GREETING), expect: [['send', 'upstream', 'CAPA\r\n']] },
    { ev: u('+OK\r\nSTLS\r\n.\r\n'), expect: [['send', 'upstream', 'STLS\r\n']] },
    {
      ev: u('+OK Begin TLS\r\n+OK injected\r\n'),
      expect: [
        ['start-tls', 'upstream'],
        ['log', 'warn', 'discarded bytes the mail server sent after its STARTTLS go-ahead'],
      ],
    },
    {
      ev: { type: 'tls-ready', leg: 'upstream' },
      expect: [
        ['log', 'info', 'upstream STLS complete'],
        ['send', 'client', STLS_UPSTREAM_GREETING],
      ],
    },
  ]);
});

test('upstream STLS refused or missing: the client gets -ERR [SYS/TEMP] with the reason; no plaintext fallback', () => {
  const refused = play({ upstreamTls: 'starttls' }, [
    { ev: START, expect: [] },
    { ev: u(STLS_UPSTREAM_GREETING), expect: [['send', 'upstream', 'CAPA\r\n']] },
    { ev: u('+OK\r\nSTLS\r\n.\r\n'), expect: [['send', 'upstream', 'STLS\r\n']] },
    {
      ev: u('-ERR TLS unavailable\r\n'),
      expect: [
        ['log', 'error', 'upstream failed'],
        [
          'send',
          'client',
          '-ERR [SYS/TEMP] mailshield: the mail server mail.test:995 refused STLS; offered: "-ERR TLS unavailable"; ' +
            'required: STLS (upstreamTls: starttls); mailshield never falls back to plaintext; if the server offers ' +
            'implicit TLS (usually port 995), set upstream to that port and upstreamTls: implicit ' +
            '(MS_ERR_UPSTREAM_STARTTLS_REFUSED)\r\n',
        ],
        ['close', 'both'],
      ],
    },
  ]);
  assert.ok(!refused.some((x) => x.type === 'send' && x.to === 'client' && x.data.includes('ISP POP3')));
  play({ upstreamTls: 'starttls' }, [
    { ev: START, expect: [] },
    { ev: u(STLS_UPSTREAM_GREETING), expect: [['send', 'upstream', 'CAPA\r\n']] },
    {
      ev: u('+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n'),
      expect: [
        ['log', 'error', 'upstream failed'],
        [
          'send',
          'client',
          '-ERR [SYS/TEMP] mailshield: the mail server mail.test:995 does not offer STLS; offered: CAPA without STLS; ' +
            'required: STLS (upstreamTls: starttls); mailshield never falls back to plaintext; if the server offers ' +
            'implicit TLS (usually port 995), set upstream to that port and upstreamTls: implicit ' +
            '(MS_ERR_UPSTREAM_STARTTLS_MISSING)\r\n',
        ],
        ['close', 'both'],
      ],
    },
  ]);
  // A server without CAPA still gets its STLS tried.
  play({ upstreamTls: 'starttls' }, [
    { ev: START, expect: [] },
    { ev: u(STLS_UPSTREAM_GREETING), expect: [['send', 'upstream', 'CAPA\r\n']] },
    { ev: u('-ERR unknown command\r\n'), expect: [['send', 'upstream', 'STLS\r\n']] },
    { ev: u('+OK\r\n'), expect: [['start-tls', 'upstream']] },
  ]);
});

test('upstream connect or TLS failure: the client is told why, then closed', () => {
  const error = new ShieldError(
    'MS_ERR_UPSTREAM_WEAK_HANDSHAKE_SIGNATURE',
    'mail.test signed its key exchange with SHA-1',
    {
      offered: 'Peer signing digest: SHA1',
      required: 'SHA-256 or better',
      fix: 'add policy.exceptions: [{host: mail.test, allow: [sha1-handshake-signature], until: 2026-12-31}]',
    },
  );
  play({}, [
    {
      ev: { type: 'upstream-failed', error },
      expect: [
        ['log', 'error', 'upstream failed'],
        ['send', 'client', `-ERR [SYS/TEMP] mailshield: ${error.toReplyText()}\r\n`],
        ['close', 'both'],
      ],
    },
    { ev: c('USER x\r\n'), expect: [] },
  ]);
  play({ upstreamTls: 'starttls' }, [
    { ev: START, expect: [] },
    { ev: u(STLS_UPSTREAM_GREETING), expect: [['send', 'upstream', 'CAPA\r\n']] },
    { ev: u('+OK\r\nSTLS\r\n.\r\n'), expect: [['send', 'upstream', 'STLS\r\n']] },
    { ev: u('+OK\r\n'), expect: [['start-tls', 'upstream']] },
    {
      ev: { type: 'tls-failed', leg: 'upstream', error },
      expect: [
        ['log', 'error', 'upstream failed'],
        ['send', 'client', `-ERR [SYS/TEMP] mailshield: ${error.toReplyText()}\r\n`],
        ['close', 'both'],
      ],
    },
  ]);
});

test('AUTH continuation lines pass through and are not commands', () => {
  const all = play({}, [
    ...opened,
    { ev: c('AUTH PLAIN\r\n'), expect: [['send', 'upstream', 'AUTH PLAIN\r\n']] },
    { ev: u('+ \r\n'), expect: [['send', 'client', '+ \r\n']] },
    { ev: c('RETR 1\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    {
      ev: u('-ERR [AUTH] Authentication failed.\r\n'),
      expect: [['send', 'client', '-ERR [AUTH] Authentication failed.\r\n']],
    },
    { ev: c('AUTH\r\n'), expect: [['send', 'upstream', 'AUTH\r\n']] },
    { ev: u('+OK\r\nPLAIN\r\nXOAUTH2\r\n.\r\n'), expect: [['send', 'client', '+OK\r\nPLAIN\r\nXOAUTH2\r\n.\r\n']] },
  ]);
  assert.ok(!all.some((x) => x.type === 'capture-start'), 'the continuation "RETR 1" must not start a capture');
});

test('RETR of a clean message: captured unstuffed, released re-stuffed by the driver', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 1\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    {
      ev: u(`+OK ${MESSAGE.length} octets\r\n${STUFFED}`),
      expect: captured(1, MESSAGE),
    },
    {
      ev: scanned(1, clean),
      expect: [
        logScanned,
        ['send', 'client', `+OK ${MESSAGE.length} octets\r\n`],
        ['send-capture', 1, 'client', 'pop3-dot'],
        ['capture-discard', 1],
      ],
    },
  ]);
});

test('RETR of an empty message and of a message with CR before the dot', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 1\r\nRETR 2\r\n'), expect: [['send', 'upstream', 'RETR 1\r\nRETR 2\r\n']] },
    {
      ev: u('+OK 0 octets\r\n.\r\n+OK\r\na\r\n.\rb\r\n.x\r\n.\r\n'),
      expect: [['capture-start', 1], ['capture-end', 1], ...captured(2, 'a\r\n\rb\r\nx\r\n')],
    },
  ]);
});

test('RETR of an infected message: the notice replaces it, dot-stuffed', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 1\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    {
      ev: u(`+OK\r\n${STUFFED}`),
      expect: captured(1, MESSAGE),
    },
    { ev: scanned(1, infected), expect: [logScanned, ['send', 'client', NOTICE_WIRE], ['capture-discard', 1]] },
  ]);
});

test('RETR with the scanner down: -ERR [SYS/TEMP] with the reason, message stays on the server', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 2\r\n'), expect: [['send', 'upstream', 'RETR 2\r\n']] },
    {
      ev: u(`+OK\r\n${STUFFED}`),
      expect: captured(1, MESSAGE),
    },
    {
      ev: scanned(1, tempfail),
      expect: [
        logScanned,
        [
          'send',
          'client',
          '-ERR [SYS/TEMP] mailshield: could not scan message 2: clamd could not be reached; it stays on the server, try again later\r\n',
        ],
        ['capture-discard', 1],
      ],
    },
  ]);
});

test('RETR of a missing message and malformed RETR arguments', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 9\r\n'), expect: [['send', 'upstream', 'RETR 9\r\n']] },
    { ev: u('-ERR There is no message 9.\r\n'), expect: [['send', 'client', '-ERR There is no message 9.\r\n']] },
    {
      ev: c('RETR x\r\n'),
      expect: [['send', 'client', '-ERR mailshield: RETR needs one message number; not sent to the mail server\r\n']],
    },
  ]);
});

test('capture abandoned by the driver: body still swallowed, client gets -ERR', () => {
  const error = new ShieldError('MS_ERR_QUARANTINE_WRITE', 'spool write failed: ENOSPC');
  play({}, [
    ...opened,
    { ev: c('RETR 1\r\nNOOP\r\n'), expect: [['send', 'upstream', 'RETR 1\r\nNOOP\r\n']] },
    {
      ev: u('+OK\r\nabc\r\n'),
      expect: [
        ['capture-start', 1],
        ['capture-data', 1, 'abc\r\n'],
      ],
    },
    { ev: { type: 'capture-failed', id: 1, error }, expect: [['log', 'warn', 'capture failed']] },
    {
      ev: u('def\r\n.\r\n+OK\r\n'),
      expect: [
        [
          'send',
          'client',
          `-ERR [SYS/TEMP] mailshield: could not scan message 1: ${error.toReplyText()}; it stays on the server\r\n`,
        ],
        ['capture-discard', 1],
        ['send', 'client', '+OK\r\n'],
      ],
    },
  ]);
});

test('PIPELINING: answers come in order while scans finish out of order', () => {
  play({}, [
    ...opened,
    {
      ev: c('RETR 1\r\nLIST\r\nRETR 2\r\nSTAT\r\n'),
      expect: [['send', 'upstream', 'RETR 1\r\nLIST\r\nRETR 2\r\nSTAT\r\n']],
    },
    {
      ev: u(`+OK\r\n${STUFFED}+OK 2 messages\r\n1 120\r\n2 130\r\n.\r\n+OK\r\nhello\r\n.\r\n+OK 2 250\r\n`),
      expect: [...captured(1, MESSAGE), ...captured(2, 'hello\r\n')],
    },
    { ev: scanned(2, clean), expect: [logScanned] },
    {
      ev: scanned(1, infected),
      expect: [
        logScanned,
        ['send', 'client', NOTICE_WIRE],
        ['capture-discard', 1],
        ['send', 'client', '+OK 2 messages\r\n1 120\r\n2 130\r\n.\r\n+OK\r\n'],
        ['send-capture', 2, 'client', 'pop3-dot'],
        ['capture-discard', 2],
        ['send', 'client', '+OK 2 250\r\n'],
      ],
    },
  ]);
});

test('TOP: same verdict as RETR; unscanned TOP n 0 passes; unscanned TOP n m scans the whole message first', () => {
  const all = play({}, [
    ...opened,
    // Message 1 scanned clean: TOP passes through untouched.
    { ev: c('RETR 1\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    {
      ev: u('+OK\r\nSubject: a\r\n\r\nbody\r\n.\r\n'),
      expect: captured(1, 'Subject: a\r\n\r\nbody\r\n'),
    },
    {
      ev: scanned(1, clean),
      expect: [
        logScanned,
        ['send', 'client', '+OK\r\n'],
        ['send-capture', 1, 'client', 'pop3-dot'],
        ['capture-discard', 1],
      ],
    },
    { ev: c('TOP 1 1\r\n'), expect: [['send', 'upstream', 'TOP 1 1\r\n']] },
    {
      ev: u('+OK\r\nSubject: a\r\n\r\n..body\r\n.\r\n'),
      expect: [['send', 'client', '+OK\r\nSubject: a\r\n\r\n..body\r\n.\r\n']],
    },
    // Message 2 replaced: TOP answers from the notice, the server is not asked.
    { ev: c('RETR 2\r\n'), expect: [['send', 'upstream', 'RETR 2\r\n']] },
    {
      ev: u('+OK\r\nX: y\r\n\r\nvirus\r\n.\r\n'),
      expect: captured(2, 'X: y\r\n\r\nvirus\r\n'),
    },
    { ev: scanned(2, infected), expect: [logScanned, ['send', 'client', NOTICE_WIRE], ['capture-discard', 2]] },
    {
      ev: c('TOP 2 2\r\n'),
      expect: [
        [
          'send',
          'client',
          `+OK ${NOTICE.length} octets (mailshield replaced this message; original in quarantine q-1)\r\n` +
            'Subject: [virus removed] hi\r\n\r\nmailshield removed this message.\r\n..dot line\r\n.\r\n',
        ],
      ],
    },
    // Message 3 unscanned, headers only, listed above limits.scanAheadMaxBytes: passes unscanned.
    { ev: c('LIST 3\r\n'), expect: [['send', 'upstream', 'LIST 3\r\n']] },
    { ev: u('+OK 3 5000000\r\n'), expect: [['send', 'client', '+OK 3 5000000\r\n']] },
    { ev: c('TOP 3 0\r\n'), expect: [['send', 'upstream', 'TOP 3 0\r\n']] },
    { ev: u('+OK\r\nSubject: c\r\n\r\n.\r\n'), expect: [['send', 'client', '+OK\r\nSubject: c\r\n\r\n.\r\n']] },
    // Message 4 unscanned with body lines: a hidden RETR gets the verdict; clean, so the real TOP goes up.
    { ev: c('TOP 4 3\r\nNOOP\r\n'), expect: [['send', 'upstream', 'RETR 4\r\nNOOP\r\n']] },
    {
      ev: u('+OK\r\nSubject: d\r\n\r\nl1\r\nl2\r\n.\r\n+OK\r\n'),
      expect: captured(3, 'Subject: d\r\n\r\nl1\r\nl2\r\n'),
    },
    { ev: scanned(3, clean), expect: [logScanned, ['capture-discard', 3], ['send', 'upstream', 'TOP 4 3\r\n']] },
    {
      ev: u('+OK\r\nSubject: d\r\n\r\nl1\r\nl2\r\n.\r\n'),
      expect: [['send', 'client', '+OK\r\nSubject: d\r\n\r\nl1\r\nl2\r\n.\r\n+OK\r\n']],
    },
    // Message 5 unscanned and infected: the body never reaches the client, TOP never goes up.
    { ev: c('TOP 5 10\r\n'), expect: [['send', 'upstream', 'RETR 5\r\n']] },
    {
      ev: u('+OK\r\nX: y\r\n\r\nvirus\r\n.\r\n'),
      expect: captured(4, 'X: y\r\n\r\nvirus\r\n'),
    },
    { ev: scanned(4, infected), expect: [logScanned, ['send', 'client', NOTICE_WIRE], ['capture-discard', 4]] },
    // TOP of a message whose RETR is still being scanned waits for the verdict.
    { ev: c('RETR 6\r\nTOP 6 1\r\n'), expect: [['send', 'upstream', 'RETR 6\r\n']] },
    {
      ev: u('+OK\r\nX: y\r\n\r\nvirus\r\n.\r\n'),
      expect: captured(5, 'X: y\r\n\r\nvirus\r\n'),
    },
    {
      ev: scanned(5, infected),
      expect: [
        logScanned,
        ['send', 'client', NOTICE_WIRE],
        ['capture-discard', 5],
        [
          'send',
          'client',
          `+OK ${NOTICE.length} octets (mailshield replaced this message; original in quarantine q-1)\r\n` +
            'Subject: [virus removed] hi\r\n\r\nmailshield removed this message.\r\n.\r\n',
        ],
      ],
    },
  ]);
  const sentUp = all
    .filter((x) => x.type === 'send' && x.to === 'upstream')
    .map((x) => (x.type === 'send' ? x.data.toString() : ''));
  assert.ok(!sentUp.some((s) => s.startsWith('TOP 5') || s.startsWith('TOP 6') || s.startsWith('TOP 2')));
});

test('TOP n 0 of a small unscanned message is scanned ahead; LIST shows replaced messages with the notice size', () => {
  const top0 =
    `+OK ${NOTICE.length} octets (mailshield replaced this message; original in quarantine q-1)\r\n` +
    'Subject: [virus removed] hi\r\n\r\n.\r\n';
  play({}, [
    ...opened,
    { ev: c('TOP 1 0\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    { ev: u('+OK\r\nX: y\r\n\r\nvirus\r\n.\r\n'), expect: captured(1, 'X: y\r\n\r\nvirus\r\n') },
    { ev: scanned(1, infected), expect: [logScanned, ['send', 'client', top0], ['capture-discard', 1]] },
    { ev: c('LIST\r\n'), expect: [['send', 'upstream', 'LIST\r\n']] },
    {
      ev: u('+OK 2 messages\r\n1 120\r\n2 300\r\n.\r\n'),
      expect: [['send', 'client', `+OK 2 messages\r\n1 ${NOTICE.length}\r\n2 300\r\n.\r\n`]],
    },
    { ev: c('LIST 1\r\n'), expect: [['send', 'upstream', 'LIST 1\r\n']] },
    { ev: u('+OK 1 120\r\n'), expect: [['send', 'client', `+OK 1 ${NOTICE.length}\r\n`]] },
  ]);
});

test('DELE of a replaced message passes through by default', () => {
  play({ keep: false }, [
    ...opened,
    { ev: c('RETR 1\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    {
      ev: u('+OK\r\nv\r\n.\r\n'),
      expect: captured(1, 'v\r\n'),
    },
    { ev: scanned(1, infected), expect: [logScanned, ['send', 'client', NOTICE_WIRE], ['capture-discard', 1]] },
    { ev: c('DELE 1\r\n'), expect: [['send', 'upstream', 'DELE 1\r\n']] },
    { ev: u('+OK Marked to be deleted.\r\n'), expect: [['send', 'client', '+OK Marked to be deleted.\r\n']] },
  ]);
});

test('DELE with pop3.keepInfectedOnServer: infected kept (even pipelined), clean deleted', () => {
  const kept = '+OK mailshield kept infected message 1 on the server (pop3.keepInfectedOnServer: true)\r\n';
  play({ keep: true }, [
    ...opened,
    // A pipelined DELE waits for the verdict of the RETR before it, in its place; the RETR after it goes up at once.
    { ev: c('RETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\n'), expect: [['send', 'upstream', 'RETR 1\r\nRETR 2\r\n']] },
    {
      ev: u('+OK\r\nv\r\n.\r\n+OK\r\nc\r\n.\r\n'),
      expect: [...captured(1, 'v\r\n'), ...captured(2, 'c\r\n')],
    },
    // Message 2 is clean: its DELE goes up (the server commits it only at QUIT, which waits for every answer).
    { ev: scanned(2, clean), expect: [logScanned, ['send', 'upstream', 'DELE 2\r\n']] },
    {
      ev: scanned(1, infected),
      expect: [
        logScanned,
        ['log', 'info', 'infected message kept on server'],
        ['send', 'client', NOTICE_WIRE],
        ['capture-discard', 1],
        ['send', 'client', kept + '+OK\r\n'],
        ['send-capture', 2, 'client', 'pop3-dot'],
        ['capture-discard', 2],
      ],
    },
    { ev: u('+OK\r\n'), expect: [['send', 'client', '+OK\r\n']] },
    {
      ev: c('DELE 1\r\n'),
      expect: [
        ['log', 'info', 'infected message kept on server'],
        ['send', 'client', kept],
      ],
    },
  ]);
});

test('upstream closes mid-message: capture discarded, client gets -ERR, both closed', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 1\r\nLIST\r\n'), expect: [['send', 'upstream', 'RETR 1\r\nLIST\r\n']] },
    {
      ev: u('+OK\r\nSubject: half\r\n'),
      expect: [
        ['capture-start', 1],
        ['capture-data', 1, 'Subject: half\r\n'],
      ],
    },
    {
      ev: { type: 'closed', leg: 'upstream' },
      expect: [
        ['log', 'warn', 'upstream closed mid-response'],
        ['capture-discard', 1],
        [
          'send',
          'client',
          '-ERR [SYS/TEMP] mailshield: the mail server closed the connection in the middle of message 1; nothing was kept (MS_ERR_UPSTREAM_CLOSED)\r\n' +
            '-ERR [SYS/TEMP] mailshield: the mail server closed the connection before answering (MS_ERR_UPSTREAM_CLOSED)\r\n',
        ],
        ['close', 'both'],
      ],
    },
  ]);
});

test('a pipelined QUIT waits until the answers before it are out', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 1\r\nQUIT\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    {
      ev: u('+OK\r\nok\r\n.\r\n'),
      expect: captured(1, 'ok\r\n'),
    },
    {
      ev: scanned(1, tempfail),
      expect: [
        logScanned,
        [
          'send',
          'client',
          '-ERR [SYS/TEMP] mailshield: could not scan message 1: clamd could not be reached; it stays on the server, try again later\r\n',
        ],
        ['capture-discard', 1],
        ['send', 'upstream', 'QUIT\r\n'],
      ],
    },
    { ev: u('+OK Logging out.\r\n'), expect: [['send', 'client', '+OK Logging out.\r\n']] },
  ]);
});

test('upstream closes while an earlier message is being scanned: that answer still arrives', () => {
  play({}, [
    ...opened,
    { ev: c('RETR 1\r\n'), expect: [['send', 'upstream', 'RETR 1\r\n']] },
    {
      ev: u('+OK\r\nok\r\n.\r\n'),
      expect: captured(1, 'ok\r\n'),
    },
    { ev: { type: 'closed', leg: 'upstream' }, expect: [] },
    {
      ev: scanned(1, clean),
      expect: [
        logScanned,
        ['send', 'client', '+OK\r\n'],
        ['send-capture', 1, 'client', 'pop3-dot'],
        ['capture-discard', 1],
        ['close', 'both'],
      ],
    },
  ]);
});

test('malformed upstream response: client gets -ERR and the session closes', () => {
  play({}, [
    ...opened,
    { ev: c('STAT\r\n'), expect: [['send', 'upstream', 'STAT\r\n']] },
    {
      ev: u('HTTP/1.1 400 Bad Request\r\n'),
      expect: [
        ['log', 'error', 'upstream protocol error'],
        [
          'send',
          'client',
          '-ERR [SYS/TEMP] mailshield: the mail server sent a line that is neither +OK nor -ERR in answer to STAT (MS_ERR_UPSTREAM_PROTOCOL)\r\n',
        ],
        ['close', 'both'],
      ],
    },
  ]);
});

test('client closes mid-transfer: no half capture survives, upstream gets no QUIT', () => {
  const all = play({}, [
    ...opened,
    { ev: c('RETR 1\r\nRETR 2\r\n'), expect: [['send', 'upstream', 'RETR 1\r\nRETR 2\r\n']] },
    {
      ev: u('+OK\r\ndone\r\n.\r\n+OK\r\nhalf'),
      expect: [...captured(1, 'done\r\n'), ['capture-start', 2], ['capture-data', 2, 'half']],
    },
    {
      ev: { type: 'closed', leg: 'client' },
      expect: [
        ['log', 'warn', 'client closed'],
        ['capture-discard', 1],
        ['capture-discard', 2],
        ['close', 'both'],
      ],
    },
    { ev: scanned(1, clean), expect: [] },
  ]);
  assert.ok(!all.some((x) => x.type === 'send' && x.to === 'upstream' && x.data.toString().startsWith('QUIT')));
});

test('overlong client line: -ERR naming the limit, then close', () => {
  play({ maxLineBytes: 512 }, [
    ...opened,
    {
      ev: c('NOOP ' + 'a'.repeat(600) + '\r\n'),
      expect: [
        [
          'send',
          'client',
          '-ERR mailshield: command line longer than 512 bytes (limits.maxLineBytes); closing (MS_ERR_CLIENT_LINE_TOO_LONG)\r\n',
        ],
        ['log', 'warn', 'client line too long'],
        ['close', 'both'],
      ],
    },
  ]);
});

test('a long message streams in pieces and is never held by the session', () => {
  const session = createPop3Session(options());
  session.handle(START);
  session.handle(u(GREETING));
  session.handle(c('RETR 1\r\n'));
  session.handle(u('+OK\r\n'));
  const line = Buffer.from('x'.repeat(998) + '\r\n');
  let captured = 0;
  for (let i = 0; i < 5000; i++) {
    for (const cmd of session.handle(u(line))) if (cmd.type === 'capture-data') captured += cmd.data.length;
  }
  const end = session.handle(u('.\r\n'));
  assert.equal(captured, 5000 * 1000);
  assert.deepEqual(
    end.map((x) => x.type),
    ['capture-end'],
  );
});
