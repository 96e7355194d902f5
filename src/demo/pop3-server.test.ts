import { eicar } from '../../test/fixtures/util.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containsEicar } from '../scan/builtin/eicar.js';
import { DemoMailbox, demoMessages, EICAR_MESSAGE_NUMBER, eicarTestString } from './mailbox.js';
import { DemoPop3Server } from './pop3-server.js';

const opts = { host: 'mail.demo.test', user: 'demo', password: 'demo' };

/** Runs a whole client script through a fresh server, fed in the given pieces; returns all output. */
function converse(mailbox: DemoMailbox, pieces: Buffer[]): { out: string; closed: boolean } {
  const s = new DemoPop3Server(mailbox, opts);
  const out: Buffer[] = [s.greeting()];
  let closed = false;
  for (const p of pieces) {
    const r = s.push(p);
    out.push(r.out);
    if (r.close) {
      closed = true;
      break;
    }
  }
  return { out: Buffer.concat(out).toString('latin1'), closed };
}

/** Undoes dot-stuffing of one multi-line body (after its status line), the way a client does. */
function unstuff(body: string): string {
  assert.ok(body.endsWith('\r\n.\r\n'), 'multi-line response ends with CRLF.CRLF');
  return body
    .slice(0, -3)
    .split('\r\n')
    .map((l) => (l.startsWith('.') ? l.slice(1) : l))
    .join('\r\n');
}

test('the EICAR message carries the real test string (assembled at run time, found by the builtin engine)', () => {
  assert.equal(eicarTestString().length, 68);
  assert.equal(eicarTestString(), eicar());
  const msgs = demoMessages();
  const decoded = Buffer.from(
    /\r\n\r\n([A-Za-z0-9+/=]+)\r\n/.exec(msgs[2]!.bytes.toString('latin1').split('attachment;')[1]!)![1]!,
    'base64',
  );
  assert.ok(containsEicar(decoded));
  assert.ok(!containsEicar(msgs[0]!.bytes) && !containsEicar(msgs[1]!.bytes));
  assert.equal(EICAR_MESSAGE_NUMBER, 3);
});

const script = Buffer.from(
  'CAPA\r\nUSER demo\r\nPASS demo\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 2\r\nTOP 1 0\r\nDELE 1\r\nLIST 1\r\nQUIT\r\n',
);

test('a full session, fed at every split point, gives the same transcript', () => {
  const whole = converse(new DemoMailbox(), [script]);
  assert.ok(whole.closed);
  for (let i = 1; i < script.length; i++) {
    const split = converse(new DemoMailbox(), [script.subarray(0, i), script.subarray(i)]);
    assert.equal(split.out, whole.out, `split at ${i}`);
  }
  const bytewise = converse(
    new DemoMailbox(),
    [...script].map((b) => Buffer.from([b])),
  );
  assert.equal(bytewise.out, whole.out);
});

/** Splits a transcript into responses; `multi[i]` says whether response i (after the greeting) is multi-line. */
function responses(out: string, multi: boolean[]): string[] {
  const res: string[] = [];
  let at = out.indexOf('\r\n') + 2; // skip the greeting
  for (const m of multi) {
    const end = m && out.startsWith('+OK', at) ? out.indexOf('\r\n.\r\n', at) + 5 : out.indexOf('\r\n', at) + 2;
    res.push(out.slice(at, end));
    at = end;
  }
  assert.equal(at, out.length, 'nothing left over');
  return res;
}

test('transcript: CAPA, login, STAT/LIST/UIDL, RETR dot-stuffed, TOP headers only, DELE, QUIT', () => {
  const msgs = demoMessages();
  const sizes = msgs.map((m) => m.bytes.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const { out } = converse(new DemoMailbox(), [script]);
  assert.match(out, /^\+OK mail\.demo\.test POP3 demo server/);
  // CAPA USER PASS STAT LIST UIDL-2 RETR-2 TOP DELE LIST-1 QUIT
  const r = responses(out, [true, false, false, false, true, false, true, true, false, false, false]);
  assert.match(r[0]!, /^\+OK capability list follows\r\nUSER\r\nTOP\r\nUIDL\r\n/);
  assert.equal(r[1], '+OK send your password\r\n');
  assert.equal(r[2], '+OK 3 messages for demo\r\n');
  assert.equal(r[3], `+OK 3 ${total}\r\n`);
  assert.equal(r[4], `+OK 3 messages\r\n1 ${sizes[0]}\r\n2 ${sizes[1]}\r\n3 ${sizes[2]}\r\n.\r\n`);
  assert.equal(r[5], `+OK 2 ${msgs[1]!.uid}\r\n`);
  // RETR 2: the body holds ".hidden", "..and" and a lone "." line, each stuffed with one more dot on the wire.
  const retr = r[6]!;
  assert.ok(retr.startsWith(`+OK ${sizes[1]} octets\r\n`));
  const body = retr.slice(retr.indexOf('\r\n') + 2);
  assert.ok(body.includes('\r\n..hidden files') && body.includes('\r\n...and this') && body.includes('\r\n..\r\n'));
  assert.equal(unstuff(body), msgs[1]!.bytes.toString('latin1'));
  // TOP 1 0: exactly the header block and the blank line.
  const headers = msgs[0]!.bytes.toString('latin1').split('\r\n\r\n')[0] + '\r\n\r\n';
  assert.equal(unstuff(r[7]!.slice(r[7]!.indexOf('\r\n') + 2)), headers);
  assert.equal(r[8], '+OK message 1 deleted\r\n');
  assert.equal(r[9], '-ERR message 1 already deleted\r\n');
  assert.match(r[10]!, /^\+OK .*\(1 message deleted\)\r\n$/);
});

test('deletions apply on QUIT only, and only to the mailbox the session saw', () => {
  const box = new DemoMailbox();
  converse(box, [Buffer.from('USER demo\r\nPASS demo\r\nDELE 3\r\n')]); // no QUIT: connection lost
  assert.equal(box.snapshot().length, 3);
  converse(box, [Buffer.from('USER demo\r\nPASS demo\r\nDELE 3\r\nRSET\r\nQUIT\r\n')]);
  assert.equal(box.snapshot().length, 3);
  converse(box, [Buffer.from('USER demo\r\nPASS demo\r\nDELE 3\r\nQUIT\r\n')]);
  assert.deepEqual(
    box.snapshot().map((m) => m.uid),
    ['demo-welcome-1', 'demo-minutes-2'],
  );
  const appended = box.append(Buffer.from('Subject: x\r\n\r\nhi\r\n'));
  assert.equal(box.snapshot().at(-1), appended);
});

test('refusals: wrong password, commands before login, bad numbers, unknown verbs, over-long lines', () => {
  const { out } = converse(new DemoMailbox(), [
    Buffer.from(
      'STAT\r\nPASS demo\r\nUSER demo\r\nPASS nope\r\nUSER demo\r\nPASS demo\r\nRETR 9\r\nRETR x\r\nTOP 1\r\nFROB\r\n',
    ),
  ]);
  const lines = out.split('\r\n').slice(1, -1);
  assert.deepEqual(
    lines.map((l) => l.slice(0, 4)),
    ['-ERR', '-ERR', '+OK ', '-ERR', '+OK ', '+OK ', '-ERR', '-ERR', '-ERR', '-ERR'],
  );
  assert.match(lines[3]!, /\[AUTH\] invalid user name or password/);
  assert.match(lines[6]!, /no such message, only 3/);
  const long = converse(new DemoMailbox(), [Buffer.alloc(2000, 0x41)]);
  assert.ok(long.closed);
  assert.match(long.out, /-ERR command line too long/);
});
