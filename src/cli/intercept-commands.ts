// `mailshield intercept status|remove`: what intercept mode has installed in the firewall, what it decided lately,
// and a way to take the rules out by hand (after a crash, before the next start would).
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { openDb, storePath } from '../store/db.js';
import { InterceptionStore } from '../store/interceptions.js';
import { listRules, removeRules, NFT_TABLE, type Family } from '../io/intercept/nft.js';
import { loadConfig } from './context.js';

const FAMILIES: Family[] = ['ip', 'ip6'];

export function registerInterceptCommands(program: Command): void {
  const ic = program.command('intercept').description('intercept mode (Linux nftables redirect): status and clean-up');
  ic.command('status')
    .description('show the nftables rules mailshield installed and its latest intercept decisions')
    .action(async (_o: unknown, cmd: Command) => {
      const loaded = loadConfig({ config: cmd.optsWithGlobals<{ config?: string }>().config });
      const c = loaded.config.intercept;
      const out: string[] = [
        `intercept mode: ${c.enabled ? 'enabled' : 'disabled'} in ${loaded.file ?? '(no configuration file)'}`,
      ];
      if (c.enabled) out.push(`  ports ${c.ports.join(', ')}; domains ${c.domains.join(', ')}; listener ${c.listen}`);
      let installed = 0;
      for (const f of FAMILIES) {
        const text = await listRules(f);
        out.push(`table ${f} ${NFT_TABLE}: ${text === null ? 'not installed' : 'installed'}`);
        if (text !== null) {
          installed++;
          out.push(
            ...text
              .trimEnd()
              .split('\n')
              .map((l) => `  ${l}`),
          );
        }
      }
      const file = storePath(loaded.dataDir);
      if (existsSync(file)) {
        const db = openDb(file);
        try {
          const rows = new InterceptionStore(db).recent(10);
          if (rows.length) out.push('latest decisions:');
          for (const r of rows)
            out.push(
              `  ${r.at} ${r.clientAddress} -> ${r.originalDestination} ${r.protocol}/${r.tlsMode} ` +
                `${r.decision}${r.name ? ` as ${r.name} (${r.nameSource ?? 'sni'})` : ''}${r.reason ? `: ${r.reason}` : ''}`,
            );
        } finally {
          db.close();
        }
      }
      if (c.enabled && installed === 0) out.push('(no rules: mailshield is not running, or it could not install them)');
      process.stdout.write(out.join('\n') + '\n');
    });
  ic.command('remove')
    .description(`delete mailshield's nftables tables (ip and ip6 ${NFT_TABLE}) now`)
    .action(async () => {
      for (const f of FAMILIES) await removeRules(f);
      process.stdout.write(`removed tables ip ${NFT_TABLE} and ip6 ${NFT_TABLE} (if they were there)\n`);
    });
}
