import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { splitFields } from './headers.js';
import { buildNotice, quotedPrintable, shapedNoticeBody } from './notice.js';

const fields = splitFields(
  [
    'Received: from somewhere',
    'Date: Tue, 7 May 2024 10:00:00 +0200',
    'From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.test>',
    'To: a@example.test,',
    ' b@example.test',
    'Cc: c@example.test',
    'Message-ID: <m1@example.test>',
    'Subject: =?UTF-8?B?w5xiZXJ3ZWlzdW5n?=',
    'X-Other: dropped',
    '',
  ].join('\r\n'),
);

test('splitFields keeps folding and lower-cases names', () => {
  assert.equal(fields.find((f) => f.name === 'to')!.raw, 'To: a@example.test,\r\n b@example.test');
  assert.equal(fields.length, 8);
});

test('the notice keeps identity headers verbatim, prefixes an encoded subject, and drops everything else', async () => {
  const n = buildNotice({
    fields,
    verdict: { kind: 'blocked', engine: 'builtin', rule: 'rtl-override', part: 'inv<U+202E>fdp.exe', detail: 'RLO' },
    quarantineId: 'abc123def456',
    subjectPrefix: '[virus removed] ',
    originalSize: 1234,
    subject: 'Überweisung',
    now: new Date('2024-01-01T00:00:00Z'),
  });
  const text = n.toString('latin1');
  assert.ok(text.includes('To: a@example.test,\r\n b@example.test\r\n'));
  assert.ok(text.includes('From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.test>\r\n'));
  assert.ok(!/Received:|X-Other:/.test(text));
  assert.match(text, /^Subject: \[virus removed\] =\?UTF-8\?B\?w5xiZXJ3ZWlzdW5n\?=\r$/m);
  assert.match(text, /^X-MailShield-Verdict: blocked; rule=rtl-override; quarantine=abc123def456\r$/m);
  assert.ok(text.split('\r\n').every((l) => l.length <= 998));
  const p = await simpleParser(n);
  // Its own Message-ID, the original's kept beside it; only one Message-ID field.
  assert.equal(p.messageId, '<abc123def456.notice@mailshield.invalid>');
  assert.equal(text.match(/^Message-ID:/gim)?.length, 1);
  assert.match(text, /^X-MailShield-Original-Message-ID: <m1@example\.test>\r$/m);
  assert.equal(p.subject, '[virus removed] Überweisung');
  assert.match(p.text ?? '', /Original subject: Überweisung/);
  assert.match(p.text ?? '', /mailshield quarantine export abc123def456 --out original\.eml/);
  assert.match(p.text ?? '', /inv<U\+202E>fdp\.exe/);
});

test('a message without Date or From still gets a valid notice; a non-ASCII prefix is encoded', async () => {
  const n = buildNotice({
    fields: [],
    verdict: { kind: 'infected', engine: 'clamd', signature: 'Win.Test', part: 'the message' },
    quarantineId: 'q1',
    subjectPrefix: '[Virus entfernt – ] ',
    originalSize: 1,
    now: new Date('2024-01-01T00:00:00Z'),
  });
  const p = await simpleParser(n);
  assert.equal(p.date?.toISOString(), '2024-01-01T00:00:00.000Z');
  assert.equal(p.from?.value[0]?.address, 'postmaster@localhost');
  assert.equal(p.subject, '[Virus entfernt – ]');
  assert.match(n.toString(), /^X-MailShield-Verdict: infected; engine=clamd; signature=Win\.Test; quarantine=q1\r$/m);
});

test('quotedPrintable round-trips and keeps lines short', async () => {
  const s = `${'é'.repeat(60)} end \r\nplain = sign\t\r\n${'x'.repeat(200)}`;
  const qp = quotedPrintable(s);
  assert.ok(qp.split('\r\n').every((l) => l.length <= 76));
  const p = await simpleParser(
    Buffer.from(`Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qp}`),
  );
  assert.equal(p.text, s.replace(/\r\n/g, '\n'));
});

test('shapedNoticeBody fits the original header: multipart boundary, base64, quoted-printable', async () => {
  const notice = buildNotice({
    fields: [],
    verdict: { kind: 'infected', engine: 'clamd', signature: 'Win.Test', part: 'a.exe' },
    quarantineId: 'q2',
    subjectPrefix: '[virus removed] ',
    originalSize: 10,
    now: new Date('2024-01-01T00:00:00Z'),
  });
  for (const header of [
    'Subject: x\r\nContent-Type: multipart/mixed;\r\n boundary="=_b 1"\r\n\r\n',
    'Subject: x\r\nContent-Type: multipart/alternative; boundary=simple\r\n\r\n',
    'Subject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n',
    'Subject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
    'Subject: x\r\n\r\n',
  ]) {
    const body = shapedNoticeBody(notice, Buffer.from(header));
    const p = await simpleParser(Buffer.concat([Buffer.from(header), body]));
    assert.match(p.text ?? '', /Win\.Test/, header);
    assert.match(p.text ?? '', /mailshield quarantine export q2/, header);
    assert.equal(p.attachments.length, 0, header);
  }
});
