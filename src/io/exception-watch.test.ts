import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../core/logger.js';
import { watchExceptionExpiry } from './exception-watch.js';

test('the daemon warns at start about an exception that lapses within 14 days, with the injected clock', () => {
  const warned: { fields: object; msg: string }[] = [];
  const quiet = () => undefined;
  const log: Logger = {
    debug: quiet,
    info: quiet,
    error: quiet,
    warn: (fields: object | string, msg?: string) => void warned.push({ fields: fields as object, msg: msg ?? '' }),
    child: () => log,
  };
  const ex = [
    { host: 'pop.isp.example', allow: ['sha1-handshake-signature' as const], until: '2026-06-12' },
    { host: 'far.example', allow: ['tls1.0' as const], until: '2026-12-31' },
  ];
  const stop = watchExceptionExpiry(ex, log, () => new Date('2026-06-01T10:00:00Z'));
  stop();
  assert.equal(warned.length, 1);
  assert.match(warned[0]!.msg, /pop\.isp\.example.*expires in 11 days/);
  assert.deepEqual(warned[0]!.fields, {
    exception: { host: 'pop.isp.example', allow: ['sha1-handshake-signature'], until: '2026-06-12' },
    daysLeft: 11,
  });
});
