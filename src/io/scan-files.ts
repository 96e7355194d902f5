// The scan engine's file port (src/scan/files.ts) on node:fs. Temp files live in dataDir/tmp, mode 0600 in a 0700
// folder, as the README promises for everything the shield writes: never os.tmpdir(), where other users may look.
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RandomAccessFile, ScanFiles, TempFile } from '../scan/files.js';
import type { SpoolReader } from '../scan/source.js';

export function scanTempDir(dataDir: string): string {
  return join(dataDir, 'tmp');
}

/** Reads spooled messages and quarantined originals. */
export const spoolReader: SpoolReader = {
  stream: (path, chunkBytes) => createReadStream(path, { highWaterMark: chunkBytes }),
  async readPrefix(path, max) {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  },
  readAll: (path) => readFile(path),
};

export function scanFiles(tempDir: string): ScanFiles {
  let made = false;
  return {
    ...spoolReader,
    async createTemp(): Promise<TempFile> {
      if (!made) {
        mkdirSync(tempDir, { recursive: true, mode: 0o700 });
        made = true;
      }
      const dir = await mkdtemp(join(tempDir, 'scan-'));
      const path = join(dir, 'part');
      const ws = createWriteStream(path, { mode: 0o600 });
      return {
        path,
        write: (chunk) => new Promise((resolve, reject) => ws.write(chunk, (e) => (e ? reject(e) : resolve()))),
        end: () =>
          new Promise((resolve, reject) => {
            ws.once('error', reject);
            ws.end(() => resolve());
          }),
        async dispose() {
          ws.destroy();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
    async openRandom(path): Promise<RandomAccessFile> {
      const fh = await open(path, 'r');
      return {
        read: async (buf, offset, length, position) => (await fh.read(buf, offset, length, position)).bytesRead,
        close: () => fh.close(),
      };
    },
    mtimeMs: async (path) => (await stat(path)).mtimeMs,
    readText: (path) => readFile(path, 'utf8'),
  };
}
