// A configuration as the running parts receive it: parsed, with its file and dataDir resolved. The CLI decides where
// it comes from (src/cli/context.ts); the edges and features only read it, so the type lives down here.
import type { Config } from './config.js';

export interface LoadedConfig {
  config: Config;
  /** The file it came from, or null for the embedded defaults. */
  file: string | null;
  /** Absolute dataDir. */
  dataDir: string;
  /** Resolves a path from the config file against the file's folder. */
  resolvePath(p: string): string;
}
