import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShieldError } from '../../core/errors.js';
import { appendRefusal, nonSyncLiteral, type AppendMessage } from './append.js';
import { ServerCapabilities } from './capabilities.js';
import { Ordered } from './ordered.js';

const caps = (...list: string[]) => {
  const c = new ServerCapabilities();
  c.set(list);
  return c;
};

test('LITERAL+ sends any literal without waiting; LITERAL- only up to 4096 bytes', () => {
  assert.equal(nonSyncLiteral(caps('IMAP4rev1', 'literal+'), 10_000_000), true);
  assert.equal(nonSyncLiteral(caps('LITERAL-'), 4096), true);
  assert.equal(nonSyncLiteral(caps('LITERAL-'), 4097), false);
  assert.equal(nonSyncLiteral(caps('IMAP4rev1'), 1), false);
});

test('an APPEND message is refused unless released; a failed capture says why', () => {
  const o = new Ordered();
  const g = o.open();
  const msg = (over: Partial<AppendMessage>): AppendMessage => ({
    id: 1,
    size: 10,
    binary: false,
    marker: o.slot(g, true),
    gate: o.slot(g, false),
    data: o.slot(g, true),
    result: null,
    failed: null,
    ...over,
  });
  assert.equal(appendRefusal(msg({ result: { action: 'release', verdict: { kind: 'clean' } } })), null);
  const infected = appendRefusal(
    msg({
      result: {
        action: 'replace',
        verdict: { kind: 'infected', engine: 'clamd', signature: 'Eicar-Test-Signature', part: '1' },
        notice: Buffer.from('n'),
        quarantineId: 'q-9',
      },
    }),
  );
  assert.equal(infected?.code, 'ALERT');
  assert.match(infected?.text ?? '', /not saved: it contains Eicar-Test-Signature \(clamd\).*quarantine as q-9/);
  const tooBig = appendRefusal(msg({ failed: new ShieldError('MS_ERR_CLIENT_LITERAL_TOO_LARGE', 'too large') }));
  assert.equal(tooBig?.logText, 'MS_ERR_CLIENT_LITERAL_TOO_LARGE');
});
