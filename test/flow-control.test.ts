// Flow control over real sockets: a client that stops reading while its server streams a large answer. The shield
// must stop reading the server (the kernel's window then stops the server), keep what it holds near its high-water
// mark instead of buffering the whole answer, and resume once the client reads again, losing nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { validateConfig } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import type { FlowEvent } from '../src/io/connection.js';
import { OUT_HIGH_WATER } from '../src/io/out-queue.js';
import { testPki } from './fixtures/pki.js';
import { startTestShield } from './fixtures/shield.js';
import { freePort, tmpDir } from './fixtures/util.js';

const LINE = `1 ${'x'.repeat(1022)}\r\n`; // 1 KiB
const LINES = 48 * 1024; // 48 MiB of LIST body: far more than loopback's socket buffers hold
const TOTAL = LINE.length * LINES;

interface Upstream {
  port: number;
  written: () => number;
  /** Resolves when the server's writes wait for the shield to read (now, or the next time they do). */
  blocked: () => Promise<number>;
  close: () => void;
}

async function bigListServer(): Promise<Upstream> {
  const pki = testPki();
  let written = 0;
  let waiting = false;
  let onBlock: ((n: number) => void) | null = null;
  const server = tls.createServer({ key: readFileSync(pki.key.rsa), cert: readFileSync(pki.crt.rsa) }, (s) => {
    s.on('error', () => undefined);
    s.write('+OK ready\r\n');
    s.once('data', () => {
      void (async () => {
        s.write('+OK big list\r\n');
        const chunk = Buffer.from(LINE.repeat(64));
        for (let i = 0; i < LINES / 64 && !s.destroyed; i++) {
          written += chunk.length;
          if (!s.write(chunk)) {
            waiting = true;
            onBlock?.(written);
            onBlock = null;
            await once(s, 'drain');
            waiting = false;
          }
        }
        s.write('.\r\n');
      })();
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    written: () => written,
    blocked: () => (waiting ? Promise.resolve(written) : new Promise((r) => (onBlock = r))),
    close: () => server.close(),
  };
}

test(
  'a client that does not read: the shield pauses the upstream, its queue stays bounded, nothing is lost',
  { timeout: 120_000 },
  async () => {
    const up = await bigListServer();
    const config = validateConfig(
      {
        dataDir: tmpDir(),
        accounts: [
          {
            name: 'p',
            protocol: 'pop3',
            listen: '127.0.0.1:0',
            clientTls: 'none',
            upstream: `127.0.0.1:${up.port}`,
            upstreamServername: 'mail.test',
            upstreamTls: 'implicit',
            upstreamCa: testPki().caCert,
          },
        ],
        shutdownTimeoutMs: 1000,
      },
      'flow',
    );
    const sh = await startTestShield(config, silentLogger);
    const events: FlowEvent[] = [];
    let waiter: { match: (e: FlowEvent) => boolean; resolve: (e: FlowEvent) => void } | null = null;
    const onFlow = (m: unknown) => {
      const e = m as FlowEvent;
      events.push(e);
      if (waiter?.match(e)) {
        waiter.resolve(e);
        waiter = null;
      }
    };
    const next = (match: (e: FlowEvent) => boolean) =>
      new Promise<FlowEvent>((resolve) => (waiter = { match, resolve }));
    diagnostics.subscribe('mailshield:flow', onFlow);
    const client = net.connect(sh.listeners[0]!.port, '127.0.0.1');
    try {
      await once(client, 'connect');
      const [greeting] = (await once(client, 'data')) as [Buffer];
      assert.match(greeting.toString(), /^\+OK ready/);
      // Stop reading at once: everything after the greeting piles up in the shield unless it holds the server back.
      client.pause();
      const paused = next((e) => e.leg === 'upstream' && e.reasons.includes('peer-queue'));
      client.write('LIST\r\n');
      const ev = await paused;
      assert.ok(ev.queued.client > OUT_HIGH_WATER, 'paused because the client queue passed the high-water mark');

      // The server now cannot write: the shield does not read it any more. Check the shield's state at that moment.
      const blockedAt = await up.blocked();
      const state = ev.current();
      assert.deepEqual(state.held.upstream, ['peer-queue'], 'the upstream leg is still held');
      assert.ok(
        state.queued.client < 2 * OUT_HIGH_WATER,
        `the client queue stays near the high-water mark: ${state.queued.client} bytes`,
      );
      assert.ok(blockedAt < TOTAL, `the server was stopped after ${blockedAt} of ${TOTAL} bytes`);

      // The client reads again: the shield resumes below the low-water mark and every byte arrives.
      const released = next((e) => e.leg === 'upstream' && e.reasons.length === 0);
      let got = greeting.length;
      const want = greeting.length + '+OK big list\r\n'.length + TOTAL + 3;
      const all = new Promise<void>((resolve) => {
        client.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= want) resolve();
        });
      });
      client.resume();
      await released;
      await all;
      assert.equal(got, want);
      assert.equal(up.written(), TOTAL);
    } finally {
      diagnostics.unsubscribe('mailshield:flow', onFlow);
      client.destroy();
      await sh.stop();
      up.close();
    }
  },
);
