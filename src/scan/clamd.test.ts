import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClamdAddress, parseClamdReply } from './clamd.js';

test('parseClamdReply: OK, FOUND, ERROR and junk', () => {
  assert.deepEqual(parseClamdReply('stream: OK\0'), { kind: 'ok' });
  assert.deepEqual(parseClamdReply('stream: Win.Test.EICAR_HDB-1 FOUND\0'), {
    kind: 'found',
    signature: 'Win.Test.EICAR_HDB-1',
  });
  assert.deepEqual(parseClamdReply('stream: Name With Spaces FOUND\n'), {
    kind: 'found',
    signature: 'Name With Spaces',
  });
  assert.deepEqual(parseClamdReply('INSTREAM size limit exceeded. ERROR\0'), {
    kind: 'error',
    message: 'INSTREAM size limit exceeded.',
  });
  assert.deepEqual(parseClamdReply("stream: Can't allocate memory ERROR"), {
    kind: 'error',
    message: "stream: Can't allocate memory",
  });
  assert.equal(parseClamdReply('').kind, 'error');
  assert.equal(parseClamdReply('PONG').kind, 'error');
  // Never mistake a partial or odd reply for clean.
  assert.equal(parseClamdReply('stream: OK but not really').kind, 'error');
});

test('parseClamdAddress: unix:, bare path, host:port, [v6]:port', () => {
  assert.deepEqual(parseClamdAddress('unix:/run/clamd.ctl'), { path: '/run/clamd.ctl' });
  assert.deepEqual(parseClamdAddress('/run/clamd.ctl'), { path: '/run/clamd.ctl' });
  assert.deepEqual(parseClamdAddress('127.0.0.1:3310'), { host: '127.0.0.1', port: 3310 });
  assert.deepEqual(parseClamdAddress('[::1]:3310'), { host: '::1', port: 3310 });
  assert.throws(() => parseClamdAddress('localhost'), /scan\.clamd\.address: expected unix:\/path/);
});

test('parseClamdReply: the reply ends at its NUL, whatever follows it in the same read (found by fuzz/targets/clamd-reply)', () => {
  assert.deepEqual(parseClamdReply('stream: Eicar FOUND\0stream: OK\0'), {
    kind: 'found',
    signature: 'Eicar',
  });
  assert.deepEqual(parseClamdReply('stream: OK\0garbage'), { kind: 'ok' });
});
