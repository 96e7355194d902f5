// W12: what durability costs a quarantine write. Quarantine.put() writes a temp file, fsyncs it, renames it, fsyncs
// the folder and commits the index row with synchronous=FULL, all before the notice may go out. The baseline in the
// same run writes the same bytes with the same temp-and-rename steps and no fsync, and inserts a row the store's
// ordinary way (synchronous=NORMAL). Rounds alternate between the two so machine noise hits both alike.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { openDb, storePath } from '../src/store/db.js';
import { Quarantine, type QuarantineMeta } from '../src/store/quarantine.js';
import { tmpDir } from '../test/fixtures/util.js';
import { median } from './stats.js';

export interface QuarantineResult {
  size: number;
  puts: number;
  durableMs: number;
  plainMs: number;
}

const META: QuarantineMeta = {
  account: 'bench',
  protocol: 'pop3',
  direction: 'incoming',
  verdict: { kind: 'infected', engine: 'builtin', signature: 'bench', part: 'the message' },
};

export async function runQuarantine(quick: boolean): Promise<QuarantineResult> {
  const size = 64 * 1024;
  const puts = quick ? 20 : 100;
  const dataDir = tmpDir('mailshield-bench-q-');
  const db = openDb(storePath(dataDir));
  const q = new Quarantine(dataDir, db);
  const plainDir = join(dataDir, 'plain');
  mkdirSync(plainDir);
  const insert = db.prepare(
    `INSERT INTO quarantine (id, received_at, account, protocol, direction, verdict, verdict_json, subject, sender, size, sha256, connection_id)
     VALUES (?, ?, 'bench', 'pop3', 'incoming', 'infected', '{}', NULL, NULL, ?, ?, NULL)`,
  );
  const durable: number[] = [];
  const plain: number[] = [];
  try {
    for (let i = 0; i < puts; i++) {
      // Distinct bytes each time: put() skips the write for bytes it already holds.
      const msg = randomBytes(size);
      let t = performance.now();
      await q.put(msg, META);
      durable.push(performance.now() - t);
      t = performance.now();
      const tmp = join(plainDir, `.tmp-${i}`);
      const fh = await open(tmp, 'wx', 0o600);
      await fh.writeFile(msg);
      await fh.close();
      await rename(tmp, join(plainDir, `${i}.eml`));
      insert.run(`plain${i}`, new Date().toISOString(), size, `plain${i}`);
      plain.push(performance.now() - t);
    }
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { size, puts, durableMs: median(durable), plainMs: median(plain) };
}

export function quarantineSection(r: QuarantineResult | { error: string }): string {
  let s = '## W12: quarantine write, durable (fsync) vs not\n\n';
  if ('error' in r) return s + `failed: ${r.error}`;
  s +=
    `${r.puts} puts of ${r.size / 1024} KB, medians. Durable: Quarantine.put() (fsync file, rename, fsync folder, ` +
    `index row with synchronous=FULL). Plain: same temp-and-rename without fsync, row with synchronous=NORMAL.\n\n`;
  s += `| path | ms per put | ratio |\n| --- | --- | --- |\n`;
  s += `| plain (baseline) | ${r.plainMs.toFixed(2)} | 1.0× |\n`;
  s += `| durable | ${r.durableMs.toFixed(2)} | ${(r.durableMs / Math.max(r.plainMs, 1e-6)).toFixed(1)}× |\n`;
  return s;
}
