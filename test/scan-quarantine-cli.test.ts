// `mailshield quarantine ...` through commander, and through the real bin for exit codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerQuarantineCommands } from '../src/cli/quarantine-commands.js';
import { openDb, storePath } from '../src/store/db.js';
import { Quarantine } from '../src/store/quarantine.js';
import { eicar, tmpDir } from './fixtures/util.js';
import { withAttachment } from './fixtures/mime.js';

const BIN = fileURLToPath(new URL('../../bin/mailshield.js', import.meta.url));

async function setup() {
  const dir = tmpDir();
  const dataDir = join(dir, 'data');
  const config = join(dir, 'mailshield.yaml');
  writeFileSync(config, 'dataDir: ./data\n');
  const db = openDb(storePath(dataDir));
  const q = new Quarantine(dataDir, db, () => new Date('2024-03-04T05:06:07Z'));
  const original = await withAttachment({ filename: 'eicar.txt', content: eicar() }, { subject: 'Hello there' });
  const id = await q.put(original, {
    account: 'work',
    protocol: 'imap',
    direction: 'incoming',
    verdict: { kind: 'infected', engine: 'builtin', signature: 'EICAR-Test-File', part: 'eicar.txt' },
    subject: 'Hello there',
    from: 'Alice <alice@example.test>',
  });
  db.close();
  return { dir, config, original, id };
}

async function run(args: string[]): Promise<{ out: Buffer; err: string }> {
  const out: Buffer[] = [];
  let err = '';
  const program = new Command('mailshield').option('-c, --config <file>').exitOverride();
  registerQuarantineCommands(program, { out: (s) => void out.push(Buffer.from(s)), err: (s) => void (err += s) });
  await program.parseAsync(['node', 'mailshield', ...args]);
  return { out: Buffer.concat(out), err };
}

test('list --json has the documented fields; list prints a table', async () => {
  const { config, id, original } = await setup();
  const { out } = await run(['-c', config, 'quarantine', 'list', '--json']);
  const items = JSON.parse(out.toString()) as Record<string, unknown>[];
  assert.equal(items.length, 1);
  const it = items[0]!;
  for (const k of [
    'id',
    'receivedAt',
    'account',
    'protocol',
    'direction',
    'verdict',
    'subject',
    'from',
    'size',
    'sha256',
  ])
    assert.ok(k in it, k);
  assert.equal(it.id, id);
  assert.equal(it.receivedAt, '2024-03-04T05:06:07.000Z');
  assert.equal(it.verdict, 'infected');
  assert.equal(it.size, original.length);
  assert.equal(it.from, 'Alice <alice@example.test>');
  const table = (await run(['-c', config, 'quarantine', 'list'])).out.toString();
  assert.match(
    table,
    new RegExp(`^${id}\\s+2024-03-04 05:06:07\\s+work\\s+incoming\\s+EICAR-Test-File \\(builtin\\)`, 'm'),
  );
});

test('show explains the entry and prints the original headers', async () => {
  const { config, id } = await setup();
  const text = (await run(['-c', config, 'quarantine', 'show', id])).out.toString();
  assert.match(text, /EICAR-Test-File/);
  assert.match(text, new RegExp(`mailshield quarantine export ${id} --out original\\.eml`));
  assert.match(text, /^ {2}Subject: Hello there$/m);
});

test('export writes the exact original (file 0600, or stdout); delete removes it', async () => {
  const { dir, config, id, original } = await setup();
  const out = join(dir, 'original.eml');
  await run(['-c', config, 'quarantine', 'export', id, '--out', out]);
  assert.deepEqual(readFileSync(out), original);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.deepEqual((await run(['-c', config, 'quarantine', 'export', id])).out, original);
  await run(['-c', config, 'quarantine', 'delete', id]);
  assert.deepEqual(JSON.parse((await run(['-c', config, 'quarantine', 'list', '--json'])).out.toString()), []);
});

test('the real bin: unknown id exits 1 with MS_ERR_QUARANTINE_NOT_FOUND; export to stdout is byte-exact', async () => {
  const { config, id, original } = await setup();
  for (const cmd of ['show', 'export', 'delete']) {
    const r = spawnSync(process.execPath, [BIN, '-c', config, 'quarantine', cmd, 'deadbeef0000'], { encoding: 'utf8' });
    assert.equal(r.status, 1, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, /no quarantine entry has the id "deadbeef0000".*MS_ERR_QUARANTINE_NOT_FOUND/);
  }
  const r = spawnSync(process.execPath, [BIN, '-c', config, 'quarantine', 'export', id]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(r.stdout, original);
});
