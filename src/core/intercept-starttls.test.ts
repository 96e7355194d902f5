import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartTlsWatch, afterRelayedGreeting, type WatchOutput } from './intercept-starttls.js';
import type { Session, SessionCommand, SessionEvent } from './session.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const show = (outs: WatchOutput[]) =>
  outs.map((o) =>
    o.type === 'tls'
      ? `tls pending=${o.pending.toString('latin1')} discarded=${o.discarded}`
      : o.type === 'refuse'
        ? `refuse ${o.error.code} ${o.reply.toString('latin1').trim()}`
        : `${o.type} ${o.data.toString('latin1').trim()}`,
  );

test('SMTP: greeting and EHLO relayed, STARTTLS go-ahead found across split replies, injected bytes dropped', () => {
  const w = new StartTlsWatch('smtp', 1000);
  assert.deepEqual(show(w.upstream(b('220 smtp.isp.test ESMTP\r\n'))), ['to-client 220 smtp.isp.test ESMTP']);
  assert.deepEqual(show(w.client(b('EHLO me\r\n'))), ['to-upstream EHLO me']);
  assert.deepEqual(show(w.upstream(b('250-smtp.isp.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n'))).length, 3);
  assert.deepEqual(show(w.client(b('STARTTLS\r\n\x16\x03\x01'))), ['to-upstream STARTTLS']);
  // The client's TLS bytes wait for the ClientHello reader; nothing more is relayed.
  assert.deepEqual(w.client(b('\x00\x05')), []);
  assert.deepEqual(show(w.upstream(b('220 2.0.0 go'))), []);
  assert.deepEqual(show(w.upstream(b(' ahead\r\n250 injected\r\n'))), [
    'to-client 220 2.0.0 go ahead',
    'tls pending=\x16\x03\x01\x00\x05 discarded=14',
  ]);
  assert.equal(w.finished, true);
});

test('SMTP: a refused STARTTLS is relayed and the client may only quit; AUTH in clear is refused, not relayed', () => {
  const w = new StartTlsWatch('smtp', 1000);
  w.upstream(b('220 hi\r\n'));
  w.client(b('STARTTLS\r\n'));
  assert.deepEqual(show(w.upstream(b('454 4.7.0 TLS not available\r\n'))), ['to-client 454 4.7.0 TLS not available']);
  assert.equal(w.finished, false);
  const out = show(w.client(b('AUTH PLAIN AGZvbwBiYXI=\r\n')));
  assert.equal(out.length, 1);
  assert.match(out[0]!, /^refuse MS_ERR_INTERCEPT_PLAINTEXT 530 5\.7\.0 .*only after STARTTLS.*sent AUTH in clear/);
});

test('IMAP: untagged lines pass, the STARTTLS tag decides; LOGIN in clear gets BYE with the reason', () => {
  const w = new StartTlsWatch('imap', 1000);
  w.upstream(b('* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n'));
  assert.deepEqual(show(w.client(b('a1 CAPABILITY\r\na2 STARTTLS\r\n'))), [
    'to-upstream a1 CAPABILITY',
    'to-upstream a2 STARTTLS',
  ]);
  assert.deepEqual(show(w.upstream(b('* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n'))).length, 2);
  assert.equal(w.finished, false);
  assert.deepEqual(show(w.upstream(b('a2 OK Begin TLS\r\n'))), [
    'to-client a2 OK Begin TLS',
    'tls pending= discarded=0',
  ]);

  const v = new StartTlsWatch('imap', 1000);
  v.upstream(b('* OK ready\r\n'));
  const out = show(v.client(b('x LOGIN u p\r\n')));
  assert.match(out[0]!, /^refuse MS_ERR_INTERCEPT_PLAINTEXT \* BYE \[ALERT\] .*LOGIN[\s\S]*x BAD \[PRIVACYREQUIRED\]/);
});

test('POP3: CAPA is multi-line, the STLS answer is the next status line; USER in clear is refused', () => {
  const w = new StartTlsWatch('pop3', 1000);
  w.upstream(b('+OK Dovecot ready.\r\n'));
  w.client(b('CAPA\r\n'));
  w.client(b('STLS\r\n'));
  // "+OK" inside the CAPA body must not be taken for the STLS answer.
  assert.deepEqual(show(w.upstream(b('+OK\r\nSTLS\r\n+OK odd\r\n.\r\n'))).length, 4);
  assert.equal(w.finished, false);
  assert.deepEqual(show(w.upstream(b('+OK Begin TLS negotiation now.\r\n'))).at(-1), 'tls pending= discarded=0');
  const v = new StartTlsWatch('pop3', 1000);
  assert.match(show(v.client(b('USER bob\r\n')))[0]!, /^refuse MS_ERR_INTERCEPT_PLAINTEXT -ERR /);
});

test('every split of an SMTP dialogue gives the same go-ahead', () => {
  const server = '220 hi\r\n250-x\r\n250 STARTTLS\r\n220 go\r\n';
  for (let i = 0; i <= server.length; i++) {
    const w = new StartTlsWatch('smtp', 1000);
    w.client(b('EHLO a\r\nSTARTTLS\r\n'));
    const outs = [...w.upstream(b(server.slice(0, i))), ...w.upstream(b(server.slice(i)))];
    assert.equal(outs.filter((o) => o.type === 'tls').length, 1, `split at ${i}`);
    assert.equal(outs.filter((o) => o.type === 'to-client').length, 4, `split at ${i}`);
  }
});

test('afterRelayedGreeting: the session gets a stand-in server greeting and its own greeting is dropped', () => {
  const seen: SessionEvent[] = [];
  const inner: Session = {
    internalErrorReply: () => '421 internal\r\n',
    handle(ev): SessionCommand[] {
      seen.push(ev);
      if (ev.type === 'data' && ev.from === 'upstream')
        return [{ type: 'send', to: 'client', data: b('220 greeting\r\n') }];
      if (ev.type === 'data' && ev.from === 'client')
        return [
          { type: 'send', to: 'upstream', data: ev.data },
          { type: 'send', to: 'client', data: b('250 ok\r\n') },
        ];
      return [];
    },
  };
  const s = afterRelayedGreeting(inner, 'smtp');
  assert.deepEqual(s.handle({ type: 'start', upstreamFacts: null }), []);
  assert.equal(seen[1]?.type === 'data' && seen[1].data.toString(), '220 mailshield ESMTP\r\n');
  const after = s.handle({ type: 'data', from: 'client', data: b('EHLO x\r\n') });
  assert.equal(after.length, 2);
});
