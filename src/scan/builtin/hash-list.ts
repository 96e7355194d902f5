// The SHA-256 blocklist (scan.builtin.hashList): one hex digest per line, optionally followed by a name; `#` starts a
// comment. The file is re-read when its mtime changes, so an updated list applies without a restart.
import { readFileSync, statSync } from 'node:fs';
import { ShieldError } from '../../core/errors.js';

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

  constructor(private readonly file: string | undefined) {
    this.refresh();
  }

  /** Re-reads the file if it changed. A list that cannot be read is a config error, never an empty list. */
  refresh(): void {
    if (!this.file) return;
    let st;
    try {
      st = statSync(this.file);
    } catch (e) {
      throw new ShieldError('MS_ERR_CONFIG_INVALID', `scan.builtin.hashList: cannot read ${this.file}`, {
        fix: 'create the file or remove scan.builtin.hashList',
        cause: e,
      });
    }
    if (st.mtimeMs === this.mtimeMs) return;
    this.entries = parseHashList(readFileSync(this.file, 'utf8'), this.file);
    this.mtimeMs = st.mtimeMs;
  }

  lookup(sha256: string): HashListEntry | undefined {
    return this.entries.get(sha256);
  }

  get size(): number {
    return this.entries.size;
  }
}
