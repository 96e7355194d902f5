import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerCapabilities } from './capabilities.js';
import { UpstreamSetup, type SetupStep } from './upstream-setup.js';

function setup(starttls: boolean): { s: UpstreamSetup; caps: ServerCapabilities } {
  let n = 0;
  const caps = new ServerCapabilities();
  return { s: new UpstreamSetup(starttls, caps, () => `t${++n}`), caps };
}

test('implicit TLS: the greeting is relayed as it is, for rewriting', () => {
  const { s } = setup(false);
  const greeting = '* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n';
  assert.deepEqual(s.unit(greeting), { kind: 'done', greeting: Buffer.from(greeting), rewrite: true });
});

test('STARTTLS: CAPABILITY, STARTTLS, TLS, CAPABILITY again; only the post-TLS list reaches the client', () => {
  const { s, caps } = setup(true);
  const steps: SetupStep[] = [
    s.unit('* OK Dovecot ready.\r\n'),
    s.unit('* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED FROM-ATTACKER\r\n'),
    s.unit('t1 OK done\r\n'),
    s.unit('t2 OK Begin TLS\r\n'),
  ];
  assert.deepEqual(steps, [
    { kind: 'send', line: 't1 CAPABILITY\r\n' },
    { kind: 'wait' },
    { kind: 'send', line: 't2 STARTTLS\r\n' },
    { kind: 'start-tls' },
  ]);
  assert.equal(s.waitingFor, 'TLS handshake');
  assert.deepEqual(s.tlsReady(), { kind: 'send', line: 't3 CAPABILITY\r\n' });
  assert.equal(caps.size, 0, 'what was learned before TLS is forgotten');
  assert.deepEqual(s.unit('* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n'), { kind: 'wait' });
  assert.deepEqual(s.unit('t3 OK done\r\n'), {
    kind: 'done',
    greeting: Buffer.from('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.\r\n'),
    rewrite: true,
  });
  assert.equal(caps.has('auth=plain'), true);
});

test('STARTTLS: PREAUTH, a missing STARTTLS and a refused one fail; BYE is refused', () => {
  const code = (st: SetupStep) => (st.kind === 'fail' ? st.error.code : st.kind);
  assert.equal(code(setup(true).s.unit('* PREAUTH hi\r\n')), 'MS_ERR_UPSTREAM_PREAUTH_DOWNGRADE');
  assert.equal(code(setup(true).s.unit('* OK [CAPABILITY IMAP4rev1] hi\r\n')), 'MS_ERR_UPSTREAM_STARTTLS_MISSING');
  const { s } = setup(true);
  s.unit('* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n');
  assert.equal(code(s.unit('t1 NO not now\r\n')), 'MS_ERR_UPSTREAM_STARTTLS_REFUSED');
  assert.equal(code(setup(true).s.unit('* BYE too busy\r\n')), 'refused');
  assert.equal(code(setup(false).s.unit('220 smtp.example ESMTP\r\n')), 'MS_ERR_UPSTREAM_PROTOCOL');
});
