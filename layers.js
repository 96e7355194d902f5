// The layer table: which folder of src/ may import which, and where I/O may happen. One table, read by
// eslint.config.js (the per-folder import rules) and by test/layers.test.ts (the folder-cycle check over the real
// import graph), and printed in the README's architecture section. Plain JavaScript, because ESLint loads it
// before anything is compiled.

/**
 * From the ground up. A folder imports only from folders with a lower rank. `edge` folders may touch the world
 * (sockets, files, child processes, clocks, process.env); the others are handed what they need.
 * `edgeFiles` narrows an edge to some of a folder's files (globs relative to the repository).
 */
export const LAYERS = [
  { folder: 'core', rank: 0, edge: false, holds: 'types, errors, limits, config, hosts and the session contract' },
  { folder: 'tls', rank: 1, edge: false, holds: 'TLS policy, ClientHello parser, handshake facts, CA and leaves' },
  // Above tls, not beside it: the scan's trace header describes how the upstream leg was protected.
  { folder: 'scan', rank: 2, edge: false, holds: 'pipeline, engines, MIME walk, verdicts and notices' },
  { folder: 'protocols', rank: 3, edge: false, holds: 'the pure POP3, IMAP and SMTP sessions and the probe dialog' },
  // Below io, not beside it: the connection driver records events in the store, the store never calls io.
  { folder: 'store', rank: 4, edge: true, holds: 'SQLite, quarantine files, the CA files' },
  { folder: 'io', rank: 5, edge: true, holds: 'listeners, the session driver, TLS legs, upstream connector' },
  { folder: 'probe', rank: 6, edge: false, holds: 'probe and doctor: checks → result objects → renderers' },
  // Above probe: the dashboard shows the doctor's and the policy report's results.
  {
    folder: 'dashboard',
    rank: 7,
    edge: 'server',
    edgeFiles: ['src/dashboard/*.ts'],
    holds: 'HTTP server (edge) and the browser app in web/ (pure views)',
  },
  // Above dashboard: the demo starts a dashboard beside its fake ISP servers.
  { folder: 'demo', rank: 8, edge: true, holds: 'the self-contained demo: fake ISP servers, demo PKI, mailbox' },
  { folder: 'cli', rank: 9, edge: true, holds: 'commands; the only place that reads argv, env and config files' },
];

/**
 * Temporary exceptions, one block per reason, each entry naming a file, what it still imports or calls, and what
 * removes it: `{ 'reason': [{ file, imports: ['io' | 'node:fs' …], globals: ['setTimeout'], needs: '…' }] }`.
 * Empty: the last block (src/scan's own I/O) went when the issue 15 branch moved it to src/io. test/layers.test.ts
 * fails on an entry that is no longer needed, so this list cannot go stale.
 */
export const PENDING = {};

/** Node modules that reach the world. isIP/isIPv4/isIPv6 are pure string checks: src/core/hosts.ts wraps them. */
export const WORLD_MODULES = [
  'net',
  'tls',
  'fs',
  'fs/promises',
  'child_process',
  'dgram',
  'timers',
  'timers/promises',
].flatMap((m) => [m, `node:${m}`]);

/** Globals that wait on the clock. setImmediate only defers to the next turn of the loop, so it stays allowed. */
export const CLOCK_GLOBALS = ['setTimeout', 'setInterval'];

export function layerOf(folder) {
  return LAYERS.find((l) => l.folder === folder);
}

/** The folders `folder` must not import: its own rank or higher, itself excluded. */
export function foldersAbove(folder) {
  const me = layerOf(folder);
  return LAYERS.filter((l) => l.folder !== folder && l.rank >= me.rank).map((l) => l.folder);
}

/** Every pending exception as a flat list of { block, file, imports, globals, needs }. */
export function pendingEntries() {
  return Object.entries(PENDING).flatMap(([block, entries]) =>
    entries.map((e) => ({ block, imports: [], globals: [], ...e })),
  );
}
