// MIME structure limits end to end (issue 12 item 3): a message over a limit is never a temporary failure. Through
// POP3 with a real Dovecot, RETR answers the notice (naming MS_ERR_MESSAGE_UNSCANNABLE) on every attempt and the
// original sits in quarantine byte for byte; through SMTP with a real Postfix, the same message gets a 554.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validateConfig } from '../src/core/config.js';
import type { ShieldHandle } from '../src/io/server.js';
import { startDovecot, type Dovecot } from './fixtures/dovecot.js';
import { deeplyNested, hugeHeader, manySiblings } from './fixtures/mime.js';
import { testPki } from './fixtures/pki.js';
import {
  sendOn,
  shieldFor,
  startPostfix,
  submitter,
  type PostfixServer,
  type ShieldSetup,
} from './fixtures/postfix.js';
import { startTestShield } from './fixtures/shield.js';
import { freePort, needs, tmpDir } from './fixtures/util.js';

const PASS = 'limits-Secret';
const CASES = [
  ['nested 5000 deep', () => deeplyNested(5000), /more than 1000 MIME parts \(limits\.maxMimeParts\)/],
  ['10,000 sibling parts', () => manySiblings(10_000), /more than 1000 MIME parts \(limits\.maxMimeParts\)/],
  ['a header over 1 MiB', () => hugeHeader(1.5 * 1024 * 1024), /header block is larger than 1048576 bytes/],
] as const;

/** Sends the lines after the greeting and collects everything until the server closes (after QUIT). */
function pop3Dialog(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => {
      if (got === '') s.write(lines.map((l) => l + '\r\n').join(''));
      got += d.toString('latin1');
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

describe('POP3 with Dovecot: a message over a structure limit is replaced by the notice', needs('dovecot'), () => {
  let dovecot: Dovecot;
  let shield: ShieldHandle;
  let dataDir: string;
  let port: number;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: 'limits', pass: PASS }] });
    for (const [, make] of CASES) dovecot.deliver('limits', make());
    port = await freePort();
    dataDir = tmpDir('mailshield-limits-');
    const config = validateConfig(
      {
        dataDir,
        accounts: [
          {
            name: 'limits',
            protocol: 'pop3',
            listen: `127.0.0.1:${port}`,
            clientTls: 'none',
            upstream: `127.0.0.1:${dovecot.pop3sPort}`,
            upstreamTls: 'implicit',
            upstreamServername: 'mail.test',
            upstreamCa: testPki().caCert,
          },
        ],
      },
      'scan-limits.integration.test',
    );
    shield = await startTestShield(config);
  });
  after(async () => {
    await shield?.stop();
    await dovecot?.stop();
  });

  test('RETR answers the notice every time, never -ERR [SYS/TEMP]; the originals are in quarantine', async () => {
    const retrs = CASES.map((_, i) => `RETR ${i + 1}`);
    // Twice in one session and once more in a new one: a verdict that is permanent stays so.
    const first = await pop3Dialog(port, ['USER limits', `PASS ${PASS}`, ...retrs, ...retrs, 'QUIT']);
    const second = await pop3Dialog(port, ['USER limits', `PASS ${PASS}`, ...retrs, 'QUIT']);
    for (const said of [first, second]) {
      assert.doesNotMatch(said, /-ERR/, said.slice(0, 2000));
      const notices = said
        .split(/\r\n\+OK /)
        .slice(1)
        .filter((r) => /X-MailShield-Verdict:/.test(r));
      assert.equal(notices.length, said === first ? 6 : 3, said.slice(0, 3000));
    }
    CASES.forEach(([name, , detail], i) => {
      const notice = first.split(/\r\n\+OK /).filter((r) => /X-MailShield-Verdict:/.test(r))[i]!;
      assert.match(notice, /X-MailShield-Verdict: blocked; rule=unscannable; code=MS_ERR_MESSAGE_UNSCANNABLE/, name);
      assert.match(notice, detail, name);
      assert.match(notice, /\(MS_ERR_MESSAGE_UNSCANNABLE\)/, name);
    });
    const quarantined = readdirSync(join(dataDir, 'quarantine')).map((f) =>
      readFileSync(join(dataDir, 'quarantine', f)),
    );
    for (const [name, make] of CASES)
      assert.ok(
        quarantined.some((q) => q.equals(make())),
        `${name}: the original is in quarantine byte-identical`,
      );
    // Nothing was deleted or changed on the server.
    assert.equal(
      readdirSync(join(dovecot.maildir('limits'), 'new')).length +
        readdirSync(join(dovecot.maildir('limits'), 'cur')).length,
      3,
    );
  });
});

describe(
  'SMTP with Postfix: a message over a structure limit is refused with 554',
  needs('postfix', 'dovecot', 'openssl'),
  () => {
    let pf: PostfixServer;
    let s: ShieldSetup;
    before(async () => {
      pf = await startPostfix();
      s = await shieldFor(pf);
    });
    after(async () => {
      await s?.shield.stop();
      await pf?.stop();
    });

    test('each case: 554 5.7.1 naming the limit and the code, original quarantined, nothing delivered', async () => {
      const c = await submitter(s.port('sub465'), true, s.shield.ca.certPem, pf);
      try {
        for (const [name, make, detail] of CASES) {
          const r = await sendOn(c, pf.user, pf.user, make().toString('latin1'));
          assert.equal(r.ok, false, name);
          assert.equal(r.code, 554, `${name}: ${r.response}`);
          assert.match(r.response!, /^554 5\.7\.1 mailshield: .*cannot be scanned/, name);
          assert.match(r.response!, detail, name);
          assert.match(r.response!, /MS_ERR_MESSAGE_UNSCANNABLE/, name);
          const qid = /quarantine as (\S+?)\.?$/.exec(r.response!)![1]!;
          const row = s.shield.db.prepare('SELECT sha256, size, direction FROM quarantine WHERE id = ?').get(qid) as
            { sha256: string; size: number; direction: string } | undefined;
          const original = make();
          assert.deepEqual(
            row && { ...row },
            {
              sha256: createHash('sha256').update(original).digest('hex'),
              size: original.length,
              direction: 'outgoing',
            },
            `${name}: quarantined byte-identical`,
          );
        }
        assert.ok(
          !pf.delivered().some((b) => /Subject: (nested 5000|10000 parts|huge header)/.test(b.toString('latin1'))),
        );
      } finally {
        c.quit();
      }
    });
  },
);
