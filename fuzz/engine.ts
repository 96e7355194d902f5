// The coverage-guided loop for one target: keep a corpus, mutate an entry, run it, keep the mutant when it reached
// new V8 coverage, stop at the first finding. Bounded by time and by an execution count.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Coverage } from './coverage.js';
import { mutate, xorshift } from './mutate.js';
import { REPO, corpusDir, regressionDir, workDir } from './paths.js';
import type { Target } from './target.js';

export interface RunOptions {
  seconds: number;
  maxExecs: number;
  seed: number;
  /** An execution slower than this is a finding (a hang or a quadratic path). */
  slowMs: number;
}

export interface RunReport {
  target: string;
  execs: number;
  seconds: number;
  corpus: number;
  seeds: number;
  features: number;
  /** Line coverage of the target's focus files, [hit, total] each. */
  lines: Record<string, [number, number]>;
  finding: { file: string; message: string } | null;
}

function readDir(dir: string): Buffer[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

export async function fuzzTarget(load: () => Promise<Target>, opts: RunOptions): Promise<RunReport> {
  // Counting starts before the target's modules load, so their top-level code counts as covered.
  const cov = new Coverage((url) => url.includes('/dist/src/'));
  const target = await load();
  const seeds = [...readDir(corpusDir(target.name)), ...readDir(regressionDir(target.name))];
  const out = workDir(target.name);
  const corpus = [...seeds, ...readDir(join(out, 'corpus'))];
  if (corpus.length === 0) corpus.push(Buffer.alloc(0));
  const tokens = target.tokens.map((t) => Buffer.from(t, 'latin1'));
  const rand = xorshift(opts.seed);
  const started = Date.now();
  const deadline = started + opts.seconds * 1000;
  let execs = 0;
  let finding: RunReport['finding'] = null;

  // An exception thrown from a callback inside a library escapes every await: it would kill the worker and lose the
  // input. Catch it, save the input that was running, and end with a report.
  let current: Buffer | null = null;
  process.on('uncaughtException', (e) => {
    mkdirSync(join(out, 'findings'), { recursive: true });
    const file = join(out, 'findings', `finding-${hash(current ?? Buffer.alloc(0))}`);
    writeFileSync(file, current ?? Buffer.alloc(0));
    process.stdout.write(
      JSON.stringify({
        target: target.name,
        execs,
        seconds: (Date.now() - started) / 1000,
        corpus: corpus.length,
        seeds: seeds.length,
        features: cov.featureCount,
        lines: {},
        finding: { file, message: `uncaught exception (would crash the shield): ${e.stack ?? e.message}` },
      } satisfies RunReport) + '\n',
    );
    process.exit(1);
  });
  const runOne = async (input: Buffer): Promise<boolean> => {
    current = input;
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      // An execution that never settles (a promise nobody resolves) is a hang: give up on it well past slowMs.
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`execution did not finish within ${5 * opts.slowMs} ms`)),
          5 * opts.slowMs,
        );
      });
      await Promise.race([target.run(input), stuck]);
    } catch (e) {
      finding = { file: '', message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    clearTimeout(timer);
    const ms = Date.now() - t0;
    if (!finding && ms > opts.slowMs) finding = { file: '', message: `one execution took ${ms} ms (> ${opts.slowMs})` };
    execs++;
    if (finding) {
      mkdirSync(join(out, 'findings'), { recursive: true });
      finding.file = join(out, 'findings', `finding-${hash(input)}`);
      writeFileSync(finding.file, input);
      return false;
    }
    return true;
  };

  // Replay the corpus first: every seed must pass, and it sets the coverage baseline.
  for (const c of corpus) {
    if (!(await runOne(c))) break;
    cov.collect();
  }
  while (!finding && execs < opts.maxExecs && Date.now() < deadline) {
    const base = corpus[Math.floor(rand() * corpus.length)]!;
    const other = corpus[Math.floor(rand() * corpus.length)]!;
    const input = mutate(rand, base, other, tokens, target.maxLen);
    if (!(await runOne(input))) break;
    if (cov.collect() > 0) {
      corpus.push(input);
      mkdirSync(join(out, 'corpus'), { recursive: true });
      writeFileSync(join(out, 'corpus', hash(input)), input);
    }
  }
  await target.close?.();
  const lines: Record<string, [number, number]> = {};
  for (const f of target.focus) {
    const js = join(REPO, 'dist', f.replace(/\.ts$/, '.js'));
    lines[f] = cov.lines(`file://${js}`, readFileSync(js, 'utf8'));
  }
  cov.stop();
  return {
    target: target.name,
    execs,
    seconds: (Date.now() - started) / 1000,
    corpus: corpus.length,
    seeds: seeds.length,
    features: cov.featureCount,
    lines,
    finding,
  };
}
