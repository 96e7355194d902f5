// The layer table holds: the linter refuses upward imports and world access outside the edges, the folders' import
// graph has no cycle, and the temporary exceptions are each still needed (so the list shrinks as files get clean).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';
import { findCycle, folderEdges } from './fixtures/import-graph.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Layer {
  folder: string;
  rank: number;
  edge: boolean | 'server';
  holds: string;
}
interface Pending {
  block: string;
  file: string;
  imports: string[];
  globals: string[];
  needs: string;
}
const layers = (await import(pathToFileURL(join(ROOT, 'layers.js')).href)) as {
  LAYERS: Layer[];
  pendingEntries(): Pending[];
};
const rank = new Map(layers.LAYERS.map((l) => [l.folder, l.rank]));
const pending = layers.pendingEntries();

const eslint = new ESLint({ cwd: ROOT });
async function lint(code: string, filePath: string): Promise<{ rule: string | null; message: string }[]> {
  const [r] = await eslint.lintText(code, { filePath: join(ROOT, filePath) });
  return r!.messages.map((m) => ({ rule: m.ruleId, message: m.message }));
}

test('lint refuses an upward import: core importing io', async () => {
  const out = await lint(
    "import { Connection } from '../io/connection.js';\nexport { Connection };\n",
    'src/core/x.ts',
  );
  const hit = out.find((m) => m.rule === 'no-restricted-imports');
  assert.ok(hit, JSON.stringify(out));
  assert.match(
    hit.message,
    /layers: src\/core is layer 0 and may import only from layers below it; src\/io is layer 5/,
  );
});

test('lint refuses an upward import from a nested folder: protocols/imap importing store', async () => {
  const out = await lint(
    "import type { Db } from '../../store/db.js';\nexport type X = Db;\n",
    'src/protocols/imap/x.ts',
  );
  assert.ok(
    out.some((m) => /src\/protocols is layer 3 .* src\/store is layer 4/.test(m.message)),
    JSON.stringify(out),
  );
});

test('lint refuses a socket import outside the edges, and lets isIP through', async () => {
  const out = await lint(
    "import { connect, isIP } from 'node:net';\nexport const f = () => [connect, isIP];\n",
    'src/protocols/pop3/x.ts',
  );
  const hits = out.filter((m) => m.rule === 'no-restricted-imports');
  assert.equal(hits.length, 1, JSON.stringify(out));
  assert.match(hits[0]!.message, /'connect' import from 'node:net' is restricted.*layers: node:net reaches the world/);
  for (const mod of ['node:tls', 'node:fs/promises', 'node:child_process', 'node:dgram', 'node:timers', 'fs']) {
    const o = await lint(`import * as m from '${mod}';\nexport { m };\n`, 'src/tls/x.ts');
    assert.ok(
      o.some((m) => m.message.includes(`layers: ${mod} reaches the world`)),
      `${mod}: ${JSON.stringify(o)}`,
    );
  }
});

test('lint refuses timers and process.env outside the edges', async () => {
  const out = await lint(
    'export const f = () => [setTimeout(f, 1), setInterval(f, 1), globalThis.setTimeout(f, 1), process.env.HOME];\n',
    'src/scan/x.ts',
  );
  assert.deepEqual(
    out.map((m) => m.rule),
    ['no-restricted-globals', 'no-restricted-globals', 'no-restricted-properties', 'no-restricted-properties'],
  );
  assert.ok(out.every((m) => m.message.startsWith('Unexpected use of') || m.message.includes('layers:')));
});

test('lint lets the edges do I/O: io, store, cli and the dashboard server, not the dashboard views', async () => {
  const code =
    "import { connect } from 'node:net';\nexport const f = () => [connect, setTimeout(f, 1), process.env.X];\n";
  for (const file of ['src/io/x.ts', 'src/store/x.ts', 'src/cli/x.ts', 'src/demo/x.ts', 'src/dashboard/x.ts'])
    assert.deepEqual(await lint(code, file), [], file);
  assert.ok((await lint(code, 'src/dashboard/web/x.ts')).length >= 3);
});

test('the README architecture table is the layer table', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| (\d+) +\| `(\w+)` +\| (yes|no|server) +\| (.+?) *\|$/gm)].map((m) => ({
    rank: Number(m[1]),
    folder: m[2],
    edge: m[3],
    holds: m[4],
  }));
  const want = layers.LAYERS.map((l) => ({
    rank: l.rank,
    folder: l.folder,
    edge: l.edge === true ? 'yes' : l.edge === false ? 'no' : l.edge,
    holds: l.holds,
  }));
  assert.deepEqual(rows, want);
});

test('no import cycle between the folders of src/, and no upward import outside the pending list', () => {
  const edges = folderEdges(ROOT);
  assert.ok(edges.length > 50, 'the graph was read');
  const excused = (e: { file: string; to: string }) =>
    pending.some((p) => p.file === e.file && p.imports.includes(e.to));
  const real = edges.filter((e) => !excused(e));
  const upward = real.filter((e) => rank.get(e.to)! >= rank.get(e.from)!);
  assert.deepEqual(upward, []);
  assert.equal(findCycle(real), null);
});

test('the cycle check finds a cycle in a graph that has one', () => {
  assert.equal(
    findCycle([
      { from: 'core', to: 'tls' },
      { from: 'io', to: 'core' },
    ]),
    null,
  );
  assert.deepEqual(
    findCycle([
      { from: 'io', to: 'core' },
      { from: 'probe', to: 'io' },
      { from: 'io', to: 'probe' },
    ]),
    ['io', 'probe', 'io'],
  );
  assert.deepEqual(
    findCycle([
      { from: 'a', to: 'b' },
      { from: 'b', to: 'c' },
      { from: 'c', to: 'a' },
    ]),
    ['a', 'b', 'c', 'a'],
  );
});

test('each temporary exception is still needed: without it, its file fails the lint', async () => {
  // The list is empty today; an entry added later must name a file that really breaks a rule.
  for (const p of pending) {
    // The same code under a name outside the exception list, in the same folder, so relative imports mean the same.
    const out = await lint(readFileSync(join(ROOT, p.file), 'utf8'), join(dirname(p.file), `zz-${basename(p.file)}`));
    const layerHits = out.filter((m) => m.message.includes('layers:') || m.rule === 'no-restricted-globals');
    assert.ok(layerHits.length > 0, `${p.file} (${p.block}) is clean: remove it from layers.js PENDING`);
  }
});
