// Coverage from V8 itself: precise block coverage through node:inspector, the same counters c8 and `node --test
// --experimental-test-coverage` read. Jazzer.js cannot load here (its prebuilt addon needs glibc 2.38) and jsfuzz
// instruments through CommonJS require hooks, which never see our ES modules; V8's counters see every module and
// need no instrumentation step or compiler.
//
// V8 merges a block into its parent when both ran the same number of times, so "block B ran" can show up as B's
// range disappearing. A feature is therefore (known range, bucket of the count of the innermost range reported
// around it in this run), computed over every range ever seen in that function.
import { Session } from 'node:inspector';

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  ranges: Range[];
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

/** AFL's hit-count buckets: 0, 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function bucket(n: number): number {
  if (n < 4) return n;
  if (n < 8) return 4;
  if (n < 16) return 5;
  if (n < 32) return 6;
  if (n < 128) return 7;
  return 8;
}

export class Coverage {
  private readonly session = new Session();
  /** Every range seen, per function key ("script:start"), as "start:end". */
  private readonly known = new Map<string, Set<string>>();
  private readonly features = new Set<string>();
  /** Per script url: offsets of characters that ever ran. */
  private readonly hitChars = new Map<string, Set<number>>();

  constructor(private readonly include: (url: string) => boolean) {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private post<T>(method: string, params?: object): T {
    // A session on the main thread dispatches synchronously: the callback has run when post returns.
    let out: { err: Error | null; res?: T } | undefined;
    this.session.post(method, params ?? {}, (err, res) => (out = { err, res: res as T }));
    if (!out) throw new Error(`inspector ${method} did not answer synchronously`);
    if (out.err) throw out.err;
    return out.res as T;
  }

  /** Reads and resets the counters; returns how many features this run added (0: nothing new). */
  collect(): number {
    const { result } = this.post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage');
    let added = 0;
    for (const script of result) {
      if (!this.include(script.url)) continue;
      const before = added;
      for (const fn of script.functions) {
        const top = fn.ranges[0];
        if (!top || top.count === 0) continue;
        const key = `${script.url}:${top.startOffset}`;
        let known = this.known.get(key);
        if (!known) this.known.set(key, (known = new Set()));
        for (const r of fn.ranges) {
          const rk = `${r.startOffset}:${r.endOffset}`;
          if (!known.has(rk)) {
            known.add(rk);
            added++;
          }
        }
        for (const rk of known) {
          const [s, e] = rk.split(':').map(Number) as [number, number];
          // Ranges come outermost first, so the last one containing [s, e) is the innermost.
          let count = 0;
          for (const r of fn.ranges) if (r.startOffset <= s && r.endOffset >= e) count = r.count;
          const f = `${key}|${rk}|${bucket(count)}`;
          if (!this.features.has(f)) {
            this.features.add(f);
            added++;
          }
        }
      }
      // Only a run that reached something new can have run a character for the first time.
      if (added > before) this.mark(script);
    }
    return added;
  }

  private mark(script: ScriptCoverage): void {
    let hit = this.hitChars.get(script.url);
    if (!hit) this.hitChars.set(script.url, (hit = new Set()));
    // Paint outer ranges first, inner ones over them: each character gets the count of its innermost range, across
    // every function of the script (a nested function's uncalled body is a zero range inside its parent).
    const ranges = script.functions.flatMap((f) => f.ranges);
    ranges.sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
    const end = ranges.reduce((m, r) => Math.max(m, r.endOffset), 0);
    const counts = new Int32Array(end).fill(-1);
    for (const r of ranges) counts.fill(r.count, r.startOffset, r.endOffset);
    for (let i = 0; i < end; i++) if (counts[i]! > 0) hit.add(i);
  }

  get featureCount(): number {
    return this.features.size;
  }

  /** Lines of `url` (its compiled JS) whose code all ran at some point, of lines with code, as [hit, total]. */
  lines(url: string, text: string): [number, number] {
    const hit = this.hitChars.get(url) ?? new Set<number>();
    let h = 0;
    let t = 0;
    let off = 0;
    for (const line of text.split('\n')) {
      const code = line.trim();
      if (code.length > 0 && !code.startsWith('//') && !code.startsWith('*') && !code.startsWith('/*')) {
        t++;
        let missed = false;
        for (let i = 0; i < line.length && !missed; i++) if (line[i] !== ' ' && !hit.has(off + i)) missed = true;
        // A line counts when every character of code on it ran in some input (stricter than c8's line rule).
        if (!missed) h++;
      }
      off += line.length + 1;
    }
    return [h, t];
  }

  stop(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }
}
