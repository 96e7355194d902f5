// POP3 playbooks for the shared setup/greeting/STARTTLS mechanisms: the setup timer (src/core/upstream-setup.ts),
// the STLS guard (src/core/starttls-guard.ts) and the bound on client input before the greeting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, type AccountConfig } from '../../core/config.js';
import { DEFAULT_LIMITS } from '../../core/limits.js';
import type { Session, SessionCommand, SessionEvent } from '../../core/session.js';
import { SETUP_TIMER } from '../../core/upstream-setup.js';
import { fromClient as c, fromUpstream as u, playAllSplits, type Step } from './playbook.js';
import { createPop3Session } from './session.js';

const START: SessionEvent = { type: 'start', upstreamFacts: null };
const TIMER: SessionEvent = { type: 'timer', name: SETUP_TIMER };

function make(upstreamTls: AccountConfig['upstreamTls'], clientTls: AccountConfig['clientTls'] = 'implicit') {
  return (): Session =>
    createPop3Session({
      connId: 'c1',
      account: {
        name: 't',
        protocol: 'pop3',
        listen: '127.0.0.1:1995',
        clientTls,
        upstream: 'mail.test:995',
        upstreamTls,
      },
      config: defaultConfig(),
      limits: { ...DEFAULT_LIMITS, maxLineBytes: 100, upstreamGreetingTimeoutMs: 5000 },
      clientSecure: clientTls === 'implicit',
    });
}

const timers = (cmds: SessionCommand[]) =>
  cmds.flatMap((x) => (x.type === 'set-timer' || x.type === 'clear-timer' ? [`${x.type} ${x.name}`] : []));

test('a server that completes TLS and never greets: -ERR [SYS/TEMP] with MS_ERR_UPSTREAM_GREETING_TIMEOUT, close', () => {
  const s = make('implicit')();
  assert.deepEqual(timers(s.handle(START)), [`set-timer ${SETUP_TIMER}`]);
  const out = s.handle(TIMER);
  const sent = out.flatMap((x) => (x.type === 'send' ? [x.data.toString('latin1')] : []));
  assert.equal(sent.length, 1);
  assert.match(
    sent[0]!,
    /^-ERR \[SYS\/TEMP\] .*did not send its greeting within 5 s.*MS_ERR_UPSTREAM_GREETING_TIMEOUT\)\r\n$/,
  );
  assert.ok(out.some((x) => x.type === 'close' && x.leg === 'both'));
});

test('STLS upstream: the timer runs through CAPA and STLS and the handshake, and stops at the client greeting', () => {
  const s = make('starttls')();
  const all: SessionCommand[] = [];
  for (const ev of [START, u('+OK hi\r\n'), u('+OK\r\nSTLS\r\n.\r\n'), u('+OK go\r\n')]) all.push(...s.handle(ev));
  assert.deepEqual(timers(all), [`set-timer ${SETUP_TIMER}`]);
  const stuck = s.handle(TIMER);
  assert.ok(
    stuck.some((x) => x.type === 'send' && /did not send its TLS handshake.*GREETING_TIMEOUT/.test(x.data.toString())),
  );

  const ok = make('starttls')();
  const done: SessionCommand[] = [];
  for (const ev of [START, u('+OK hi\r\n'), u('+OK\r\nSTLS\r\n.\r\n'), u('+OK go\r\n')]) done.push(...ok.handle(ev));
  done.push(...ok.handle({ type: 'tls-ready', leg: 'upstream' }));
  assert.deepEqual(timers(done), [`set-timer ${SETUP_TIMER}`, `clear-timer ${SETUP_TIMER}`]);
  assert.deepEqual(ok.handle(TIMER), [], 'a late timer after the greeting changes nothing');
});

test('client bytes before the greeting are bounded: -ERR and close, nothing relayed', () => {
  const steps: Step[] = [
    { ev: START, expect: [] },
    {
      ev: c('USER x\r\n'.repeat(60)),
      expect: [
        [
          'send',
          'client',
          '-ERR mailshield: more than 400 bytes of commands sent ahead of their replies; closing (MS_ERR_CLIENT_PROTOCOL)\r\n',
        ],
        ['log', 'warn', 'client sent too much ahead of replies'],
        ['close', 'both'],
      ],
    },
  ];
  playAllSplits(make('implicit'), steps);
});

test('STLS pipelined behind CAPA: a ClientHello arriving in a later read is still handed to TLS', () => {
  const s = make('implicit', 'starttls')();
  s.handle(START);
  s.handle(u('+OK hi\r\n'));
  s.handle(c('CAPA\r\nSTLS\r\n'));
  s.handle(c('\x16\x03\x01\x00\x01x'));
  const out = s.handle(u('+OK\r\nUSER\r\n.\r\n'));
  const sent = out.flatMap((x) => (x.type === 'send' ? [x.data.toString('latin1')] : []));
  assert.equal(sent.join(''), '+OK\r\nSTLS\r\n.\r\n+OK Begin TLS negotiation\r\n');
  const st = out.find((x) => x.type === 'start-tls');
  assert.ok(st?.type === 'start-tls' && st.pending?.toString('latin1') === '\x16\x03\x01\x00\x01x');
});
