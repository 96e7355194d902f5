import { test } from 'node:test';
import assert from 'node:assert/strict';
import { send } from '../../core/session.js';
import { Ordered } from './ordered.js';

const text = (cmds: ReturnType<Ordered['flush']>) =>
  cmds.map((c) => (c.type === 'send' ? c.data.toString() : `<${c.type}>`)).join('');

test('a held group keeps back everything after it until it resolves', () => {
  const q = new Ordered();
  const g1 = q.open();
  q.push(g1, send('client', 'A'));
  const hold = q.slot(g1, true);
  q.push(g1, send('client', 'C'));
  q.close(g1);
  const g2 = q.open();
  q.push(g2, send('client', 'D'));
  q.close(g2);
  assert.equal(text(q.flush()), '', 'even the part before the slot waits: the output stays at a boundary');
  assert.ok(q.heldAtBoundary);
  q.resolve(hold, [send('client', 'B')]);
  assert.equal(text(q.flush()), 'ABCD');
  assert.ok(q.idle);
});

test('an open group streams; a gate stops it at its position; urgent output never lands inside a group', () => {
  const q = new Ordered();
  const g = q.open();
  q.push(g, send('upstream', 'line{3}\r\n'));
  const gate = q.slot(g, false);
  q.push(g, send('upstream', 'abc'));
  assert.equal(text(q.flush()), 'line{3}\r\n');
  assert.equal(q.waitingGate(), gate);
  q.urgent([send('upstream', 'U1')]);
  q.urgent([send('upstream', 'U2')]);
  assert.equal(text(q.flush()), '', 'urgent output waits for the group being written');
  q.resolve(gate, []);
  q.push(g, send('upstream', '\r\n'));
  q.close(g);
  assert.equal(text(q.flush()), 'abc\r\nU1U2');
});

test('urgent output goes before groups that have not started; dropped groups vanish', () => {
  const q = new Ordered();
  const g = q.open();
  q.push(g, send('client', 'held'));
  const s = q.slot(g, true);
  q.close(g);
  q.urgent([send('client', '+ go\r\n')]);
  assert.equal(text(q.flush()), '+ go\r\n');
  q.drop(g);
  q.resolve(s, [send('client', 'never')]);
  assert.equal(text(q.flush()), '');
  assert.ok(q.idle);
});
