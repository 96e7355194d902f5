import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShieldError } from './errors.js';
import type { SessionCommand } from './session.js';
import { SETUP_TIMER, UpstreamSetupStepper, type SetupDialect, type SetupStep } from './upstream-setup.js';

/** A scripted dialect: each unit is the step to return. */
class Scripted implements SetupDialect<SetupStep> {
  waitingFor = 'greeting';
  afterTls: SetupStep = { kind: 'done', greeting: Buffer.from('hi\r\n'), rewrite: false };
  unit(u: SetupStep): SetupStep {
    if (u.kind === 'start-tls') this.waitingFor = 'TLS handshake';
    return u;
  }
  tlsReady(): SetupStep {
    return this.afterTls;
  }
}

function stepper(buffered = 0) {
  let left = buffered;
  const s = new UpstreamSetupStepper(new Scripted(), 1500, 'mail.test:995', () => {
    const n = left;
    left = 0;
    return n;
  });
  const out: SessionCommand[] = [];
  s.begin(out);
  return { s, out };
}

test('begin arms the timer once; sends and start-tls become commands; done clears the timer', () => {
  const { s, out } = stepper();
  s.begin(out);
  assert.deepEqual(out, [{ type: 'set-timer', name: SETUP_TIMER, ms: 1500 }]);
  out.length = 0;
  assert.deepEqual(s.unit({ kind: 'send', line: 'CAPA\r\n' }, out), { kind: 'pending' });
  assert.deepEqual(s.unit({ kind: 'wait' }, out), { kind: 'pending' });
  assert.deepEqual(s.unit({ kind: 'start-tls' }, out), { kind: 'pending' });
  assert.equal(s.awaitingTls, true);
  assert.equal(s.running, false, 'no units are read between the go-ahead and the handshake');
  assert.deepEqual(s.unit({ kind: 'send', line: 'X\r\n' }, out), { kind: 'pending' }, 'ignored while awaiting TLS');
  const o = s.tlsReady(out);
  assert.equal(o.kind, 'done');
  assert.deepEqual(
    out.map((c) => c.type),
    ['send', 'start-tls', 'clear-timer'],
  );
  assert.equal(s.over, true);
  assert.deepEqual(s.timer(SETUP_TIMER), { kind: 'pending' }, 'a late timer is ignored');
});

test('the timer ends the setup with MS_ERR_UPSTREAM_GREETING_TIMEOUT, naming what was awaited', () => {
  const { s, out } = stepper();
  assert.deepEqual(s.timer('other-timer'), { kind: 'pending' });
  s.unit({ kind: 'start-tls' }, out);
  const o = s.timer(SETUP_TIMER);
  assert.ok(o.kind === 'fail');
  assert.equal(o.error.code, 'MS_ERR_UPSTREAM_GREETING_TIMEOUT');
  assert.match(o.error.message, /mail\.test:995 did not send its TLS handshake within 1\.5 s/);
  assert.match(o.error.message, /limits\.upstreamGreetingTimeoutMs/);
  assert.equal(s.over, true);
});

test('refused and fail end the setup and clear the timer; abandon clears it only while it runs', () => {
  for (const step of [
    { kind: 'refused' },
    { kind: 'fail', error: new ShieldError('MS_ERR_UPSTREAM_PROTOCOL', 'x') },
  ] as SetupStep[]) {
    const { s, out } = stepper();
    out.length = 0;
    assert.equal(s.unit(step, out).kind, step.kind);
    assert.deepEqual(out, [{ type: 'clear-timer', name: SETUP_TIMER }]);
    s.abandon(out);
    assert.equal(out.length, 1, 'nothing more to clear');
  }
  const { s, out } = stepper();
  out.length = 0;
  s.abandon(out);
  assert.deepEqual(out, [{ type: 'clear-timer', name: SETUP_TIMER }]);
});

test('bytes buffered at the go-ahead and bytes arriving before the handshake are logged once as injection', () => {
  const { s, out } = stepper(12);
  out.length = 0;
  s.unit({ kind: 'start-tls' }, out);
  s.injected(5, out);
  const logs = out.filter((c) => c.type === 'log');
  assert.equal(logs.length, 1);
  assert.ok(logs[0]?.type === 'log' && logs[0].fields?.['code'] === 'MS_ERR_UPSTREAM_STARTTLS_INJECTION');
  assert.equal(logs[0].fields?.['bytes'], 12);
  assert.equal(out[0]?.type, 'start-tls');
});
