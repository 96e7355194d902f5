import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionCommand } from './session.js';
import { ClientStartTlsGuard } from './starttls-guard.js';

const HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00]);

test('bytes held while waiting: a ClientHello split over reads is handed to TLS whole, after the go-ahead', () => {
  const g = new ClientStartTlsGuard(1000);
  const out: SessionCommand[] = [];
  g.begin(HELLO.subarray(0, 3));
  assert.equal(g.active, true);
  assert.equal(g.push(HELLO.subarray(3), out), true);
  assert.equal(out.length, 0);
  g.goAhead('OK go\r\n', out);
  assert.equal(out[0]?.type === 'send' && out[0].data.toString(), 'OK go\r\n');
  assert.deepEqual(out[1], { type: 'start-tls', leg: 'client', pending: HELLO });
  assert.equal(out.length, 2);
  assert.equal(g.state, 'handshaking');
  g.tlsReady();
  assert.equal(g.active, false);
});

test('plaintext after STARTTLS is dropped with MS_ERR_CLIENT_STARTTLS_INJECTION, logged once', () => {
  const g = new ClientStartTlsGuard(1000);
  const out: SessionCommand[] = [];
  g.begin(Buffer.from('a LOGIN me secret\r\n'));
  g.goAhead('OK\r\n', out);
  g.push(Buffer.from('more'), out);
  assert.deepEqual(out[1], { type: 'start-tls', leg: 'client' });
  const logs = out.filter((c) => c.type === 'log');
  assert.equal(logs.length, 1);
  assert.ok(logs[0]?.type === 'log' && logs[0].fields?.['code'] === 'MS_ERR_CLIENT_STARTTLS_INJECTION');
  assert.ok(!JSON.stringify(out).includes('secret'), 'the injected bytes are never logged');
});

test('the held bytes are bounded; goAhead only acts while waiting', () => {
  const g = new ClientStartTlsGuard(10);
  const out: SessionCommand[] = [];
  g.goAhead('OK\r\n', out);
  assert.deepEqual(out, [], 'no STARTTLS in progress');
  g.begin(Buffer.alloc(6));
  assert.equal(g.push(Buffer.alloc(4), out), true);
  assert.equal(g.push(Buffer.alloc(1), out), false);
});
