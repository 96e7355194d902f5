// The SHA-256 blocklist (scan.builtin.hashList): one hex digest per line, optionally followed by a name; `#` starts a
// comment. The file is re-read when its mtime changes, so an updated list applies without a restart. The mtime is
// looked at once per scan, asynchronously through the file port; scans that start together share one look.
import { ShieldError } from '../../core/errors.js';
import type { ScanFiles } from '../files.js';

export interface HashListEntry {
  sha256: string;
  name: string;
}

export function parseHashList(text: string, file: string): Map<string, HashListEntry> {
  const out = new Map<string, HashListEntry>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const m = /^([0-9a-fA-F]{64})(?:\s+(.+))?$/.exec(line);
    if (!m)
      throw new ShieldError(
        'MS_ERR_CONFIG_INVALID',
        `${file}:${i + 1}: expected a SHA-256 hex digest (64 hex digits) and an optional name, found "${line.slice(0, 80)}"`,
      );
    const sha256 = m[1]!.toLowerCase();
    out.set(sha256, { sha256, name: m[2]?.trim() || `sha256:${sha256.slice(0, 16)}` });
  });
  return out;
}

export class HashList {
  private entries = new Map<string, HashListEntry>();
  private mtimeMs = -1;
  private pending: Promise<void> | null = null;

  constructor(
    private readonly file: string | undefined,
    private readonly files: ScanFiles,
  ) {}

  /** Re-reads the file if it changed. A list that cannot be read is a config error, never an empty list. */
  refresh(): Promise<void> {
    if (!this.file) return Promise.resolve();
    this.pending ??= this.load(this.file).finally(() => (this.pending = null));
    return this.pending;
  }

  private async load(file: string): Promise<void> {
    let mtime: number;
    try {
      mtime = await this.files.mtimeMs(file);
    } catch (e) {
      throw new ShieldError('MS_ERR_CONFIG_INVALID', `scan.builtin.hashList: cannot read ${file}`, {
        fix: 'create the file or remove scan.builtin.hashList',
        cause: e,
      });
    }
    if (mtime === this.mtimeMs) return;
    this.entries = parseHashList(await this.files.readText(file), file);
    this.mtimeMs = mtime;
  }

  lookup(sha256: string): HashListEntry | undefined {
    return this.entries.get(sha256);
  }

  get size(): number {
    return this.entries.size;
  }
}
