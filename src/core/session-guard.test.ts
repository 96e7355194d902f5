import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, type AccountConfig } from './config.js';
import { CaptureRegistry } from './capture-registry.js';
import { DEFAULT_LIMITS } from './limits.js';
import { send, type Session, type SessionCommand, type SessionEvent } from './session.js';
import { GuardedSession } from './session-guard.js';
import { createSessionFor } from '../protocols/index.js';

const START: SessionEvent = { type: 'start', upstreamFacts: null };
const kinds = (cmds: SessionCommand[]) =>
  cmds.map((c) => (c.type === 'capture-discard' || c.type === 'capture-start' ? `${c.type}#${c.id}` : c.type));

test('capture registry: each capture is discarded exactly once; close both sweeps what is left', () => {
  const r = new CaptureRegistry();
  const out = r.filter([
    { type: 'capture-start', id: 1, direction: 'incoming' },
    { type: 'capture-start', id: 2, direction: 'incoming' },
    { type: 'capture-discard', id: 1 },
    { type: 'capture-discard', id: 1 },
    { type: 'capture-discard', id: 7 },
  ]);
  assert.deepEqual(kinds(out), ['capture-start#1', 'capture-start#2', 'capture-discard#1']);
  assert.equal(r.size, 1);
  assert.deepEqual(kinds(r.filter([{ type: 'close', leg: 'client' }])), ['close'], 'one leg closing keeps captures');
  assert.deepEqual(
    kinds(
      r.filter([
        { type: 'close', leg: 'both' },
        { type: 'capture-discard', id: 2 },
      ]),
    ),
    ['capture-discard#2', 'close'],
  );
  assert.deepEqual(r.discardAll(), []);
});

/** A session that throws on command. */
class Fragile implements Session {
  throwOn: SessionEvent['type'] | null = null;
  handle(event: SessionEvent): SessionCommand[] {
    if (event.type === this.throwOn) throw new TypeError('boom');
    if (event.type === 'start') return [{ type: 'capture-start', id: 3, direction: 'incoming' }];
    return [send('client', 'fine\r\n')];
  }
  internalErrorReply(): string {
    return 'SORRY\r\n';
  }
}

test('guard: a throwing session answers the client in its words with MS_ERR_INTERNAL, discards, closes, goes quiet', () => {
  const inner = new Fragile();
  const g = new GuardedSession(inner, 'test');
  g.handle(START);
  inner.throwOn = 'data';
  const out = g.handle({ type: 'data', from: 'client', data: Buffer.from('x') });
  assert.deepEqual(kinds(out), ['log', 'send', 'capture-discard#3', 'close']);
  const [logCmd, reply] = out;
  assert.ok(logCmd?.type === 'log' && logCmd.level === 'error' && logCmd.fields?.['code'] === 'MS_ERR_INTERNAL');
  assert.match(String(logCmd.fields?.['error']), /boom/);
  assert.ok(reply?.type === 'send' && reply.to === 'client' && reply.data.toString() === 'SORRY\r\n');
  assert.equal(g.failed, true);
  assert.deepEqual(g.handle({ type: 'closed', leg: 'client' }), [], 'a failed session is never fed again');
  assert.deepEqual(g.fail(new Error('again'), 'driver'), [], 'failing twice answers once');
  assert.deepEqual(g.end(), []);
});

test('guard: a driver error is answered the same way; end() sweeps captures when the driver closes on its own', () => {
  const g = new GuardedSession(new Fragile(), 'test');
  g.handle(START);
  assert.deepEqual(kinds(g.end()), ['capture-discard#3']);
  const g2 = new GuardedSession(new Fragile(), 'test');
  assert.deepEqual(kinds(g2.fail(new Error('spool exploded'), 'driver')), ['log', 'send', 'close']);
});

function account(protocol: AccountConfig['protocol']): AccountConfig {
  return {
    name: 'a',
    protocol,
    listen: '127.0.0.1:1',
    clientTls: 'implicit',
    upstream: 'mail.test:1',
    upstreamTls: 'implicit',
  };
}

test('each protocol words the internal error in its own protocol, through the one guard', () => {
  const want: Record<AccountConfig['protocol'], RegExp> = {
    pop3: /^-ERR \[SYS\/TEMP\] mailshield: .*MS_ERR_INTERNAL\)\r\n$/,
    imap: /^\* BYE \[UNAVAILABLE\] mailshield: .*MS_ERR_INTERNAL\)\r\n$/,
    smtp: /^421 4\.3\.0 .*MS_ERR_INTERNAL\)\r\n$/,
  };
  for (const protocol of ['pop3', 'imap', 'smtp'] as const) {
    const inner = createSessionFor(protocol, {
      connId: 'c',
      account: account(protocol),
      config: defaultConfig(),
      limits: DEFAULT_LIMITS,
      clientSecure: true,
    });
    const g = new GuardedSession(inner, protocol);
    g.handle(START);
    // A real session, made to throw by an event no driver would send (data that is not a Buffer).
    const out = g.handle({ type: 'data', from: 'upstream', data: null as unknown as Buffer });
    const reply = out.find((c) => c.type === 'send');
    assert.ok(reply?.type === 'send', `${protocol}: the client is answered`);
    assert.match(reply.data.toString('latin1'), want[protocol], protocol);
    assert.ok(
      out.some((c) => c.type === 'close' && c.leg === 'both'),
      `${protocol}: closed`,
    );
  }
});
