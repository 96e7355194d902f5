// Overlap across messages (issue 15), through real sockets: mailshield in front of a real Dovecot, with a scanner
// that gives no verdict at all until every message of a pipelined POP3 RETR series or an IMAP FETCH 1:N has been
// captured, and then gives them last message first. Without overlap the shield would wait for message 1's verdict
// before reading message 2, and this test would never finish; with it, the client must still get the messages in
// the server's order, byte for byte.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../src/core/config.js';
import type { CapturedMessage, ScanAction, Scanner } from '../src/core/scan-contract.js';
import type { ShieldHandle } from '../src/io/server.js';
import { maildirFiles, startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { testPki } from './fixtures/pki.js';
import { startTestShield } from './fixtures/shield.js';
import { freePort, needs, tmpDir } from './fixtures/util.js';

const requirements = needs('dovecot', 'openssl');
const USER = 'olga';
const PASS = 'overlap-Secret';
const N = 3;

/** Messages of some tens of KB with dot lines, so each crosses many reads and POP3 stuffing is exercised. */
const MESSAGES = Array.from({ length: N }, (_, i) => {
  const lines = [`Subject: overlap ${i + 1}`, `Message-ID: <overlap-${i + 1}@mail.test>`, ''];
  for (let k = 0; k < 400 * (N - i); k++)
    lines.push(k % 9 === 0 ? `.dot ${i + 1}.${k}` : `line ${k} ${'z'.repeat(60)}`);
  return lines.join('\r\n') + '\r\n';
});

const CLEAN: ScanAction = { action: 'release', verdict: { kind: 'clean' } };

/**
 * Holds every verdict until `expected` messages have been handed to it, then releases them in reverse order. That
 * the last one arrives at all while the others are held is the overlap: each scan starts at its capture's end.
 */
class HoldingScanner implements Scanner {
  constructor(private readonly judge: (bytes: Buffer) => ScanAction = () => CLEAN) {}
  private held: (() => void)[] = [];
  private expected = 0;
  /** The bytes of each message as captured, in the order the shield read them from the server. */
  captured: Buffer[] = [];
  /** How many verdicts were still withheld when the last capture of the round arrived. */
  heldAtLast = -1;

  arm(expected: number): void {
    this.expected = expected;
    this.held = [];
    this.captured = [];
    this.heldAtLast = -1;
  }

  scan(msg: CapturedMessage): Promise<ScanAction> {
    const bytes = msg.bytes ?? readFileSync(msg.path!);
    this.captured.push(bytes);
    return new Promise((resolve) => {
      this.held.push(() => resolve(this.judge(bytes)));
      if (this.held.length < this.expected) return;
      this.heldAtLast = this.held.length - 1;
      // Last first: scan-done events reach the session in the reverse of the server's order.
      for (const release of this.held.reverse()) release();
      this.held = [];
    });
  }
}

/** A plain client socket that collects what it reads and waits for a pattern in it (an event, never a delay). */
class Client {
  private text = '';
  private wake: (() => void) | null = null;
  private closed = false;
  readonly sock: net.Socket;

  constructor(port: number) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake?.();
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    this.sock.on('error', () => undefined);
  }

  /** Waits until the unread text matches `re` (anchored at its start), consumes and returns the match. */
  async read(re: RegExp, what: string): Promise<RegExpExecArray> {
    for (;;) {
      const m = re.exec(this.text);
      if (m && m.index === 0) {
        this.text = this.text.slice(m[0].length);
        return m;
      }
      if (this.closed) throw new Error(`connection closed waiting for ${what}; got ${this.text.slice(0, 300)}`);
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Waits for `n` more bytes (an IMAP literal) and consumes them. */
  async bytes(n: number, what: string): Promise<string> {
    while (this.text.length < n) {
      if (this.closed) throw new Error(`connection closed waiting for ${what}`);
      await new Promise<void>((r) => (this.wake = r));
    }
    const out = this.text.slice(0, n);
    this.text = this.text.slice(n);
    return out;
  }

  send(s: string): void {
    this.sock.write(s);
  }
}

const unstuff = (body: string) => body.replace(/^\./gm, '');

describe('overlap across messages through the shield against Dovecot', { skip: requirements.skip }, () => {
  let dovecot: Dovecot;
  let shield: ShieldHandle;
  const scanner = new HoldingScanner();
  const ports = { pop3: 0, imap: 0 };

  before(async () => {
    const pki = testPki();
    dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
    for (const m of MESSAGES) dovecot.deliver(USER, m);
    ports.pop3 = await freePort();
    ports.imap = await freePort();
    const account = (protocol: 'pop3' | 'imap', port: number, upstreamPort: number) => ({
      name: `overlap-${protocol}`,
      protocol,
      listen: `127.0.0.1:${port}`,
      clientTls: 'none',
      upstream: `127.0.0.1:${upstreamPort}`,
      upstreamTls: 'implicit',
      upstreamServername: 'mail.test',
      upstreamCa: pki.caCert,
    });
    const config = validateConfig(
      {
        dataDir: tmpDir('mailshield-overlap-'),
        accounts: [account('pop3', ports.pop3, dovecot.pop3sPort), account('imap', ports.imap, dovecot.imapsPort)],
      },
      'overlap.integration.test',
    );
    shield = await startTestShield(config, undefined, scanner);
  });

  after(async () => {
    await shield?.stop();
    await dovecot?.stop();
  });

  it(
    'POP3: pipelined RETR 1..N are captured while every verdict is held; answers come in order',
    { timeout: 60_000 },
    async () => {
      const c = new Client(ports.pop3);
      await c.read(/\+OK[^\r\n]*\r\n/, 'greeting');
      c.send(`USER ${USER}\r\nPASS ${PASS}\r\n`);
      await c.read(/\+OK[^\r\n]*\r\n\+OK[^\r\n]*\r\n/, 'login');
      scanner.arm(N);
      // All RETRs in one write, as a pipelining client sends them.
      c.send(Array.from({ length: N }, (_, i) => `RETR ${i + 1}\r\n`).join(''));
      const got: string[] = [];
      for (let i = 0; i < N; i++) {
        const m = await c.read(/\+OK[^\r\n]*\r\n([\s\S]*?\r\n)\.\r\n/, `RETR ${i + 1}`);
        got.push(unstuff(m[1]!));
      }
      assert.equal(scanner.heldAtLast, N - 1, 'message N was captured while N-1 verdicts were withheld');
      assert.equal(scanner.captured.length, N);
      // The client's order is the server's order (the order the shield captured in), each message byte-identical.
      assert.deepEqual(
        got,
        scanner.captured.map((b) => b.toString('latin1')),
      );
      assert.deepEqual([...got].sort(), [...MESSAGES].sort());
      c.send('QUIT\r\n');
      await c.read(/\+OK[^\r\n]*\r\n/, 'QUIT');
    },
  );

  it(
    'IMAP: FETCH 1:N BODY.PEEK[] and a pipelined NOOP: captured while verdicts are held, in order',
    { timeout: 60_000 },
    async () => {
      const c = new Client(ports.imap);
      await c.read(/\* OK[^\r\n]*\r\n/, 'greeting');
      c.send(`a LOGIN ${USER} ${PASS}\r\n`);
      await c.read(/(?:\*[^\r\n]*\r\n)*a OK[^\r\n]*\r\n/, 'login');
      c.send('b SELECT INBOX\r\n');
      await c.read(/(?:\*[^\r\n]*\r\n)*b OK[^\r\n]*\r\n/, 'SELECT');
      scanner.arm(N);
      c.send(`c FETCH 1:${N} BODY.PEEK[]\r\nd NOOP\r\n`);
      const got: string[] = [];
      for (let i = 0; i < N; i++) {
        const head = await c.read(/\* (\d+) FETCH \([^{]*BODY\[\] \{(\d+)\}\r\n/, `FETCH response ${i + 1}`);
        assert.equal(Number(head[1]), i + 1, 'responses in sequence order');
        const size = Number(head[2]);
        got.push(await c.bytes(size, `literal ${i + 1}`));
        await c.read(/[^\r\n]*\)\r\n/, `end of FETCH response ${i + 1}`);
      }
      await c.read(/c OK[^\r\n]*\r\n(?:\*[^\r\n]*\r\n)*d OK[^\r\n]*\r\n/, 'tagged OK of FETCH, then NOOP');
      assert.equal(scanner.heldAtLast, N - 1, 'message N was captured while N-1 verdicts were withheld');
      assert.deepEqual(
        got,
        scanner.captured.map((b) => b.toString('latin1')),
      );
      assert.deepEqual([...got].sort(), [...MESSAGES].sort());
      c.send('e LOGOUT\r\n');
      await c.read(/(?:\*[^\r\n]*\r\n)*e OK[^\r\n]*\r\n/, 'LOGOUT');
    },
  );

  it(
    'IMAP: FETCH 1:N BODY[] with verdicts held and given last first: \\Seen stored for each delivered message',
    { timeout: 60_000 },
    async () => {
      const c = new Client(ports.imap);
      await c.read(/\* OK[^\r\n]*\r\n/, 'greeting');
      c.send(`a LOGIN ${USER} ${PASS}\r\nb SELECT INBOX\r\n`);
      await c.read(/(?:\*[^\r\n]*\r\n)*a OK[^\r\n]*\r\n(?:\*[^\r\n]*\r\n)*b OK[^\r\n]*\r\n/, 'login and SELECT');
      // Dovecot's POP3 RETR (the first test) marks mail \Seen: start from unread mail.
      c.send('s STORE 1:* -FLAGS.SILENT (\\Seen)\r\nu FETCH 1:* FLAGS\r\n');
      const before = await c.read(
        /(?:\*[^\r\n]*\r\n)*s OK[^\r\n]*\r\n(?:\*[^\r\n]*\r\n)*u OK[^\r\n]*\r\n/,
        'flags before',
      );
      assert.doesNotMatch(before[0], /\\Seen/, before[0]);
      scanner.arm(N);
      c.send(`f FETCH 1:${N} BODY[]\r\n`);
      const got: string[] = [];
      for (let i = 0; i < N; i++) {
        const head = await c.read(/\* (\d+) FETCH \(([^{]*)BODY\[\] \{(\d+)\}\r\n/, `FETCH response ${i + 1}`);
        assert.equal(Number(head[1]), i + 1, 'responses in sequence order');
        // The client is told \Seen with the content, as the server would have said for BODY[].
        assert.match(head[2]!, /FLAGS \([^)]*\\Seen/);
        got.push(await c.bytes(Number(head[3]), `literal ${i + 1}`));
        await c.read(/[^\r\n]*\)\r\n/, `end of FETCH response ${i + 1}`);
      }
      await c.read(/(?:\*[^\r\n]*\r\n)*f OK[^\r\n]*\r\n/, 'tagged OK of FETCH');
      assert.equal(scanner.heldAtLast, N - 1);
      assert.deepEqual(
        got,
        scanner.captured.map((b) => b.toString('latin1')),
      );
      // The shield stored \Seen for each delivered message (its own STOREs went up before this FETCH).
      c.send('t FETCH 1:* FLAGS\r\n');
      const after = (await c.read(/(?:\*[^\r\n]*\r\n)*t OK[^\r\n]*\r\n/, 'flags after'))[0];
      assert.equal(after.match(/\\Seen/g)?.length, N, after);
      c.send('e LOGOUT\r\n');
      await c.read(/(?:\*[^\r\n]*\r\n)*e OK[^\r\n]*\r\n/, 'LOGOUT');
    },
  );
});

describe(
  'overlap of pipelined RETR/DELE pairs under pop3.keepInfectedOnServer, against Dovecot',
  { skip: requirements.skip },
  () => {
    let dovecot: Dovecot;
    let shield: ShieldHandle;
    const notice = Buffer.from('Subject: [virus removed]\r\n\r\nreplaced\r\n', 'latin1');
    // Message 2 is the "infected" one: it must stay on the server, the clean ones are deleted.
    const scanner = new HoldingScanner((bytes) =>
      bytes.includes('Subject: overlap 2\r\n')
        ? {
            action: 'replace',
            verdict: { kind: 'infected', engine: 'test', signature: 'Overlap.Test', part: '1' },
            notice,
            quarantineId: 'q-overlap',
          }
        : CLEAN,
    );
    let port = 0;

    before(async () => {
      const pki = testPki();
      dovecot = await startDovecot({ users: [{ user: USER, pass: PASS }] });
      for (const m of MESSAGES) dovecot.deliver(USER, m);
      port = await freePort();
      const config = validateConfig(
        {
          dataDir: tmpDir('mailshield-overlap-keep-'),
          pop3: { keepInfectedOnServer: true },
          accounts: [
            {
              name: 'overlap-keep',
              protocol: 'pop3',
              listen: `127.0.0.1:${port}`,
              clientTls: 'none',
              upstream: `127.0.0.1:${dovecot.pop3sPort}`,
              upstreamTls: 'implicit',
              upstreamServername: 'mail.test',
              upstreamCa: pki.caCert,
            },
          ],
        },
        'overlap.integration.test',
      );
      shield = await startTestShield(config, undefined, scanner);
    });

    after(async () => {
      await shield?.stop();
      await dovecot?.stop();
    });

    it(
      'each DELE waits for its verdict in its place, the RETRs after it do not; only clean mail is deleted',
      { timeout: 60_000 },
      async () => {
        const c = new Client(port);
        await c.read(/\+OK[^\r\n]*\r\n/, 'greeting');
        c.send(`USER ${USER}\r\nPASS ${PASS}\r\n`);
        await c.read(/\+OK[^\r\n]*\r\n\+OK[^\r\n]*\r\n/, 'login');
        scanner.arm(N);
        c.send(Array.from({ length: N }, (_, i) => `RETR ${i + 1}\r\nDELE ${i + 1}\r\n`).join('') + 'QUIT\r\n');
        const answers: string[] = [];
        for (let i = 0; i < N; i++) {
          const m = await c.read(/(\+OK[^\r\n]*\r\n)([\s\S]*?\r\n)\.\r\n/, `RETR ${i + 1}`);
          answers.push(m[1]!.includes('replaced') ? 'notice' : unstuff(m[2]!));
          answers.push((await c.read(/[+-][^\r\n]*\r\n/, `DELE ${i + 1}`))[0]);
        }
        await c.read(/\+OK[^\r\n]*\r\n/, 'QUIT');
        assert.equal(scanner.heldAtLast, N - 1, 'all RETRs were captured while every verdict (and every DELE) waited');
        // In the client's order, whatever order the server numbered the messages in.
        const want = scanner.captured.flatMap((b) =>
          b.includes('Subject: overlap 2\r\n')
            ? ['notice', /^\+OK mailshield kept infected message \d on the server/]
            : [b.toString('latin1'), /^\+OK/],
        );
        assert.equal(answers.length, want.length);
        answers.forEach((a, k) => {
          const w = want[k]!;
          if (typeof w === 'string') assert.equal(a, w, `answer ${k + 1}`);
          else assert.match(a, w, `answer ${k + 1}`);
        });
        // QUIT went up only after every DELE was decided: the server committed exactly the clean ones.
        const left = maildirFiles(dovecot, USER).map((f) => readFileSync(f, 'latin1'));
        assert.equal(left.length, 1, 'only the infected message stays');
        assert.match(left[0]!, /Subject: overlap 2\r?\n/);
      },
    );
  },
);
