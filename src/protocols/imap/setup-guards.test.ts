// IMAP playbooks for the shared setup/greeting/STARTTLS mechanisms (src/core/upstream-setup.ts,
// src/core/starttls-guard.ts): the setup timer, the go-ahead's place in the output, and client input before the
// greeting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SETUP_TIMER } from '../../core/upstream-setup.js';
import { play, playSplit, type Step } from './playbook.js';

const start: Step = { event: { type: 'start', upstreamFacts: null } };
const timer: Step = { event: { type: 'timer', name: SETUP_TIMER } };

test('a server that completes TLS and never greets: BYE [ALERT] with MS_ERR_UPSTREAM_GREETING_TIMEOUT, then close', () => {
  const sim = play([start, { expect: (s) => assert.ok(s.timers.has(SETUP_TIMER)) }, timer]);
  const bye = sim.take('client');
  assert.match(
    bye,
    /^\* BYE \[ALERT\] mailshield: .*did not send its greeting.*MS_ERR_UPSTREAM_GREETING_TIMEOUT\)\r\n$/,
  );
  assert.equal(sim.closed, 'both');
});

test('the setup timer covers CAPABILITY and STARTTLS too, and is cleared once the client is greeted', () => {
  const stuck = play([start, { up: '* OK ready\r\n' }, { expectUp: 'ms1.c1 CAPABILITY\r\n' }], {
    upstreamTls: 'starttls',
  });
  stuck.feed({ type: 'timer', name: SETUP_TIMER });
  assert.match(stuck.take('client'), /did not send its reply to CAPABILITY .*MS_ERR_UPSTREAM_GREETING_TIMEOUT/);
  assert.equal(stuck.closed, 'both');

  const ok = play([start, { up: '* OK [CAPABILITY IMAP4rev1] ready\r\n' }]);
  assert.equal(ok.timers.has(SETUP_TIMER), false);
  // A late timer event (already queued by the driver) changes nothing.
  ok.feed({ type: 'timer', name: SETUP_TIMER });
  assert.equal(ok.closed, null);
  assert.equal(ok.take('client'), '* OK [CAPABILITY IMAP4rev1] ready\r\n');
});

test('pipelined `a NOOP` + `b STARTTLS`: a OK reaches the client before the go-ahead', () => {
  playSplit(
    [
      start,
      { up: '* OK ready\r\n' },
      { expectClient: '* OK ready\r\n' },
      { client: 'a NOOP\r\nb STARTTLS\r\n' },
      { expectUp: 'a NOOP\r\n' },
      { expectClient: '' },
      {
        expect: (s) =>
          assert.equal(
            s.commands.some((c) => c.type === 'start-tls'),
            false,
          ),
      },
      { up: '* 3 EXISTS\r\na OK NOOP completed\r\n' },
      { expectClient: '* 3 EXISTS\r\na OK NOOP completed\r\nb OK Begin TLS negotiation now\r\n' },
      {
        expect: (s) => {
          const last = s.commands.filter((c) => c.type === 'send' || c.type === 'start-tls').at(-1);
          assert.deepEqual(last, { type: 'start-tls', leg: 'client' }, 'the handshake follows the go-ahead directly');
        },
      },
    ],
    { clientTls: 'starttls' },
  );
});

test('a ClientHello that arrives while the go-ahead waits is handed to TLS, plaintext is dropped', () => {
  const hello = '\x16\x03\x01\x00\x05hello';
  const sim = play(
    [
      start,
      { up: '* OK ready\r\n' },
      { client: 'a NOOP\r\nb STARTTLS\r\n' },
      { client: hello },
      { up: 'a OK done\r\n' },
    ],
    { clientTls: 'starttls' },
  );
  const st = sim.commands.find((c) => c.type === 'start-tls');
  assert.ok(st?.type === 'start-tls');
  assert.equal(st.pending?.toString('latin1'), hello);

  const inj = play(
    [
      start,
      { up: '* OK ready\r\n' },
      { client: 'a NOOP\r\nb STARTTLS\r\n' },
      { client: 'c LOGIN me secret\r\n' },
      { up: 'a OK done\r\n' },
    ],
    { clientTls: 'starttls' },
  );
  assert.equal(inj.take('upstream'), 'a NOOP\r\n', 'the injected command never reaches the server');
  assert.ok(inj.logs().some((l) => l.includes('MS_ERR_CLIENT_STARTTLS_INJECTION')));
});

test('client bytes before the greeting are bounded: BYE and close, nothing is relayed', () => {
  const sim = play([start, { client: 'a NOOP\r\n'.repeat(100) }], { limits: { maxLineBytes: 128 } });
  assert.match(
    sim.take('client'),
    /^\* BYE mailshield: The client sent more than 512 bytes .*MS_ERR_CLIENT_PROTOCOL\)/,
  );
  assert.equal(sim.closed, 'both');
  assert.equal(sim.take('upstream'), '');

  // A little early input (a client that pipelines its first command) is kept and answered after the greeting.
  const early = play([start, { client: 'a CAPABILITY\r\n' }, { up: '* OK ready\r\n' }]);
  assert.equal(early.take('upstream'), 'a CAPABILITY\r\n');
});
