// `mailshield quarantine list|show|export|delete|purge`: the quarantined originals, read from the same store the
// daemon writes. Errors are thrown as ShieldError; main() prints them with their code and exits 1.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openDb, storePath } from '../store/db.js';
import { Quarantine, type QuarantineEntry } from '../store/quarantine.js';
import { spoolReader } from '../io/scan-files.js';
import { readHeaders } from '../scan/headers.js';
import { exportCommand } from '../scan/notice.js';
import { describeVerdict } from '../scan/verdict.js';
import { loadConfig } from './context.js';

export interface QuarantineCommandIo {
  out(s: string | Uint8Array): void;
  err(s: string): void;
}

const defaultIo: QuarantineCommandIo = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

function openQuarantine(cmd: Command): { q: Quarantine; retentionDays: number; close(): void } {
  const { config, dataDir } = loadConfig({ config: (cmd.optsWithGlobals() as { config?: string }).config });
  const db = openDb(storePath(dataDir));
  return { q: new Quarantine(dataDir, db), retentionDays: config.quarantine.retentionDays, close: () => db.close() };
}

/** The JSON shape of one entry: stable keys for scripts. */
function toJson(e: QuarantineEntry): Record<string, unknown> {
  return {
    id: e.id,
    receivedAt: e.receivedAt,
    account: e.account,
    protocol: e.protocol,
    direction: e.direction,
    verdict: e.verdict,
    detail: e.detail,
    subject: e.subject,
    from: e.from,
    size: e.size,
    sha256: e.sha256,
    connectionId: e.connectionId,
  };
}

function clip(s: string | null, n: number): string {
  const t = (s ?? '').replace(/[\r\n\t]+/g, ' ');
  return t.length > n ? t.slice(0, n - 1) + '…' : t;
}

function what(e: QuarantineEntry): string {
  const d = e.detail;
  if (d.kind === 'infected') return `${d.signature} (${d.engine})`;
  if (d.kind === 'blocked') return `rule ${d.rule} (${d.engine})`;
  return d.kind;
}

function table(entries: QuarantineEntry[]): string {
  if (entries.length === 0) return 'The quarantine is empty.\n';
  const rows = entries.map((e) => [
    e.id,
    e.receivedAt.slice(0, 19).replace('T', ' '),
    e.account,
    e.direction,
    what(e),
    clip(e.from, 30),
    clip(e.subject, 40),
  ]);
  const head = ['ID', 'RECEIVED (UTC)', 'ACCOUNT', 'DIR', 'FOUND', 'FROM', 'SUBJECT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [fmt(head), ...rows.map(fmt)].join('\n') + '\n';
}

export function registerQuarantineCommands(program: Command, io: QuarantineCommandIo = defaultIo): void {
  const qc = program
    .command('quarantine')
    .description('originals of infected or blocked messages, kept before any notice was sent');

  qc.command('list')
    .description('list quarantined messages, newest first')
    .option('--json', 'print a JSON array')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const s = openQuarantine(cmd);
      try {
        const entries = s.q.list();
        io.out(opts.json ? JSON.stringify(entries.map(toJson), null, 2) + '\n' : table(entries));
      } finally {
        s.close();
      }
    });

  qc.command('show')
    .description('show one entry: what was found, where, and the original headers')
    .argument('<id>', 'quarantine id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const s = openQuarantine(cmd);
      try {
        const e = s.q.getOrThrow(id);
        if (opts.json) {
          io.out(JSON.stringify(toJson(e), null, 2) + '\n');
          return;
        }
        const headers = await readHeaders({ path: e.file, reader: spoolReader });
        const lines = [
          `id:          ${e.id}`,
          `received:    ${e.receivedAt}`,
          `account:     ${e.account} (${e.protocol}, ${e.direction})`,
          `verdict:     ${e.verdict}: ${describeVerdict(e.detail)}`,
          `from:        ${clip(e.from, 200)}`,
          `subject:     ${clip(e.subject, 200)}`,
          `size:        ${e.size} bytes`,
          `sha256:      ${e.sha256}`,
          `export with: ${exportCommand(e.id)}`,
          '',
          'original headers:',
          ...headers.fields.map((f) => '  ' + Buffer.from(f.raw, 'latin1').toString('utf8').replace(/\r\n/g, '\n  ')),
        ];
        io.out(lines.join('\n') + '\n');
      } finally {
        s.close();
      }
    });

  qc.command('export')
    .description('write the exact original bytes (to stdout unless --out)')
    .argument('<id>', 'quarantine id')
    .option('-o, --out <file>', 'write to this file (mode 0600)')
    .action((id: string, opts: { out?: string }, cmd: Command) => {
      const s = openQuarantine(cmd);
      try {
        if (opts.out) {
          const file = resolve(opts.out);
          s.q.exportTo(id, file);
          io.err(`wrote the original of ${id} to ${file}; it is the dangerous message, open it with care\n`);
        } else {
          io.out(s.q.read(id));
        }
      } finally {
        s.close();
      }
    });

  qc.command('delete')
    .description('delete one entry and, when no other entry shares it, its file')
    .argument('<id>', 'quarantine id')
    .action((id: string, _opts: unknown, cmd: Command) => {
      const s = openQuarantine(cmd);
      try {
        s.q.delete(id);
        io.err(`deleted ${id}\n`);
      } finally {
        s.close();
      }
    });

  qc.command('purge')
    .description('delete entries older than quarantine.retentionDays (0 keeps everything)')
    .action((_opts: unknown, cmd: Command) => {
      const s = openQuarantine(cmd);
      try {
        const n = s.q.purge(s.retentionDays);
        io.err(`purged ${n} entr${n === 1 ? 'y' : 'ies'} older than ${s.retentionDays} days\n`);
      } finally {
        s.close();
      }
    });
}
