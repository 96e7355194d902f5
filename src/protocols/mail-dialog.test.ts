import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ReplyReader,
  modeForPort,
  parseCapabilities,
  plaintextAuthOffered,
  starttlsFindings,
  type Reply,
  type ReplyShape,
} from './mail-dialog.js';

/** Feeds `input` split at `cut` and collects replies of `shape` until none is complete. */
function readAll(input: string, shape: ReplyShape, cut: number): { replies: Reply[]; rest: string } {
  const r = new ReplyReader();
  const replies: Reply[] = [];
  const bytes = Buffer.from(input, 'latin1');
  for (const part of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
    r.push(part);
    for (let rep = r.next(shape); rep; rep = r.next(shape)) replies.push(rep);
  }
  return { replies, rest: r.takeRest().toString('latin1') };
}

const cases: { name: string; input: string; shape: ReplyShape; want: string[][]; rest: string }[] = [
  {
    name: 'POP3 CAPA block',
    input: '+OK\r\nTOP\r\nSTLS\r\nUSER\r\n.\r\n',
    shape: { kind: 'pop3-multi' },
    want: [['+OK', 'TOP', 'STLS', 'USER', '.']],
    rest: '',
  },
  { name: 'POP3 -ERR is one line', input: '-ERR no\r\n', shape: { kind: 'pop3-multi' }, want: [['-ERR no']], rest: '' },
  {
    name: 'IMAP tagged with untagged data',
    input: '* CAPABILITY IMAP4rev1 STARTTLS\r\np1 OK done\r\n',
    shape: { kind: 'imap-tagged', tag: 'p1' },
    want: [['* CAPABILITY IMAP4rev1 STARTTLS', 'p1 OK done']],
    rest: '',
  },
  {
    name: 'SMTP multi-line EHLO',
    input: '250-mx.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n',
    shape: { kind: 'smtp' },
    want: [['250-mx.test', '250-STARTTLS', '250 8BITMIME']],
    rest: '',
  },
  {
    name: 'go-ahead followed by injected bytes',
    input: '220 go ahead\r\n250 injected\r\n',
    shape: { kind: 'smtp' },
    want: [['220 go ahead'], ['250 injected']],
    rest: '',
  },
  {
    name: 'bare LF and a partial tail',
    input: '+OK hi\n+OK part',
    shape: { kind: 'line' },
    want: [['+OK hi']],
    rest: '+OK part',
  },
];

for (const c of cases) {
  test(`ReplyReader: ${c.name}, split at every offset`, () => {
    for (let cut = 0; cut <= c.input.length; cut++) {
      const { replies, rest } = readAll(c.input, c.shape, cut);
      assert.deepEqual(
        replies.map((r) => r.lines),
        c.want,
        `cut at ${cut}`,
      );
      assert.equal(rest, c.rest, `rest at cut ${cut}`);
    }
  });
}

test('ReplyReader: takeRest returns bytes after the go-ahead, including a partial line', () => {
  const r = new ReplyReader();
  r.push(Buffer.from('+OK Begin TLS\r\n+OK evil'));
  assert.deepEqual(r.next({ kind: 'line' })?.lines, ['+OK Begin TLS']);
  assert.equal(r.takeRest().toString(), '+OK evil');
});

test('ReplyReader: refuses an endless reply', () => {
  const r = new ReplyReader();
  assert.throws(() => {
    for (let i = 0; i < 10_000; i++) {
      r.push(Buffer.from('250-' + 'x'.repeat(100) + '\r\n'));
      r.next({ kind: 'smtp' });
    }
  }, /longer than/);
});

test('capabilities per protocol', () => {
  assert.deepEqual(parseCapabilities('pop3', { lines: ['+OK', 'TOP', 'STLS', '.'] }), ['TOP', 'STLS']);
  assert.equal(parseCapabilities('pop3', { lines: ['-ERR'] }), null);
  assert.deepEqual(parseCapabilities('imap', { lines: ['* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED', 'p1 OK x'] }), [
    'IMAP4rev1',
    'STARTTLS',
    'LOGINDISABLED',
  ]);
  assert.deepEqual(parseCapabilities('smtp', { lines: ['250-mx', '250-STARTTLS', '250 AUTH PLAIN LOGIN'] }), [
    'STARTTLS',
    'AUTH PLAIN LOGIN',
  ]);
});

test('plaintext auth before TLS', () => {
  assert.equal(plaintextAuthOffered('pop3', ['TOP', 'STLS']), null);
  assert.equal(plaintextAuthOffered('pop3', ['USER', 'SASL PLAIN']), 'USER, SASL PLAIN');
  assert.equal(plaintextAuthOffered('imap', ['IMAP4rev1', 'STARTTLS', 'LOGINDISABLED']), null);
  assert.equal(plaintextAuthOffered('imap', ['IMAP4rev1', 'AUTH=PLAIN']), 'LOGIN, AUTH=PLAIN');
  assert.equal(plaintextAuthOffered('smtp', ['STARTTLS', 'PIPELINING']), null);
  assert.equal(plaintextAuthOffered('smtp', ['AUTH PLAIN LOGIN']), 'AUTH PLAIN LOGIN');
});

test('STARTTLS hygiene findings', () => {
  const rules = (t: Parameters<typeof starttlsFindings>[0]) => starttlsFindings(t).map((f) => f.rule);
  assert.deepEqual(
    rules({
      protocol: 'imap',
      greeting: { lines: ['* PREAUTH hi'] },
      capabilities: ['IMAP4rev1'],
      starttlsReply: null,
      afterGoAhead: Buffer.alloc(0),
    }),
    ['preauth', 'starttls-not-offered', 'plaintext-auth-before-tls'],
  );
  assert.deepEqual(
    rules({
      protocol: 'pop3',
      greeting: { lines: ['+OK'] },
      capabilities: ['STLS'],
      starttlsReply: { lines: ['+OK go'] },
      afterGoAhead: Buffer.from('+OK injected\r\n'),
    }),
    ['starttls-response-injection'],
  );
  assert.deepEqual(
    rules({
      protocol: 'smtp',
      greeting: { lines: ['220 mx'] },
      capabilities: ['STARTTLS'],
      starttlsReply: { lines: ['454 TLS not available'] },
      afterGoAhead: Buffer.alloc(0),
    }),
    ['starttls-refused'],
  );
});

test('mode from well-known ports', () => {
  assert.deepEqual(modeForPort(995), { mode: 'implicit', protocol: 'pop3' });
  assert.deepEqual(modeForPort(143), { mode: 'starttls', protocol: 'imap' });
  assert.deepEqual(modeForPort(587), { mode: 'starttls', protocol: 'smtp' });
  assert.deepEqual(modeForPort(4433), { mode: 'implicit', protocol: null });
});
