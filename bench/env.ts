// The world one run measures: real Dovecot (POP3/IMAP) and Postfix (SMTP) as upstreams, the shield twice (scanning
// on, scanning off), stunnel and mitmproxy in front of the same upstreams, and the client trust for each. Every leg
// is implicit TLS, because mitmproxy cannot do STARTTLS and the rows should compare like with like.
import { readFileSync } from 'node:fs';
import { startDovecot, type Dovecot } from '../test/fixtures/dovecot.js';
import { testPki } from '../test/fixtures/pki.js';
import { startPostfix, type PostfixServer } from '../test/fixtures/postfix.js';
import { mimeMessage } from './messages.js';
import type { Plan } from './plan.js';
import {
  startFakeImap,
  startMitm,
  startShieldProc,
  startStunnel,
  type Bridge,
  type FakeImapProc,
  type ShieldProc,
} from './procs.js';
import type { Skip } from './stats.js';
import type { TlsTarget } from './wire.js';

export const TARGETS = ['direct', 'shield', 'shield-noscan', 'stunnel', 'mitmproxy'] as const;
export type Target = (typeof TARGETS)[number];
/** `fake`: the minimal in-process-style IMAP server (bench/fake-imap.ts), for set-up and idle sessions. */
export type Proto = 'pop3' | 'imap' | 'smtp' | 'fake';

export const PASS = 'bench-Secret1';
/** Mailboxes: w1 (many ~50 KB messages), w2 (one large), w3p (one for partial fetches), w8 (one very large). */
export const USERS = ['w1', 'w2', 'w3p', 'w8'] as const;

export interface Env {
  plan: Plan;
  dovecot: Dovecot;
  postfix: PostfixServer;
  fake: FakeImapProc;
  shield: ShieldProc;
  /** The scanning shield's config plus policy.candidate (strict on both legs): W5's shadow-judgement row. */
  candidate: ShieldProc;
  noscan: ShieldProc;
  stunnel: Bridge | null;
  mitm: Bridge | null;
  /** Why mitmproxy is absent, when it is. */
  mitmSkip: string | null;
  caPem: string;
  smtpMessage: Buffer;
  target(t: Target, p: Proto): TlsTarget | Skip;
  stop(): Promise<void>;
}

export function shieldAccount(name: string, protocol: Exclude<Proto, 'fake'>, port: number, caCert: string) {
  return {
    name,
    protocol,
    listen: '127.0.0.1:0',
    clientTls: 'implicit',
    upstream: `127.0.0.1:${port}`,
    upstreamTls: 'implicit',
    upstreamServername: 'mail.test',
    upstreamCa: caCert,
  };
}

/**
 * `upstreamVia` (W10) puts something between every path and the real upstreams: it gets the servers' ports once they
 * listen and returns the ports everyone connects to instead (the direct path included).
 */
export async function startEnv(
  plan: Plan,
  log: (s: string) => void,
  upstreamVia?: (ports: {
    pop3: number;
    imap: number;
    smtp: number;
  }) => Promise<{ pop3: number; imap: number; smtp: number }>,
): Promise<Env> {
  const pki = testPki();
  const caPem = readFileSync(pki.caCert, 'utf8');
  log('starting Dovecot and Postfix');
  const [dovecot, postfix, fake] = await Promise.all([
    startDovecot({ users: USERS.map((user) => ({ user, pass: PASS })) }),
    startPostfix(),
    startFakeImap(pki.crt.rsa, pki.key.rsa),
  ]);
  log('filling mailboxes');
  for (let i = 0; i < plan.w1.messages; i++) dovecot.deliver('w1', mimeMessage(plan.w1.size, `w1-${i}`));
  dovecot.deliver('w2', mimeMessage(plan.w2.size, 'w2'));
  dovecot.deliver('w3p', mimeMessage(plan.w3.partialSize, 'w3p'));
  dovecot.deliver('w8', mimeMessage(plan.w8.size, 'w8'));

  const real = { pop3: dovecot.pop3sPort, imap: dovecot.imapsPort, smtp: postfix.smtpsPort };
  const up = upstreamVia ? await upstreamVia(real) : real;
  log('starting the shield (scan on, scan off) and peers');
  const accounts = [
    shieldAccount('pop3', 'pop3', up.pop3, pki.caCert),
    shieldAccount('imap', 'imap', up.imap, pki.caCert),
    shieldAccount('smtp', 'smtp', up.smtp, pki.caCert),
    shieldAccount('fake', 'imap', fake.port, pki.caCert),
  ];
  const [shield, noscan, candidate] = await Promise.all([
    startShieldProc(accounts, { scanOff: false }),
    startShieldProc(accounts, { scanOff: true }),
    startShieldProc(accounts, {
      scanOff: false,
      extra: { policy: { candidate: { client: 'strict', upstream: 'strict' } } },
    }),
  ]);
  const ups = [
    { label: 'pop3', port: up.pop3 },
    { label: 'imap', port: up.imap },
    { label: 'smtp', port: up.smtp },
    { label: 'fake', port: fake.port },
  ];
  const stunnel = await startStunnel(ups, { cert: pki.crt.ec, key: pki.key.ec, caCert: pki.caCert, caPem });
  let mitm: Bridge | null = null;
  let mitmSkip: string | null = null;
  if (!plan.mitmproxy) mitmSkip = 'not run in --quick (heavy peer)';
  else {
    mitm = await startMitm(ups, pki.caCert);
    if (!mitm) mitmSkip = 'mitmdump not installed (apt-get install mitmproxy)';
  }

  const target = (t: Target, p: Proto): TlsTarget | Skip => {
    switch (t) {
      case 'direct': {
        const port = { ...up, fake: fake.port }[p];
        return { port, servername: 'mail.test', ca: caPem };
      }
      case 'shield':
        return { port: shield.port(p), servername: 'localhost', ca: shield.caPem };
      case 'shield-noscan':
        return { port: noscan.port(p), servername: 'localhost', ca: noscan.caPem };
      case 'stunnel':
        return stunnel ? { port: stunnel.ports[p]!, servername: 'mail.test', ca: caPem } : { skip: 'not installed' };
      case 'mitmproxy':
        return mitm ? { port: mitm.ports[p]!, servername: 'localhost', ca: mitm.caPem } : { skip: mitmSkip! };
    }
  };

  return {
    plan,
    dovecot,
    postfix,
    fake,
    shield,
    noscan,
    candidate,
    stunnel,
    mitm,
    mitmSkip,
    caPem,
    smtpMessage: mimeMessage(plan.w4.size, 'w4'),
    target,
    async stop() {
      await Promise.allSettled([
        shield.stop(),
        noscan.stop(),
        candidate.stop(),
        stunnel?.stop(),
        mitm?.stop(),
        dovecot.stop(),
        postfix.stop(),
        fake.stop(),
      ]);
    },
  };
}
