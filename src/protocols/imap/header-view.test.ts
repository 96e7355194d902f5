// One consistent view of a replaced message: every item that describes it describes the notice, and a body served
// after the original header went out still makes a well-formed message with it. Session playbooks (s-nail- and
// Thunderbird-style sequences) plus the pure builders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { play, playSplit, type Step, type SimOptions } from './playbook.js';
import { listElements, noticeValue } from './header-view.js';
import { buildNotice } from '../../scan/notice.js';
import { splitFields } from '../../scan/headers.js';

const start: Step = { event: { type: 'start', upstreamFacts: null } };
const len = (s: string | Buffer) => Buffer.byteLength(s, 'latin1');

const HEADER =
  'From: Eve <eve@test>\r\nTo: a@test\r\nSubject: invoice\r\nMessage-ID: <bad@test>\r\nMIME-Version: 1.0\r\n' +
  'Content-Type: multipart/mixed; boundary="b2"\r\n\r\n';
const TEXT = '--b2\r\nContent-Type: text/plain\r\n\r\nINFECTED payload\r\n--b2--\r\n';
const BAD = HEADER + TEXT;
const ENVELOPE =
  '("Mon, 1 Jan 2024 00:00:00 +0000" "invoice" (("Eve" NIL "eve" "test")) (("Eve" NIL "eve" "test")) ' +
  '(("Eve" NIL "eve" "test")) ((NIL NIL "a" "test")) NIL NIL NIL "<bad@test>")';
const STRUCTURE = '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 17 1 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "b2") NIL NIL NIL)';

/** A notice as the pipeline builds it (the playbook's fake scanner would give a bare one). */
const NOTICE = buildNotice({
  fields: splitFields(HEADER),
  verdict: { kind: 'infected', engine: 'test', signature: 'Test.Virus', part: '1' },
  quarantineId: 'q1',
  subjectPrefix: '[virus removed] ',
  originalSize: len(BAD),
  subject: 'invoice',
  now: new Date('2024-01-01T00:00:00Z'),
});
const noticeHeader = NOTICE.subarray(0, NOTICE.indexOf('\r\n\r\n') + 4).toString('latin1');
const noticeBody = NOTICE.subarray(NOTICE.indexOf('\r\n\r\n') + 4).toString('latin1');

const opened: Step[] = [
  start,
  { up: '* OK [CAPABILITY IMAP4rev1] ready\r\n' },
  { client: 'a1 LOGIN u p\r\n' },
  { up: 'a1 OK in\r\n' },
  { client: 'a2 EXAMINE INBOX\r\n' },
  { up: '* OK [UIDVALIDITY 7] ok\r\na2 OK [READ-ONLY] done\r\n' },
  { expect: (s) => void (s.take('client'), s.take('upstream')) },
];

const opts = (o: SimOptions = {}): SimOptions => ({ notice: NOTICE, ...o });

/** The literals of a response text, in order. */
function literals(text: string): string[] {
  const out: string[] = [];
  const re = /\{(\d+)\}\r\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const s = m.index + m[0].length;
    out.push(text.slice(s, s + Number(m[1])));
    re.lastIndex = s + Number(m[1]);
  }
  return out;
}

test('s-nail style, scanned ahead: RFC822.HEADER then BODY.PEEK[TEXT] make the notice, prefix and verdict header', async () => {
  const sim = play(
    [
      ...opened,
      { client: 'a3 FETCH 1 (RFC822.HEADER)\r\n' },
      { expectUp: 'a3 FETCH 1 (UID RFC822.SIZE RFC822.HEADER)\r\n' },
      {
        up: `* 1 FETCH (UID 6 RFC822.SIZE ${len(BAD)} RFC822.HEADER {${len(HEADER)}}\r\n${HEADER})\r\na3 OK done\r\n`,
      },
      { expectClient: '' },
      { expectUp: 'ms1.c1 UID FETCH 6 (UID BODY.PEEK[])\r\n' },
      { up: `* 1 FETCH (UID 6 BODY[] {${len(BAD)}}\r\n${BAD})\r\nms1.c1 OK done\r\n` },
      {
        expectClient:
          `* 1 FETCH (UID 6 RFC822.SIZE ${NOTICE.length} RFC822.HEADER {${len(noticeHeader)}}\r\n${noticeHeader})\r\n` +
          'a3 OK done\r\n',
      },
      { client: 'a4 FETCH 1 (BODY.PEEK[TEXT])\r\n' },
      { up: `* 1 FETCH (UID 6 BODY[TEXT] {${len(TEXT)}}\r\n${TEXT})\r\na4 OK done\r\n` },
      { expect: (s) => void s.take('upstream') },
    ],
    opts(),
  );
  const text = sim.take('client');
  assert.equal(literals(text)[0], noticeBody);
  assert.equal(sim.scanned.length, 1, 'one scan for the header and the text');
  const parsed = await simpleParser(Buffer.from(noticeHeader + literals(text)[0], 'latin1'));
  assert.equal(parsed.subject, '[virus removed] invoice');
  assert.match(parsed.headers.get('x-mailshield-verdict') as string, /^infected/);
  assert.match(parsed.text ?? '', /Test\.Virus/);
});

