// `mailshield init`: writes the commented template, never over an existing file.
import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ShieldError } from '../core/errors.js';
import { CONFIG_TEMPLATE } from './config-template.js';

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('write a commented mailshield.yaml with one example account per protocol')
    .option('-o, --out <file>', 'where to write it', 'mailshield.yaml')
    .option('-f, --force', 'overwrite an existing file')
    .action((opts: { out: string; force?: boolean }) => {
      const file = resolve(opts.out);
      if (existsSync(file) && !opts.force)
        throw new ShieldError('MS_ERR_CONFIG_INVALID', `${file} already exists`, {
          fix: 'pass --force to overwrite it',
        });
      writeFileSync(file, CONFIG_TEMPLATE, { mode: 0o600 });
      process.stdout.write(`wrote ${file}; edit the accounts, then run: mailshield start\n`);
    });
}
