import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { CLOCK_GLOBALS, LAYERS, WORLD_MODULES, foldersAbove, layerOf, pendingEntries } from './layers.js';

// What the layer table (layers.js) forbids, for one folder's files. `allow` lifts single items for the pending
// exceptions at the bottom of this file.
function layerRules(folder, edge, allow = { imports: [], globals: [] }) {
  const me = layerOf(folder);
  const upward = foldersAbove(folder)
    .filter((f) => !allow.imports.includes(f))
    .map((f) => ({
      regex: `^(\\.\\./)+${f}(/|$)`,
      message: `layers: src/${folder} is layer ${me.rank} and may import only from layers below it; src/${f} is layer ${layerOf(f).rank} (see layers.js). Move the shared type down to core, or this code up.`,
    }));
  const edges = 'src/io, src/store, src/cli, src/demo and the dashboard server (src/dashboard/*.ts)';
  const world = edge
    ? []
    : WORLD_MODULES.filter((m) => !allow.imports.includes(m)).map((name) => ({
        name,
        // isIP and friends are pure string checks; src/core/hosts.ts is their one importer.
        ...(name.endsWith('net') ? { allowImportNames: ['isIP', 'isIPv4', 'isIPv6'] } : {}),
        message: `layers: ${name} reaches the world (sockets, files, processes, clocks); only ${edges} may import it. Hand this code what it needs.`,
      }));
  const clock = `only ${edges} may set timers: take a clock or a deadline from the driver instead`;
  return {
    'no-restricted-imports': ['error', { paths: world, patterns: upward }],
    'no-restricted-globals': edge
      ? 'off'
      : [
          'error',
          ...CLOCK_GLOBALS.filter((g) => !allow.globals.includes(g)).map((name) => ({
            name,
            message: `layers: ${clock}`,
          })),
        ],
    'no-restricted-properties': edge
      ? 'off'
      : [
          'error',
          {
            object: 'process',
            property: 'env',
            message: `layers: only the edge folders read process.env; pass the value in`,
          },
          ...CLOCK_GLOBALS.filter((g) => !allow.globals.includes(g)).map((property) => ({
            object: 'globalThis',
            property,
            message: `layers: ${clock}`,
          })),
        ],
  };
}

const TESTS = ['src/**/*.test.ts'];
const pending = pendingEntries();

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.mailshield/', 'bench/results/', 'fuzz/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['bin/**/*.js', '.ci/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  // The layers: one block per folder (two for the dashboard: its server is an edge, its browser views are not).
  // Tests beside the code may start real servers and read fixtures, so they are outside these rules.
  ...LAYERS.flatMap(({ folder, edge, edgeFiles }) => {
    const own = pending.filter((p) => p.file.startsWith(`src/${folder}/`)).map((p) => p.file);
    if (edge === true)
      return [{ files: [`src/${folder}/**/*.ts`], ignores: [...TESTS, ...own], rules: layerRules(folder, true) }];
    const edgeBlock = edgeFiles
      ? [{ files: edgeFiles, ignores: [...TESTS, ...own], rules: layerRules(folder, true) }]
      : [];
    return [
      {
        files: [`src/${folder}/**/*.ts`],
        ignores: [...TESTS, ...own, ...(edgeFiles ?? [])],
        rules: layerRules(folder, false),
      },
      ...edgeBlock,
    ];
  }),
  // ---------------------------------------------------------------------------------------------------------------
  // TEMPORARY: "scan: moved by issue 15 branch". src/scan belongs to the issue 15 branch, which moves these files'
  // I/O out to src/io. Each file keeps exactly what it has today (layers.js PENDING says what and why); everything
  // else the layer rules forbid is still forbidden for them. Delete an entry in layers.js when its file is clean.
  ...pending.map((p) => ({
    files: [p.file],
    rules: layerRules(p.file.split('/')[1], layerOf(p.file.split('/')[1]).edge === true, p),
  })),
);
