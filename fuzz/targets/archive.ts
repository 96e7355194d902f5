// Archive inspection (yauzl underneath): a hostile zip. Every limit must hold (entries, inflated bytes), a limit
// hit is an ArchiveBomb, any other damage ends the walk quietly, and a spooled zip reads like one in memory.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ArchiveBomb, walkZip, type ArchiveLimits, type ZipSource } from '../../src/scan/builtin/archive.js';
import { check, describe, type Target } from '../target.js';
import { scanFiles } from '../../src/io/scan-files.js';

const LIMITS: ArchiveLimits = { maxDepth: 3, maxEntries: 20, maxExpandedBytes: 200_000, maxRatio: 100 };
const dir = mkdtempSync(join(tmpdir(), 'mailshield-fuzz-zip-'));
const files = scanFiles(join(dir, 'tmp'));
const file = join(dir, 'a.zip');

async function walk(src: ZipSource): Promise<unknown[]> {
  const budget = { entries: 0, expanded: 0 };
  const seen: unknown[] = [];
  let inflated = 0;
  try {
    await walkZip(src, 1, LIMITS, budget, {
      onName: async (n) => void seen.push(['name', n]),
      onEncrypted: async (n) => void seen.push(['encrypted', n]),
      onContent: async (n, c) => {
        inflated += c.length;
        seen.push(['content', n, createHash('sha256').update(c).digest('hex').slice(0, 12)]);
        return undefined;
      },
    });
  } catch (e) {
    check(e instanceof ArchiveBomb, `walkZip threw something other than ArchiveBomb: ${String(e)}`);
    seen.push('bomb');
  }
  check(inflated <= LIMITS.maxExpandedBytes, `inflated ${inflated} bytes past the limit`);
  check(budget.entries <= LIMITS.maxEntries, `walked ${budget.entries} entries past the limit`);
  return seen;
}

const target: Target = {
  name: 'archive',
  focus: ['src/scan/builtin/archive.ts'],
  maxLen: 16_384,
  tokens: [
    'PK\x03\x04',
    'PK\x01\x02',
    'PK\x05\x06',
    'PK\x06\x06',
    'PK\x06\x07',
    'PK\x07\x08',
    '\x08\x00',
    '\x00\x08',
    '\x01\x00',
    '\xff\xff\xff\xff',
    '../',
    'a.exe',
  ],
  async run(input) {
    const mem = await walk(input);
    writeFileSync(file, input);
    const spooled = await walk({ path: file, size: input.length, files });
    check(
      describe(mem) === describe(spooled),
      `spooled zip reads differently: ${describe(spooled).slice(0, 200)} vs ${describe(mem).slice(0, 200)}`,
    );
  },
  close() {
    rmSync(dir, { recursive: true, force: true });
  },
};
export default target;
