// The clamd reply reader: whatever a (broken or hostile) clamd answers to INSTREAM, read by the real ClamdEngine over
// a unix socket from a fake clamd. The verdict must not depend on how the reply was split into writes, and every
// error verdict must carry its MS_ERR_ code (the tempfail reply quotes it).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/logger.js';
import { ClamdEngine } from '../../src/io/clamd-engine.js';
import type { Verdict } from '../../src/scan/types.js';
import { check, checkCoded, describe, splitsOf, type Target } from '../target.js';

const BODY = Buffer.from('Subject: x\r\n\r\nhello\r\n');
// What the engine sends: the command, one chunk, the zero-length end.
const REQUEST = 10 + 4 + BODY.length + 4;

const dir = mkdtempSync(join(tmpdir(), 'mailshield-fuzz-clamd-'));
const path = join(dir, 'clamd.sock');
let reply: Buffer[] = [];
let server: Server | null = null;
const open = new Set<Socket>();

function start(): Promise<void> {
  server = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    let got = 0;
    const chunks = reply;
    s.on('data', async (d: Buffer) => {
      got += d.length;
      if (got < REQUEST) return;
      for (const c of chunks) {
        if (s.destroyed) return;
        s.write(c);
        // Give each write its own turn of the loop so the client is likely to read them apart.
        await new Promise((r) => setImmediate(r));
      }
      s.end();
    });
    s.on('error', () => undefined);
  });
  return new Promise((resolve) => server!.listen(path, resolve));
}

const engine = new ClamdEngine({
  address: `unix:${path}`,
  timeoutMs: 3000,
  streamMaxLength: 1_000_000,
  poolSize: 2,
  log: silentLogger,
});

async function verdictFor(chunks: Buffer[]): Promise<Verdict> {
  reply = chunks;
  return engine.scan({ source: { bytes: BODY }, size: BODY.length });
}

const target: Target = {
  name: 'clamd-reply',
  focus: ['src/scan/clamd.ts', 'src/io/clamd-connection.ts'],
  maxLen: 512,
  tokens: [
    'stream: OK\0',
    'stream: ',
    ' FOUND\0',
    ' ERROR\0',
    'OK',
    'Eicar-Test-Signature',
    'INSTREAM size limit exceeded. ERROR\0',
    '\0',
    '\n',
    'UNKNOWN COMMAND\n',
  ],
  async run(input) {
    if (!server) await start();
    const whole = await verdictFor([input]);
    check(['clean', 'infected', 'error'].includes(whole.kind), `unexpected verdict ${whole.kind}`);
    if (whole.kind === 'error') checkCoded(new Error(whole.reason), 'clamd error verdict');
    if (whole.kind === 'infected')
      check(whole.signature.length > 0 && !/[\r\n\0]/.test(whole.signature), 'unsafe signature name');
    for (const split of splitsOf(input).slice(1, 3)) {
      const v = await verdictFor(split);
      check(
        describe([v]) === describe([whole]),
        `split reply gives ${describe([v])}, whole gives ${describe([whole])}`,
      );
    }
  },
  async close() {
    await engine.close();
    for (const s of open) s.destroy();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    rmSync(dir, { recursive: true, force: true });
  },
};
export default target;
