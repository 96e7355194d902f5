// A failed client handshake after STARTTLS is logged exactly once, at warn, in every protocol (issue 12 item 8): the
// driver reports it (log line and event row); the session must not log it a second time (POP3 did, at error level).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import { validateConfig } from '../src/core/config.js';
import type { Logger } from '../src/core/logger.js';
import type { ShieldHandle } from '../src/io/server.js';
import { testPki } from './fixtures/pki.js';
import { startTestShield } from './fixtures/shield.js';
import { freePort, tmpDir, waitFor } from './fixtures/util.js';

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

function capturingLogger(lines: Line[], bound: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (o: object | string, msg?: string): void =>
      void lines.push(
        typeof o === 'string'
          ? { level, fields: bound, msg: o }
          : { level, fields: { ...bound, ...(o as Record<string, unknown>) }, msg: msg ?? '' },
      );
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => capturingLogger(lines, { ...bound, ...b }),
  };
}

type Protocol = 'pop3' | 'imap' | 'smtp';

/** A TLS mail server that says yes to everything: enough for a session to greet and offer STARTTLS. */
async function fakeUpstream(protocol: Protocol): Promise<{ port: number; close(): void }> {
  const pki = testPki();
  const server = tls.createServer({ key: readFileSync(pki.key.rsa), cert: readFileSync(pki.crt.rsa) }, (s) => {
    s.on('error', () => {});
    s.write(
      protocol === 'pop3'
        ? '+OK fake\r\n'
        : protocol === 'imap'
          ? '* OK [CAPABILITY IMAP4rev1] fake\r\n'
          : '220 fake ESMTP\r\n',
    );
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (protocol === 'pop3') s.write(/^CAPA/i.test(line) ? '+OK\r\nUSER\r\n.\r\n' : '+OK\r\n');
        else if (protocol === 'imap') {
          const tag = line.split(' ')[0];
          if (/ CAPABILITY/i.test(line)) s.write('* CAPABILITY IMAP4rev1\r\n');
          s.write(`${tag} OK done\r\n`);
        } else s.write(/^EHLO/i.test(line) ? '250-fake\r\n250 PIPELINING\r\n' : '250 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** Talks plaintext to the go-ahead, then sends a ClientHello record that does not parse. */
function failedStarttls(port: number, protocol: Protocol): Promise<void> {
  const steps: [RegExp, string][] =
    protocol === 'pop3'
      ? [
          [/^\+OK/, 'STLS\r\n'],
          [/\r\n\+OK[^\r]*\r\n$/, ''],
        ]
      : protocol === 'imap'
        ? [
            [/^\* OK/, 'a STARTTLS\r\n'],
            [/\r\na OK[^\r]*\r\n$/, ''],
          ]
        : [
            [/^220 /, 'EHLO client.test\r\n'],
            [/\r\n250 [^\r]*\r\n$/, 'STARTTLS\r\n'],
            [/\r\n220 [^\r]*\r\n$/, ''],
          ];
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let step = 0;
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      while (step < steps.length && steps[step]![0].test(got)) {
        const [, send] = steps[step++]!;
        if (send) s.write(send);
        if (step === steps.length) s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]));
      }
    });
    s.on('error', () => {});
    s.on('close', () => (step === steps.length ? resolve() : reject(new Error(`closed early; got ${got}`))));
  });
}

describe('a failed client handshake on a STARTTLS listener is logged once', () => {
  const stops: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const s of stops) await s();
  });

  for (const protocol of ['pop3', 'imap', 'smtp'] as const) {
    test(protocol, async () => {
      const up = await fakeUpstream(protocol);
      stops.push(up.close);
      const port = await freePort();
      const lines: Line[] = [];
      const config = validateConfig(
        {
          dataDir: tmpDir('mailshield-stls-log-'),
          accounts: [
            {
              name: `${protocol}-stls`,
              protocol,
              listen: `127.0.0.1:${port}`,
              clientTls: 'starttls',
              upstream: `127.0.0.1:${up.port}`,
              upstreamTls: 'implicit',
              upstreamServername: 'mail.test',
              upstreamCa: testPki().caCert,
            },
          ],
        },
        'starttls-failure-log.test',
      );
      const shield: ShieldHandle = await startTestShield(config, capturingLogger(lines));
      stops.push(() => shield.stop());
      await failedStarttls(port, protocol);
      await waitFor(() => lines.some((l) => l.msg === 'connection closed'), 'the connection to close');
      const about = lines.filter(
        (l) =>
          (typeof l.fields.code === 'string' && l.fields.code.startsWith('MS_ERR_CLIENT')) ||
          /TLS (handshake )?failed/i.test(l.msg),
      );
      assert.equal(about.length, 1, JSON.stringify(about, null, 1));
      assert.equal(about[0]!.level, 'warn');
      assert.equal(about[0]!.fields.code, 'MS_ERR_CLIENT_TLS_HANDSHAKE');
      assert.match(about[0]!.msg, /malformed ClientHello/);
      assert.ok(!lines.some((l) => l.level === 'error'), JSON.stringify(lines.filter((l) => l.level === 'error')));
    });
  }
});
