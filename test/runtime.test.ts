// The runtime around the sessions: what every connection leaves in the store, what the logs carry (a connection id,
// never credentials), and how SIGTERM-style shutdown treats live sessions. The upstream is a tiny in-process POP3
// server over real TLS, so these tests isolate the driver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { validateConfig } from '../src/core/config.js';
import type { Logger } from '../src/core/logger.js';
import type { ShieldHandle } from '../src/io/server.js';
import { testPki } from './fixtures/pki.js';
import { freePort, tmpDir } from './fixtures/util.js';
import { startTestShield } from './fixtures/shield.js';

const SECRET = 'hunter2-very-secret';

/** A POP3 server that knows USER/PASS/STAT/QUIT, enough to drive a session to its end. */
async function tinyPop3(): Promise<{ port: number; close(): void }> {
  const pki = testPki();
  const server = tls.createServer({ key: readFileSync(pki.key.rsa), cert: readFileSync(pki.crt.rsa) }, (s) => {
    s.write('+OK tiny ready <1.2@mail.test>\r\n');
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'QUIT') s.end('+OK bye\r\n');
        else if (verb === 'STAT') s.write('+OK 0 0\r\n');
        else s.write('+OK\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { port, close: () => server.close() };
}

interface Line {
  level: string;
  bindings: Record<string, unknown>;
  obj: unknown;
  msg?: string;
}

function recordingLogger(lines: Line[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push({ level, bindings, obj, msg });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => recordingLogger(lines, { ...bindings, ...b }),
  };
}

async function shield(upstreamPort: number, log: Logger, extra: Record<string, unknown> = {}): Promise<ShieldHandle> {
  const dataDir = tmpDir('mailshield-runtime-');
  const config = validateConfig(
    {
      dataDir,
      accounts: [
        {
          name: 'tiny',
          protocol: 'pop3',
          listen: '127.0.0.1:0',
          clientTls: 'implicit',
          upstream: `127.0.0.1:${upstreamPort}`,
          upstreamServername: 'mail.test',
          upstreamTls: 'implicit',
          upstreamCa: testPki().caCert,
        },
      ],
      ...extra,
    },
    'runtime.test',
  );
  return startTestShield(config, log);
}

/** A line-at-a-time POP3 client over TLS to the shield. */
async function client(sh: ShieldHandle): Promise<{ say(line: string): Promise<string>; closed: Promise<void> }> {
  const s = tls.connect({ host: '127.0.0.1', port: sh.listeners[0]!.port, ca: sh.ca.certPem, servername: 'localhost' });
  let buf = '';
  let waiter: (() => void) | null = null;
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    waiter?.();
  });
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('error', () => undefined);
  const next = async (): Promise<string> => {
    while (!buf.includes('\r\n')) await new Promise<void>((r) => (waiter = r));
    const i = buf.indexOf('\r\n');
    const line = buf.slice(0, i);
    buf = buf.slice(i + 2);
    return line;
  };
  await next(); // greeting
  return {
    say: async (line) => {
      s.write(line + '\r\n');
      return next();
    },
    closed,
  };
}

test('each connection is recorded: connection, client hello, upstream handshake facts', async () => {
  const up = await tinyPop3();
  const sh = await shield(up.port, recordingLogger([]));
  try {
    const c = await client(sh);
    assert.match(await c.say('STAT'), /^\+OK 0 0/);
    assert.match(await c.say('QUIT'), /^\+OK/);
    await c.closed;
    await new Promise((r) => setTimeout(r, 100));
    const conn = sh.db.prepare('SELECT * FROM connections').get() as Record<string, unknown>;
    assert.equal(conn.account, 'tiny');
    assert.equal(conn.protocol, 'pop3');
    assert.ok(conn.ended_at, 'the connection has an end time');
    assert.ok((conn.bytes_from_upstream as number) > 0);
    const hello = sh.db.prepare('SELECT * FROM client_hellos').get() as Record<string, unknown>;
    assert.equal(hello.accepted, 1);
    assert.equal(hello.sni, 'localhost');
    assert.ok((JSON.parse(hello.versions_json as string) as string[]).includes('TLSv1.3'));
    const hs = sh.db.prepare("SELECT * FROM handshakes WHERE leg = 'upstream'").get() as Record<string, unknown>;
    assert.equal(hs.protocol, 'TLSv1.3');
    assert.equal(hs.verdict, 'ok');
    assert.equal(hs.peer_signature_type, 'RSA-PSS');
    assert.equal(hs.connection_id, conn.id);
  } finally {
    await sh.stop();
    up.close();
  }
});

test('log lines carry the connection id and never a credential', async () => {
  const up = await tinyPop3();
  const lines: Line[] = [];
  const sh = await shield(up.port, recordingLogger(lines));
  try {
    const c = await client(sh);
    await c.say('USER alice');
    await c.say(`PASS ${SECRET}`);
    await c.say('QUIT');
    await c.closed;
    await new Promise((r) => setTimeout(r, 100));
    const perConn = lines.filter((l) => l.bindings.conn);
    assert.ok(perConn.some((l) => l.msg === 'connection opened'));
    assert.ok(perConn.some((l) => l.msg === 'connection closed'));
    assert.ok(!JSON.stringify(lines).includes(SECRET), 'the password never reaches a log line');
  } finally {
    await sh.stop();
    up.close();
  }
});

test('shutdown stops accepting, lets a live session finish, then returns', async () => {
  const up = await tinyPop3();
  const sh = await shield(up.port, recordingLogger([]), { shutdownTimeoutMs: 10_000 });
  try {
    const c = await client(sh);
    const port = sh.listeners[0]!.port;
    let stopped = false;
    const stopping = sh.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 100));
    const refused = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), r(false)));
      s.on('error', () => r(true));
    });
    assert.ok(refused, 'no new connections once shutdown has begun');
    assert.equal(stopped, false, 'stop waits for the live session');
    assert.match(await c.say('STAT'), /^\+OK/, 'the live session still works');
    await c.say('QUIT');
    await stopping;
    assert.equal(sh.connections(), 0);
  } finally {
    up.close();
  }
});

test('shutdown cuts sessions that outlive shutdownTimeoutMs', async () => {
  const up = await tinyPop3();
  const sh = await shield(up.port, recordingLogger([]), { shutdownTimeoutMs: 300 });
  try {
    const c = await client(sh);
    const t0 = Date.now();
    await sh.stop();
    await c.closed;
    assert.ok(Date.now() - t0 < 5000, 'the idle session was cut');
  } finally {
    up.close();
  }
});
