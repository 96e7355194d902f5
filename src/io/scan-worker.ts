// Runs in a worker thread of the scan pool: the builtin engine's CPU work (MIME splitting, decoding, hashing,
// archive and OLE inspection, EICAR and hash-list matching) happens here, off the event loop that relays mail.
import { threadId, type MessagePort } from 'node:worker_threads';
import { BuiltinEngine, type BuiltinOptions } from '../scan/builtin/engine.js';
import { ChunkFeed } from '../scan/live.js';
import type { MessageSource } from '../scan/source.js';
import type { Verdict } from '../scan/types.js';
import { scanFiles } from './scan-files.js';

/**
 * What the main thread sends on a live scan's port: a chunk (its buffer transferred, not copied), the end of the
 * message, or that the capture was abandoned. The worker answers with the thread it runs on (first), then with the
 * byte count of each chunk it takes, which is how the main thread knows its backlog (src/io/scan-handover.ts).
 */
export type LiveMessage = Uint8Array | 'end' | 'abort';
export type LiveReply = { took: number } | { thread: number };

/** One scan: of a complete message, in memory or spooled, or of one still arriving through `port`. */
export interface ScanTask {
  options: BuiltinOptions;
  tempDir: string;
  source: { bytes: Uint8Array } | { path: string } | { port: MessagePort };
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

/** The chunks arriving on `port`, in order; each one taken is acknowledged. */
export function portFeed(port: MessagePort): ChunkFeed {
  const reply = (r: LiveReply) => port.postMessage(r);
  const feed = new ChunkFeed((took) => reply({ took }));
  reply({ thread: threadId });
  port.on('message', (m: LiveMessage) => {
    if (m === 'end') feed.end();
    else if (m === 'abort') feed.abort();
    else feed.push(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
  });
  // The main thread gave up on the scan (its timeout, while this task was still queued): nothing more will come.
  port.on('close', () => feed.abort());
  return feed;
}

export default async function scanTask(task: ScanTask): Promise<Verdict> {
  const engine = engineFor(task);
  if ('port' in task.source) {
    const port = task.source.port;
    try {
      const feed = portFeed(port);
      // As in place: a finding ends the scan (and frees this task) without waiting for the rest of the message.
      return await engine.scanChunks(feed, () => feed.abort());
    } finally {
      port.close();
    }
  }
  const files = scanFiles(task.tempDir);
  const src: MessageSource =
    'path' in task.source
      ? { path: task.source.path, reader: files }
      : { bytes: Buffer.from(task.source.bytes.buffer, task.source.bytes.byteOffset, task.source.bytes.byteLength) };
  return engine.scan({ source: src, size: 'bytes' in src ? src.bytes.length : 0 });
}
