// Issue 15's part of the report: the target table (scan on / scan off, W7, W9, W10), W9's and W10's sections, and
// the explanation of each miss, which is written by hand from profiles (bench/findings.md) and included verbatim.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BystanderResult } from './bystander.js';
import type { NetemResult } from './netem.js';
import { hasError, med, ok, table, timedTable, type Check, type RunReport } from './report.js';
import { fmtMB, fmtMs, fmtRatio, type Skip } from './stats.js';

export interface ScanReport {
  bystander?: BystanderResult | { error: string } | null;
  netem?: NetemResult | Skip | { error: string } | null;
}

/** `npm run bench` runs in the repository root. */
const FINDINGS = join(process.cwd(), 'bench', 'findings.md');

function checks(r: RunReport): Check[] {
  const out: Check[] = [];
  for (const id of ['W1', 'W2a', 'W2b', 'W3a', 'W4']) {
    const w = r.throughput.find((x) => x.id === id);
    if (!w) continue;
    const x = med(w.results.get('shield')) / med(w.results.get('shield-noscan'));
    out.push({ workload: id, target: 'scan on / scan off ≤ 1.15×', landed: fmtRatio(x), met: ok(x <= 1.15, x) });
  }
  if (r.scan && !hasError(r.scan)) {
    const m = med(r.scan.rows.get('builtin engine'));
    const mbs = r.scan.bytes / 1e6 / (m / 1000);
    out.push({
      workload: 'W7',
      target: 'builtin engine ≥ 400 MB/s',
      landed: Number.isFinite(mbs) ? `${mbs.toFixed(0)} MB/s` : 'not run',
      met: ok(mbs >= 400, mbs),
    });
  }
  if (r.bystander && !hasError(r.bystander)) {
    const p99 = r.bystander.noop.p99;
    out.push({
      workload: 'W9',
      target: 'bystander NOOP p99 < 20 ms',
      landed: `${fmtMs(p99)} ms (event-loop delay p99 ${fmtMs(r.bystander.eld.p99)} ms)`,
      met: ok(p99 < 20, p99),
    });
  }
  const n = r.netem;
  if (n && !hasError(n) && !('skip' in n)) {
    for (const row of n.rows) {
      const direct = med(row.results.get('direct'));
      const shield = med(row.results.get('shield'));
      const mitm = med(row.results.get('mitmproxy'));
      out.push({
        workload: `W10 ${row.id}`,
        target: 'scan on ≤ 1.10× direct',
        landed: fmtRatio(shield / direct),
        met: ok(shield / direct <= 1.1, shield / direct),
      });
      out.push({
        workload: `W10 ${row.id}`,
        target: 'faster than mitmproxy',
        landed: `${fmtMs(shield)} vs ${fmtMs(mitm)} ms`,
        met: ok(shield < mitm, shield / mitm),
      });
    }
  } else if (n) {
    const why = hasError(n) ? `failed: ${n.error}` : 'skip' in n ? `not run: ${n.skip}` : '';
    out.push({ workload: 'W10', target: 'scan on ≤ 1.10× direct, faster than mitmproxy', landed: why, met: null });
  }
  return out;
}

function bystanderSection(b: BystanderResult | { error: string }): string {
  let s = '## W9: bystander latency (50 IMAP sessions NOOP every 100 ms while others download 25 MB, scanning on)\n\n';
  if (hasError(b)) return s + `failed: ${b.error}`;
  s += table(
    ['measure', 'p50 ms', 'p99 ms', 'max ms', 'n'],
    [
      ['NOOP, no download running', fmtMs(b.idleNoop.p50), fmtMs(b.idleNoop.p99), '', ''],
      ['NOOP during downloads', fmtMs(b.noop.p50), fmtMs(b.noop.p99), fmtMs(b.noop.max), String(b.noops)],
      ['shield event-loop delay during downloads', fmtMs(b.eld.p50), fmtMs(b.eld.p99), fmtMs(b.eld.max), ''],
    ],
  );
  return (
    s +
    `\n\n${b.downloaders} parallel downloaders, ${b.downloads} downloads of ` +
    `${fmtMB(b.downloadBytes / Math.max(1, b.downloads))} MB (IMAP FETCH BODY.PEEK[] from Dovecot) through the same ` +
    'shield process as the NOOP sessions (fake IMAP upstream, which answers at once).'
  );
}

function netemSection(n: NetemResult | Skip | { error: string }): string {
  const head = '## W10: realistic network (own network namespace, upstream hop shaped)\n\n';
  if (hasError(n)) return head + `failed: ${n.error}`;
  if ('skip' in n) return head + `not run: ${n.skip}`;
  const rows = n.rows.map((row) => `### W10 ${row.id}: ${row.title}\n\n${timedTable(row)}`);
  return (
    head +
    `Loopback only, in a namespace the run creates (\`ip netns add\`); the upstream hop: ${n.shaping} ` +
    `(ports ${n.ports.join(', ')}: Dovecot POP3S/IMAPS, Postfix SMTPS). The client → relay hop is not shaped.\n\n` +
    rows.join('\n\n')
  );
}

export function scanSections(r: RunReport): { targets: string; workloads: string[] } {
  const c = checks(r);
  const targets =
    '## Against the targets of issue 15 (scanning at line rate)\n\n' +
    table(
      ['workload', 'target', 'landed', 'met'],
      c.map((x) => [x.workload, x.target, x.landed, x.met === null ? 'n/a' : x.met ? 'yes' : 'no']),
    );
  const workloads: string[] = [];
  if (r.bystander) workloads.push(bystanderSection(r.bystander));
  if (r.netem) workloads.push(netemSection(r.netem));
  if (existsSync(FINDINGS)) workloads.push(readFileSync(FINDINGS, 'utf8').trim());
  return { targets, workloads };
}
