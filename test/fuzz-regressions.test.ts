// Every committed fuzz input, replayed through its target on every `npm test`: the seeds (so each target's
// invariants run in the normal suite) and the regressions, inputs that once broke an invariant and were fixed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { corpusDir, regressionDir, REPO } from '../fuzz/paths.js';
import type { Target } from '../fuzz/target.js';
import { TARGETS } from '../fuzz/targets/index.js';

const files = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir)
        .sort()
        .map((f) => join(dir, f))
    : [];

for (const [name, load] of Object.entries(TARGETS)) {
  describe(`fuzz target ${name}`, () => {
    let target: Target | undefined;
    const get = async () => (target ??= await load());
    after(async () => {
      await target?.close?.();
    });
    it('has a committed seed corpus', () => {
      if (files(corpusDir(name)).length === 0) throw new Error(`fuzz/corpus/${name}/ is empty`);
    });
    // The engine reports line coverage of these files: a path left behind by a move would end the CI fuzz pass.
    it('names focus files that exist', async () => {
      for (const f of (await get()).focus) assert.ok(existsSync(join(REPO, f)), `${name}: focus file ${f} is missing`);
    });
    for (const f of [...files(corpusDir(name)), ...files(regressionDir(name))]) {
      it(`holds its invariants on ${f.split('/fuzz/')[1]}`, async () => {
        await (await get()).run(readFileSync(f));
      });
    }
  });
}
