// Wires the scan pipeline (src/scan/pipeline.ts) to the world: the engines (the builtin one behind its worker pool,
// clamd over its socket), the quarantine and release list in the store, the detection log, and the file port.
import { readFileSync, rmSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Config } from '../core/config.js';
import { ShieldError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { parseHashList } from '../scan/builtin/hash-list.js';
import type { Engine } from '../scan/engine.js';
import { createPipeline, type ScanPipeline } from '../scan/pipeline.js';
import type { Db } from '../store/db.js';
import { Quarantine } from '../store/quarantine.js';
import { Releases } from '../store/releases.js';
import { ClamdEngine } from './clamd-engine.js';
import { scanTempDir, spoolReader } from './scan-files.js';
import { PooledBuiltinEngine } from './scan-pool.js';

export interface ScanSetup {
  config: Config;
  dataDir: string;
  db: Db;
  log: Logger;
  now?: () => Date;
  /** Resolves paths from the config file (scan.builtin.hashList) against the file's folder; default: as given. */
  resolvePath?: (p: string) => string;
  /** Called after the original is durable in quarantine and before the notice or refusal is built (crash tests). */
  afterQuarantine?: (id: string) => void | Promise<void>;
  /** The scan worker module (tests substitute one that crashes or hangs); default: src/io/scan-worker. */
  scanWorkerFile?: string;
}

/** A hash list that cannot be read or parsed stops the start, as any config error (later changes: scan verdicts). */
export function checkHashList(file: string): void {
  try {
    parseHashList(readFileSync(file, 'utf8'), file);
  } catch (e) {
    if (e instanceof ShieldError) throw e;
    throw new ShieldError('MS_ERR_CONFIG_INVALID', `scan.builtin.hashList: cannot read ${file}`, {
      fix: 'create the file or remove scan.builtin.hashList',
      cause: e,
    });
  }
}

export function createEngines(deps: ScanSetup): Engine[] {
  const { scan } = deps.config;
  const resolvePath = deps.resolvePath ?? ((p: string) => (isAbsolute(p) ? p : resolve(p)));
  const hashList = scan.builtin.hashList ? resolvePath(scan.builtin.hashList) : undefined;
  if (hashList && scan.engines.includes('builtin')) checkHashList(hashList);
  return scan.engines.map((name): Engine => {
    if (name === 'builtin')
      return new PooledBuiltinEngine({
        builtin: {
          rules: scan.builtin.rules,
          archive: scan.builtin.archive,
          hashList,
          structure: deps.config.limits,
        },
        tempDir: scanTempDir(deps.dataDir),
        workers: scan.builtin.workers,
        timeoutMs: scan.builtin.timeoutMs,
        offloadMinBytes: scan.builtin.offloadMinBytes,
        workerFile: deps.scanWorkerFile,
      });
    return new ClamdEngine({ ...scan.clamd, log: deps.log.child({ engine: 'clamd' }) });
  });
}

export function createScanPipeline(deps: ScanSetup): ScanPipeline<Quarantine> {
  const now = deps.now ?? (() => new Date());
  // Temp files belong to a running scan; any found now were left by a crash.
  rmSync(scanTempDir(deps.dataDir), { recursive: true, force: true });
  const insert = deps.db.prepare(
    `INSERT INTO detections (at, account, protocol, direction, kind, engine, name, part, quarantine_id, connection_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  return createPipeline({
    config: deps.config,
    engines: createEngines(deps),
    quarantine: new Quarantine(deps.dataDir, deps.db, now),
    releases: new Releases(deps.db, now),
    recordDetection: (r) =>
      insert.run(
        r.at,
        r.account,
        r.protocol,
        r.direction,
        r.kind,
        r.engine,
        r.name,
        r.part,
        r.quarantineId,
        r.connectionId,
      ),
    spool: spoolReader,
    log: deps.log,
    now,
    afterQuarantine: deps.afterQuarantine,
  });
}