test('Thunderbird style: RFC822.SIZE FLAGS HEADER.FIELDS, ENVELOPE and BODYSTRUCTURE describe the notice', () => {
  const fields = 'BODY[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID CONTENT-TYPE)]';
  const orig =
    'From: Eve <eve@test>\r\nSubject: invoice\r\nMessage-ID: <bad@test>\r\nContent-Type: multipart/mixed; boundary="b2"\r\n\r\n';
  const want =
    'From: Eve <eve@test>\r\nMessage-ID: <q1.notice@mailshield.invalid>\r\nSubject: [virus removed] invoice\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n\r\n';
  playSplit(
    [
      ...opened,
      {
        client: `a3 UID FETCH 6 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID CONTENT-TYPE)])\r\n`,
      },
      { expect: (s) => void s.take('upstream') },
      {
        up: `* 1 FETCH (UID 6 RFC822.SIZE ${len(BAD)} FLAGS () ${fields} {${len(orig)}}\r\n${orig})\r\na3 OK done\r\n`,
      },
      { up: `* 1 FETCH (UID 6 BODY[] {${len(BAD)}}\r\n${BAD})\r\nms1.c1 OK done\r\n` },
      {
        expectClient: `* 1 FETCH (UID 6 RFC822.SIZE ${NOTICE.length} FLAGS () ${fields} {${len(want)}}\r\n${want})\r\na3 OK done\r\n`,
      },
      { client: 'a4 UID FETCH 6 (ENVELOPE BODYSTRUCTURE)\r\n' },
      { up: `* 1 FETCH (UID 6 ENVELOPE ${ENVELOPE} BODYSTRUCTURE ${STRUCTURE})\r\na4 OK done\r\n` },
      {
        expect: (s) => {
          const text = s.take('client');
          assert.ok(text.includes('"[virus removed] invoice"'), text);
          assert.ok(text.includes('"<q1.notice@mailshield.invalid>")'), text);
          assert.ok(text.includes('BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" '), text);
          assert.ok(!text.includes('MIXED') && !text.includes('<bad@test>'), text);
        },
      },
    ],
    opts(),
  );
});

test('too large to scan ahead: the original header goes out, and the TEXT is shaped to its boundary', async () => {
  const sim = play(
    [
      ...opened,
      { client: 'a3 FETCH 1 (RFC822.HEADER)\r\n' },
      {
        up: `* 1 FETCH (UID 6 RFC822.SIZE ${len(BAD)} RFC822.HEADER {${len(HEADER)}}\r\n${HEADER})\r\na3 OK done\r\n`,
      },
      {
        expectClient: `* 1 FETCH (UID 6 RFC822.SIZE ${len(BAD)} RFC822.HEADER {${len(HEADER)}}\r\n${HEADER})\r\na3 OK done\r\n`,
      },
      { client: 'a4 FETCH 1 (BODY.PEEK[TEXT])\r\n' },
      { up: `* 1 FETCH (UID 6 BODY[TEXT] {${len(TEXT)}}\r\n${TEXT})\r\na4 OK done\r\n` },
      { up: `* 1 FETCH (UID 6 BODY[] {${len(BAD)}}\r\n${BAD})\r\nms1.c1 OK done\r\n` },
    ],
    opts({ limits: { scanAheadMaxBytes: 10 } }),
  );
  const body = literals(sim.take('client'))[0]!;
  assert.ok(!body.includes('INFECTED'));
  const parsed = await simpleParser(Buffer.from(HEADER + body, 'latin1'));
  assert.equal(parsed.attachments.length, 0);
  assert.match(parsed.text ?? '', /MailShield removed this message/);
  assert.match(parsed.text ?? '', /Test\.Virus/);
});

