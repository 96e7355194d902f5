// The first-run demo's upstream servers, on 127.0.0.1 only: the sockets around src/demo's pure pieces.
//   - the demo mail server: POP3 over implicit TLS (modern: TLS 1.2/1.3, ECDSA leaf) and SMTP submission with
//     STARTTLS and AUTH PLAIN/LOGIN, through nodemailer's smtp-server; mail it accepts lands in the demo mailbox;
//   - an ISP-like POP3 server that behaves like the story's ISP: TLS 1.2 at most, an RSA leaf, and a
//     ServerKeyExchange signed with RSA+SHA1 only. It serves the same mailbox.
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import tls from 'node:tls';
import { SMTPServer } from 'smtp-server';
import type { Logger } from '../core/logger.js';
import type { DemoEndpoints, DemoPortSet, Endpoint } from './config.js';
import { DEMO_PASSWORD, DEMO_USER, type DemoMailbox } from './mailbox.js';
import { DEMO_ISP_HOST, DEMO_MAIL_HOST, type DemoCert } from './pki.js';
import { DemoPop3Server } from './pop3-server.js';

const LOOPBACK = '127.0.0.1';

/**
 * The story's ISP, as Node server options: TLS 1.2 at most, ECDHE on P-256, and RSA+SHA1 as the only signature
 * scheme, so the ServerKeyExchange is signed with SHA-1 ("Peer signing digest: SHA1" in openssl s_client).
 * @SECLEVEL=0 because OpenSSL 3 puts SHA-1 handshake signatures below level 1 and would refuse to sign with it.
 */
export const ISP_TLS_OPTIONS = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.2',
  sigalgs: 'RSA+SHA1',
  ecdhCurve: 'prime256v1',
  ciphers: 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:@SECLEVEL=0',
} as const satisfies tls.TlsOptions;

/** The modern demo server: what a well-run mail host offers today. */
const MODERN_TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const satisfies tls.TlsOptions;

/** A message the demo SMTP server accepts at most; the shield's own limit is larger, so its limit is never hit. */
const DEMO_SMTP_MAX_BYTES = 10 * 1024 * 1024;

export interface DemoServers extends DemoEndpoints {
  close(): Promise<void>;
}

export interface DemoServerOptions {
  mailbox: DemoMailbox;
  mail: DemoCert;
  isp: DemoCert;
  /** Preferred ports; a port already taken falls back to one the system picks. */
  ports: DemoPortSet;
  log: Logger;
}

/** Listens on 127.0.0.1:`preferred`, or on a system-chosen port when that one is taken (or is 0). */
export async function listenPreferred(server: Server, preferred: number): Promise<Endpoint> {
  const attempt = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once('error', onError);
      server.listen(port, LOOPBACK, () => {
        server.off('error', onError);
        resolve();
      });
    });
  try {
    await attempt(preferred);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || preferred === 0) throw e;
    await attempt(0);
  }
  const a = server.address() as AddressInfo;
  return { host: a.address, port: a.port };
}

/**
 * A port on 127.0.0.1 for someone else to bind: `preferred` when it is free, otherwise one the system picks.
 * Another program could take it before it is used; the demo accepts that small race for friendly fixed ports.
 */
export async function pickPort(preferred: number): Promise<number> {
  const probe = createTcpServer();
  const { port } = await listenPreferred(probe, preferred);
  await new Promise((r) => probe.close(r));
  return port;
}

function pop3Server(mailbox: DemoMailbox, cert: DemoCert, host: string, options: tls.TlsOptions, log: Logger) {
  const live = new Set<tls.TLSSocket>();
  const server = tls.createServer({ ...options, key: cert.keyPem, cert: cert.certPem }, (sock) => {
    live.add(sock);
    const pop3 = new DemoPop3Server(mailbox, { host, user: DEMO_USER, password: DEMO_PASSWORD });
    sock.write(pop3.greeting());
    sock.on('data', (chunk: Buffer) => {
      const r = pop3.push(chunk);
      if (r.out.length) sock.write(r.out);
      if (r.close) sock.end();
    });
    sock.on('error', (e) => log.debug({ server: host, err: e.message }, 'demo POP3 connection error'));
    sock.on('close', () => {
      pop3.abort();
      live.delete(sock);
    });
  });
  // A failed handshake (a client that does not trust the demo CA, say) is the client's business, not an error here.
  server.on('tlsClientError', (e) => log.debug({ server: host, err: e.message }, 'demo POP3 handshake failed'));
  return { server, live };
}

function smtpServer(mailbox: DemoMailbox, cert: DemoCert, log: Logger): SMTPServer {
  return new SMTPServer({
    name: DEMO_MAIL_HOST,
    banner: 'demo submission server (mailshield)',
    secure: false, // 587 style: plaintext greeting, then STARTTLS; AUTH only after it (allowInsecureAuth stays off)
    key: cert.keyPem,
    cert: cert.certPem,
    minVersion: 'TLSv1.2',
    authMethods: ['PLAIN', 'LOGIN'],
    size: DEMO_SMTP_MAX_BYTES,
    // Never look anything up: the demo must not reach past loopback, not even to a DNS resolver.
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 1000,
    onAuth(auth, _session, cb) {
      if (auth.username === DEMO_USER && auth.password === DEMO_PASSWORD) cb(null, { user: DEMO_USER });
      else cb(new Error(`invalid user name or password (the demo account is ${DEMO_USER}/${DEMO_PASSWORD})`));
    },
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          cb(Object.assign(new Error('message too big for the demo server'), { responseCode: 552 }));
          return;
        }
        const m = mailbox.append(Buffer.concat(parts));
        log.info(
          { uid: m.uid, size: m.bytes.length, from: session.envelope.mailFrom || null },
          'demo server received a message',
        );
        cb(null, `queued as ${m.uid}: it is now in the demo POP3 mailbox`);
      });
    },
  });
}

export async function startDemoServers(o: DemoServerOptions): Promise<DemoServers> {
  const modern = pop3Server(o.mailbox, o.mail, DEMO_MAIL_HOST, MODERN_TLS_OPTIONS, o.log);
  const isp = pop3Server(o.mailbox, o.isp, DEMO_ISP_HOST, ISP_TLS_OPTIONS, o.log);
  const smtp = smtpServer(o.mailbox, o.mail, o.log);
  smtp.on('error', (e) => o.log.debug({ err: e.message }, 'demo SMTP error'));
  const close = async () => {
    for (const s of [...modern.live, ...isp.live]) s.destroy();
    await Promise.all([
      new Promise((r) => modern.server.close(r)),
      new Promise((r) => isp.server.close(r)),
      new Promise<void>((r) => smtp.close(() => r())),
    ]);
  };
  try {
    const pop3 = await listenPreferred(modern.server, o.ports.pop3);
    const ispPop3 = await listenPreferred(isp.server, o.ports.ispPop3);
    // smtp-server's own listen() has no error path before listening, so bind its underlying server the same way.
    const smtpEp = await listenPreferred(smtp.server, o.ports.smtp);
    return { pop3, ispPop3, smtp: smtpEp, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
