// Runs in a worker thread of the scan pool: the builtin engine's CPU work (MIME splitting, decoding, hashing,
// archive and OLE inspection, EICAR and hash-list matching) happens here, off the event loop that relays mail.
import { BuiltinEngine, type BuiltinOptions } from '../scan/builtin/engine.js';
import type { MessageSource } from '../scan/source.js';
import type { Verdict } from '../scan/types.js';
import { scanFiles } from './scan-files.js';

/** One scan of a complete message, in memory or spooled. */
export interface ScanTask {
  options: BuiltinOptions;
  tempDir: string;
  source: { bytes: Uint8Array } | { path: string };
}

/** Engines by options: a worker keeps its hash list loaded across scans (refreshed by mtime, as in-process). */
const engines = new Map<string, BuiltinEngine>();

function engineFor(task: ScanTask): BuiltinEngine {
  const key = JSON.stringify([task.options, task.tempDir]);
  let e = engines.get(key);
  if (!e) {
    e = new BuiltinEngine(task.options, scanFiles(task.tempDir));
    engines.set(key, e);
  }
  return e;
}

export default async function scanTask(task: ScanTask): Promise<Verdict> {
  const engine = engineFor(task);
  const files = scanFiles(task.tempDir);
  const src: MessageSource =
    'path' in task.source
      ? { path: task.source.path, reader: files }
      : { bytes: Buffer.from(task.source.bytes.buffer, task.source.bytes.byteOffset, task.source.bytes.byteLength) };
  return engine.scan({ source: src, size: 'bytes' in src ? src.bytes.length : 0 });
}