test('a clean message: held header items go out unchanged after the scan; later ones are not held', () => {
  const clean = 'Subject: ok\r\n\r\nfine\r\n';
  playSplit([
    ...opened,
    { client: 'a3 UID FETCH 5 (ENVELOPE RFC822.SIZE)\r\n' },
    { expectUp: 'a3 UID FETCH 5 (ENVELOPE RFC822.SIZE)\r\n' },
    {
      up: `* 1 FETCH (UID 5 ENVELOPE (NIL {2}\r\nok NIL NIL NIL NIL NIL NIL NIL NIL) RFC822.SIZE ${len(clean)})\r\na3 OK done\r\n`,
    },
    { expectUp: 'ms1.c1 UID FETCH 5 (UID BODY.PEEK[])\r\n' },
    { up: `* 1 FETCH (UID 5 BODY[] {${len(clean)}}\r\n${clean})\r\nms1.c1 OK done\r\n` },
    {
      expectClient: `* 1 FETCH (UID 5 ENVELOPE (NIL {2}\r\nok NIL NIL NIL NIL NIL NIL NIL NIL) RFC822.SIZE ${len(clean)})\r\na3 OK done\r\n`,
    },
    { client: 'a4 UID FETCH 5 (BODY.PEEK[HEADER])\r\n' },
    { up: '* 1 FETCH (UID 5 BODY[HEADER] {15}\r\nSubject: ok\r\n\r\n)\r\na4 OK done\r\n' },
    { expectClient: '* 1 FETCH (UID 5 BODY[HEADER] {15}\r\nSubject: ok\r\n\r\n)\r\na4 OK done\r\n' },
  ]);
});

test('the scanner failing on a scan-ahead: the header items show the original, nothing is withheld', () => {
  const failing = 'Subject: x\r\n\r\nSCANFAIL\r\n';
  play([
    ...opened,
    { client: 'a3 UID FETCH 5 (RFC822.SIZE)\r\n' },
    { up: `* 1 FETCH (UID 5 RFC822.SIZE ${len(failing)})\r\na3 OK done\r\n` },
    { up: `* 1 FETCH (UID 5 BODY[] {${len(failing)}}\r\n${failing})\r\nms1.c1 OK done\r\n` },
    { expectClient: `* 1 FETCH (UID 5 RFC822.SIZE ${len(failing)})\r\na3 OK done\r\n` },
  ]);
});

test('FETCH content in a quoted string is scanned like a literal and sent on as one', () => {
  const clean = 'Subject: q\r\n\r\nhi "you"\r\n';
  const quoted = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const sim = play([
    ...opened,
    { client: 'a3 UID FETCH 5 (BODY.PEEK[])\r\n' },
    { up: `* 1 FETCH (UID 5 BODY[] ${quoted('INFECTED')})\r\na3 OK done\r\n` },
    { expect: (s) => assert.doesNotMatch(s.take('client'), /INFECTED/) },
    { client: 'a4 UID FETCH 7 (BODY.PEEK[])\r\n' },
    {
      up: `* 2 FETCH (UID 7 BODY[] ${quoted('Subject: q\r\n\r\nhi "you"\r\n'.replace(/\r\n/g, ' '))} FLAGS ())\r\na4 OK done\r\n`,
    },
  ]);
  assert.equal(sim.scanned.length, 2);
  assert.equal(sim.scanned[0]!.bytes.toString(), 'INFECTED');
  const line = clean.replace(/\r\n/g, ' ');
  assert.equal(sim.take('client'), `* 2 FETCH (UID 7 BODY[] {${len(line)}}\r\n${line} FLAGS ())\r\na4 OK done\r\n`);
});

test('noticeValue builders and listElements', () => {
  assert.deepEqual(listElements(Buffer.from('(NIL "a b" {3}\r\nx y (("n" NIL "m" "h")) 12)')).map(String), [
    'NIL',
    '"a b"',
    '{3}\r\nx y',
    '(("n" NIL "m" "h"))',
    '12',
  ]);
  const env = noticeValue('ENVELOPE', NOTICE, Buffer.from(ENVELOPE)).toString();
  assert.equal(listElements(Buffer.from(env)).length, 10);
  assert.equal(noticeValue('RFC822.SIZE', NOTICE, Buffer.from('9')).toString(), String(NOTICE.length));
  assert.equal(noticeValue('BODY[HEADER.FIELDS.NOT (SUBJECT)]', NOTICE, Buffer.alloc(0)).includes('Subject'), false);
});
