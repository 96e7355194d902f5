// Input mutation, after AFL and libFuzzer's havoc stage: a few stacked edits of one corpus entry (bit flips,
// interesting bytes, inserts, deletes, duplicated runs, protocol tokens, ASCII numbers) or a splice of two entries.

const INTERESTING = [0x00, 0x01, 0x0a, 0x0d, 0x20, 0x2e, 0x7f, 0x80, 0xff, 0x7b, 0x7d, 0x22, 0x5c];
const NUMBERS = ['0', '1', '-1', '255', '256', '4096', '65535', '65536', '4294967295', '99999999999999999999'];

export type Rand = () => number;

export function xorshift(seed: number): Rand {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

function insert(b: Buffer, at: number, what: Buffer): Buffer {
  return Buffer.concat([b.subarray(0, at), what, b.subarray(at)]);
}

function once(r: Rand, b: Buffer, tokens: readonly Buffer[], other: Buffer): Buffer {
  const at = int(r, b.length + 1);
  switch (int(r, 11)) {
    case 0: {
      if (b.length === 0) return Buffer.from([int(r, 256)]);
      const c = Buffer.from(b);
      c[int(r, c.length)]! ^= 1 << int(r, 8);
      return c;
    }
    case 1: {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      c[int(r, c.length)] = pick(r, INTERESTING);
      return c;
    }
    case 2: {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      c[int(r, c.length)] = int(r, 256);
      return c;
    }
    case 3:
    case 4:
      return tokens.length ? insert(b, at, pick(r, tokens)) : b;
    case 5: {
      // Overwrite with a token: keeps lengths and structure around it.
      if (!tokens.length) return b;
      const t = pick(r, tokens);
      const c = Buffer.from(b);
      t.copy(c, Math.min(at, Math.max(0, c.length - t.length)));
      return c;
    }
    case 6: {
      const n = 1 + int(r, Math.max(1, Math.min(64, b.length - at)));
      return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
    }
    case 7: {
      // Duplicate a run: repeated headers, nested lists, long lines.
      if (b.length === 0) return b;
      const s = int(r, b.length);
      const n = 1 + int(r, Math.min(256, b.length - s));
      const run = b.subarray(s, s + n);
      const times = 1 + int(r, 8);
      return insert(b, at, Buffer.concat(Array.from({ length: times }, () => run)));
    }
    case 8:
      return insert(b, at, Buffer.from(pick(r, NUMBERS), 'latin1'));
    case 9: {
      // Splice: head of this entry, tail of another.
      if (other.length === 0) return b;
      return Buffer.concat([b.subarray(0, at), other.subarray(int(r, other.length))]);
    }
    default: {
      // Big-endian length fields: TLS and zip inputs are length-prefixed.
      if (b.length < 2) return b;
      const c = Buffer.from(b);
      const p = int(r, c.length - 1);
      c.writeUInt16BE(pick(r, [0, 1, 0xff, 0x100, 0x3fff, 0x4000, 0xffff]), p);
      return c;
    }
  }
}

/** One mutant of `base`: 1–8 stacked edits, cut to `maxLen`. */
export function mutate(r: Rand, base: Buffer, other: Buffer, tokens: readonly Buffer[], maxLen: number): Buffer {
  let b = base;
  const n = 1 + int(r, 8);
  for (let i = 0; i < n; i++) b = once(r, b, tokens, other);
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}
