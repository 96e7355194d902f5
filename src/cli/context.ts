// The only place that decides where the configuration comes from: --config, then MAILSHIELD_CONFIG, then
// ./mailshield.yaml. Relative paths inside the file resolve against the file's folder.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { defaultConfig, parseConfig } from '../core/config.js';
import { ShieldError } from '../core/errors.js';
import type { LoadedConfig } from '../core/loaded-config.js';

export type { LoadedConfig };

export interface ConfigSource {
  config?: string;
}

export function findConfigFile(
  opts: ConfigSource,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): string | null {
  if (opts.config) return resolve(cwd, opts.config);
  if (env.MAILSHIELD_CONFIG) return resolve(cwd, env.MAILSHIELD_CONFIG);
  const local = resolve(cwd, 'mailshield.yaml');
  return existsSync(local) ? local : null;
}

export function loadConfig(
  opts: ConfigSource,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): LoadedConfig {
  const file = findConfigFile(opts, env, cwd);
  if (file === null) {
    const config = defaultConfig();
    return { config, file: null, dataDir: resolve(cwd, config.dataDir), resolvePath: (p) => resolve(cwd, p) };
  }
  if (!existsSync(file))
    throw new ShieldError('MS_ERR_CONFIG_NOT_FOUND', `configuration file ${file} does not exist`, {
      fix: 'pass --config FILE, set MAILSHIELD_CONFIG, or run `mailshield init` to write ./mailshield.yaml',
    });
  const config = parseConfig(readFileSync(file, 'utf8'), file);
  const base = dirname(file);
  const resolvePath = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  return { config, file, dataDir: resolvePath(config.dataDir), resolvePath };
}
