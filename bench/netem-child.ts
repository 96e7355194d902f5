// W10's side inside the network namespace (bench/netem.ts): a whole environment on this namespace's loopback, `lo`
// shaped on the upstream ports, then the W1 and W3a shapes against every target. Writes the rows as JSON to argv[2].
import { writeFileSync } from 'node:fs';
import { startEnv } from './env.js';
import { startDelayLine, type DelayLine } from './delay-line.js';
import { netemWorks, shapeUpstreamPorts, SHAPING, SHAPING_FALLBACK, type NetemRowJson } from './netem.js';
import { makePlan, type Plan } from './plan.js';
import { runThroughput } from './throughput.js';

async function main(): Promise<void> {
  const out = process.argv[2]!;
  const quick = process.argv.includes('--quick');
  const base = makePlan(quick);
  // Every RETR costs a round trip upstream now: fewer messages, so the run stays minutes; the other mailboxes
  // are filled small, since only W1 and W3a run here.
  const small = 1024 * 1024;
  const plan: Plan = {
    ...base,
    reps: quick ? 1 : 3,
    w1: { messages: quick ? 30 : 100, size: base.w1.size },
    w2: { size: small },
    w3: { ...base.w3, partialSize: small },
    w8: { ...base.w8, size: small },
  };
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const netem = netemWorks();
  const lines: DelayLine[] = [];
  const env = await startEnv(
    plan,
    log,
    netem
      ? undefined
      : async (real) => {
          const [pop3, imap, smtp] = await Promise.all(
            [real.pop3, real.imap, real.smtp].map((p) => startDelayLine(p, 10, 100e6)),
          );
          lines.push(pop3!, imap!, smtp!);
          return { pop3: pop3!.port, imap: imap!.port, smtp: smtp!.port };
        },
  );
  try {
    const ports = [env.dovecot.pop3sPort, env.dovecot.imapsPort, env.postfix.smtpsPort];
    if (netem) shapeUpstreamPorts(ports);
    const rows = await runThroughput(env, log, (id) => id === 'W1' || id === 'W3a');
    const json: NetemRowJson[] = rows.map((r) => ({ ...r, results: [...r.results] }));
    writeFileSync(out, JSON.stringify({ rows: json, ports, shaping: netem ? SHAPING : SHAPING_FALLBACK }));
  } finally {
    await env.stop();
    await Promise.all(lines.map((l) => l.close()));
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`W10 failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
