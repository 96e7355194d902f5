// The nftables rules intercept mode owns: one table per address family, `ip mailshield` and `ip6 mailshield`,
// nothing else touched. Installing replaces the tables in one nft transaction (add, delete, add: the idiom that
// succeeds whether or not a table from a crashed run is still there), so a restart after SIGKILL cleans up by simply
// starting. `nft` runs as a child process; its rule language is the stable interface (libnftables has no Node
// binding worth a native build step).
//
// Facts found on this machine (DESIGN.md §6): nft 1.0.6 rejects `priority dstnat` in an `inet` table, so each family
// gets its own table with the numeric priority -100 (the dstnat slot).
import { execFile } from 'node:child_process';
import { ShieldError } from '../../core/errors.js';

export const NFT_TABLE = 'mailshield';

export type Family = 'ip' | 'ip6';

export interface RuleSpec {
  family: Family;
  /** Destination ports to redirect. */
  ports: readonly number[];
  /** Port of the intercept listener the redirect goes to. */
  redirectPort: number;
  /** SO_MARK value on mailshield's own upstream sockets: their packets are let through, or they would loop. */
  mark: number;
  /** The shield's own account listeners on intercepted ports (host, port): a client of an account stays direct. */
  ownListeners: ReadonlyArray<{ host: string; port: number }>;
  /** Gateway mode: also redirect connections forwarded in from this interface. */
  gatewayInterface?: string;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** The nft script that (re)creates one family's table. Pure, so a unit test reads the exact rules. */
export function ruleset(s: RuleSpec): string {
  const addr = s.family === 'ip' ? 'ip' : 'ip6';
  const ports = `{ ${[...s.ports].sort((a, b) => a - b).join(', ')} }`;
  const own = s.ownListeners.filter((l) => s.ports.includes(l.port));
  const lines = [
    `table ${s.family} ${NFT_TABLE}`,
    `delete table ${s.family} ${NFT_TABLE}`,
    `table ${s.family} ${NFT_TABLE} {`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    // Counters make `mailshield intercept status` show that the exemption and the redirect are actually used.
    `    meta mark ${hex(s.mark)} counter return comment "mailshield upstream sockets"`,
    ...own.map((l) =>
      // An unspecified address (0.0.0.0, ::) is every local address.
      /^(0\.0\.0\.0|::)$/.test(l.host)
        ? `    fib daddr type local tcp dport ${l.port} return comment "mailshield account listener"`
        : `    ${addr} daddr ${l.host} tcp dport ${l.port} return comment "mailshield account listener"`,
    ),
    `    tcp dport ${ports} counter redirect to :${s.redirectPort} comment "mailshield intercept"`,
    `  }`,
  ];
  if (s.gatewayInterface) {
    lines.push(
      `  chain prerouting {`,
      `    type nat hook prerouting priority -100; policy accept;`,
      `    iifname "${s.gatewayInterface}" tcp dport ${ports} counter redirect to :${s.redirectPort} comment "mailshield gateway"`,
      `  }`,
    );
  }
  lines.push(`}`, '');
  return lines.join('\n');
}

/** Deletes the table if present (the `add` first makes the delete succeed either way). */
export function removalScript(family: Family): string {
  return `table ${family} ${NFT_TABLE}\ndelete table ${family} ${NFT_TABLE}\n`;
}

export interface NftRunner {
  (args: string[], stdin?: string): Promise<string>;
}

/** Runs `nft`, feeding `stdin` as a script (`nft -f -`). Rejects with the nft error text. */
export const runNft: NftRunner = (args, stdin) =>
  new Promise((resolve, reject) => {
    const child = execFile('nft', args, { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        reject(new Error(code === 'ENOENT' ? 'the nft command is not installed' : stderr.trim() || err.message));
      } else resolve(stdout);
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
  });

function rulesError(what: string, e: unknown): ShieldError {
  const detail = e instanceof Error ? e.message : String(e);
  return new ShieldError('MS_ERR_INTERCEPT_RULES', `${what}: ${detail}`, {
    fix: /not installed/.test(detail)
      ? 'install nftables (apt-get install nftables)'
      : /Operation not permitted|permission/i.test(detail)
        ? 'intercept mode needs root or CAP_NET_ADMIN to change the firewall rules'
        : `see README "Intercept mode"; remove leftovers by hand with: nft delete table ip ${NFT_TABLE}`,
    cause: e,
  });
}

export async function installRules(spec: RuleSpec, nft: NftRunner = runNft): Promise<void> {
  try {
    await nft(['-f', '-'], ruleset(spec));
  } catch (e) {
    throw rulesError(`cannot install the intercept rules (table ${spec.family} ${NFT_TABLE})`, e);
  }
}

export async function removeRules(family: Family, nft: NftRunner = runNft): Promise<void> {
  try {
    await nft(['-f', '-'], removalScript(family));
  } catch (e) {
    throw rulesError(`cannot remove the intercept rules (table ${family} ${NFT_TABLE})`, e);
  }
}

/** The installed table as nft prints it, or null when there is none. */
export async function listRules(family: Family, nft: NftRunner = runNft): Promise<string | null> {
  try {
    return await nft(['list', 'table', family, NFT_TABLE]);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/No such file or directory|does not exist/i.test(msg)) return null;
    throw rulesError(`cannot list the intercept rules (table ${family} ${NFT_TABLE})`, e);
  }
}
