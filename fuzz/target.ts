// What a fuzz target is, and the invariant helpers every target shares. A target takes one input and throws
// `Finding` (or anything else) when an invariant breaks; expected refusals are part of its contract, not findings.
import { isShieldError } from '../src/core/errors.js';

export interface Target {
  /** Folder name under fuzz/corpus and fuzz/regressions. */
  readonly name: string;
  /** Source files (under src/) whose line coverage is reported. */
  readonly focus: readonly string[];
  /** Longest input the mutator builds. */
  readonly maxLen: number;
  /** Protocol tokens the mutator inserts (a dictionary, as libFuzzer's -dict). */
  readonly tokens: readonly string[];
  /** Runs one input; resolves when every invariant held. */
  run(input: Buffer): void | Promise<void>;
  /** Frees what the target opened (sockets, temp files). */
  close?(): void | Promise<void>;
}

/** An invariant the input broke. Anything else thrown by a target is a crash and equally a finding. */
export class Finding extends Error {}

export function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Finding(what);
}

/** A refusal must name a stable MS_ERR_ code, whether thrown as a ShieldError or carried in a reply text. */
export function checkCoded(e: unknown, where: string): void {
  if (isShieldError(e)) return;
  const msg = e instanceof Error ? e.message : String(e);
  if (/MS_ERR_[A-Z_]+/.test(msg)) return;
  throw new Finding(`${where}: refusal without an MS_ERR_ code: ${msg.slice(0, 200)}`);
}

/** A small deterministic PRNG seeded from the input, so a split derived from an input replays exactly. */
export function seededRandom(input: Buffer): () => number {
  let h = 2166136261;
  for (const b of input) h = Math.imul(h ^ b, 16777619);
  let s = h >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/**
 * The splits a framer must be indifferent to: the whole input, one byte at a time, and a few random cuts chosen
 * from the input itself (so a finding replays with the same cuts).
 */
export function splitsOf(input: Buffer): Buffer[][] {
  const out: Buffer[][] = [[input]];
  if (input.length > 1) out.push([...input].map((b) => Buffer.from([b])));
  const rnd = seededRandom(input);
  for (let k = 0; k < 2 && input.length > 2; k++) {
    const parts: Buffer[] = [];
    let pos = 0;
    while (pos < input.length) {
      const n = 1 + Math.floor(rnd() * Math.min(input.length - pos, 1 + (k === 0 ? 7 : 64)));
      parts.push(input.subarray(pos, pos + n));
      pos += n;
    }
    out.push(parts);
  }
  return out;
}

/** Units as comparable text: Buffers as hex, symbols by name, so two runs compare with one string equality. */
export function describe(units: readonly unknown[]): string {
  return JSON.stringify(units, (_k, v: unknown) => {
    if (typeof v === 'symbol') return v.toString();
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer') {
      return `hex:${Buffer.from((v as { data: number[] }).data).toString('hex')}`;
    }
    return v;
  });
}

/** Every split must produce the same units as the whole input. */
export function sameForEverySplit(input: Buffer, frame: (chunks: Buffer[]) => readonly unknown[], what: string): void {
  const splits = splitsOf(input);
  const want = frame(splits[0]!).map((u) => describe([u]));
  for (let i = 1; i < splits.length; i++) {
    const got = frame(splits[i]!).map((u) => describe([u]));
    if (got.join() === want.join()) continue;
    let k = 0;
    while (k < want.length && got[k] === want[k]) k++;
    throw new Finding(
      `${what}: split into ${splits[i]!.length} chunks gives different units from unit ${k} on (whole ${want.length}, split ${got.length})\n  whole: ${String(want[k]).slice(0, 300)}\n  split: ${String(got[k]).slice(0, 300)}`,
    );
  }
}
