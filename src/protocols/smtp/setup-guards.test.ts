// SMTP playbooks for the shared setup/greeting/STARTTLS mechanisms: the setup timer (src/core/upstream-setup.ts),
// the STARTTLS guard (src/core/starttls-guard.ts), and a client that talks before the greeting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, type AccountConfig } from '../../core/config.js';
import { DEFAULT_LIMITS } from '../../core/limits.js';
import type { Session, SessionCommand, SessionEvent } from '../../core/session.js';
import { SETUP_TIMER } from '../../core/upstream-setup.js';
import { createSmtpSession } from './session.js';

function make(upstreamTls: AccountConfig['upstreamTls'], clientTls: AccountConfig['clientTls'] = 'implicit'): Session {
  return createSmtpSession({
    connId: 'c1',
    account: {
      name: 's',
      protocol: 'smtp',
      listen: '127.0.0.1:1587',
      clientTls,
      upstream: 'mail.test:465',
      upstreamTls,
    },
    config: defaultConfig(),
    limits: { ...DEFAULT_LIMITS, upstreamGreetingTimeoutMs: 2500 },
    clientSecure: clientTls === 'implicit',
  });
}

const START: SessionEvent = { type: 'start', upstreamFacts: null };
const TIMER: SessionEvent = { type: 'timer', name: SETUP_TIMER };
const data = (from: 'client' | 'upstream', s: string): SessionEvent => ({
  type: 'data',
  from,
  data: Buffer.from(s, 'latin1'),
});
const toClient = (cmds: SessionCommand[]) =>
  cmds.flatMap((c) => (c.type === 'send' && c.to === 'client' ? [c.data.toString('latin1')] : [])).join('');

test('a server that completes TLS and never greets: 421 4.4.2 with MS_ERR_UPSTREAM_GREETING_TIMEOUT, then close', () => {
  const s = make('implicit');
  assert.ok(s.handle(START).some((c) => c.type === 'set-timer' && c.name === SETUP_TIMER));
  const out = s.handle(TIMER);
  assert.match(
    toClient(out),
    /^421 4\.4\.2 .*did not send its greeting within 2\.5 s.*MS_ERR_UPSTREAM_GREETING_TIMEOUT\)\r\n$/,
  );
  assert.ok(out.some((c) => c.type === 'close' && c.leg === 'both'));
});

test('STARTTLS upstream stuck after EHLO: the same timer ends it; a finished setup clears it', () => {
  const s = make('starttls');
  s.handle(START);
  s.handle(data('upstream', '220 mx ESMTP\r\n'));
  assert.match(toClient(s.handle(TIMER)), /^421 4\.4\.2 .*reply to EHLO.*GREETING_TIMEOUT/);

  const ok = make('implicit');
  ok.handle(START);
  const greeted = ok.handle(data('upstream', '220 mx ESMTP\r\n'));
  assert.ok(greeted.some((c) => c.type === 'clear-timer' && c.name === SETUP_TIMER));
  assert.deepEqual(ok.handle(TIMER), [], 'a late timer changes nothing');
});

test('a client that talks before the 220 gets an explained 554 and is closed; nothing is relayed', () => {
  const s = make('implicit');
  s.handle(START);
  const out = s.handle(data('client', 'EHLO early\r\n'));
  assert.match(toClient(out), /^554 5\.5\.1 .*before the greeting.*MS_ERR_CLIENT_PROTOCOL/);
  assert.ok(out.some((c) => c.type === 'close' && c.leg === 'both'));
  assert.ok(!out.some((c) => c.type === 'send' && c.to === 'upstream'));
});

test('pipelined NOOP + STARTTLS: the NOOP reply goes out before the go-ahead; a later plaintext command is dropped', () => {
  const s = make('implicit', 'starttls');
  s.handle(START);
  s.handle(data('upstream', '220 mx ESMTP\r\n'));
  const first = s.handle(data('client', 'NOOP\r\nSTARTTLS\r\n'));
  assert.equal(toClient(first), '');
  assert.ok(!first.some((c) => c.type === 'start-tls'));
  const out = s.handle(data('upstream', '250 2.0.0 Ok\r\n'));
  assert.equal(toClient(out), '250 2.0.0 Ok\r\n220 2.0.0 Ready to start TLS\r\n');
  assert.deepEqual(
    out.filter((c) => c.type === 'start-tls'),
    [{ type: 'start-tls', leg: 'client' }],
  );
  const late = s.handle(data('client', 'MAIL FROM:<evil@x>\r\n'));
  assert.ok(late.some((c) => c.type === 'log' && c.fields?.['code'] === 'MS_ERR_CLIENT_STARTTLS_INJECTION'));
  assert.ok(!late.some((c) => c.type === 'send'));
});
