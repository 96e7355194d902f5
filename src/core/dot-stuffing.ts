// Dot-stuffing for POP3 multi-line responses (RFC 1939 §3) and SMTP DATA (RFC 5321 §4.5.2), as streaming
// transforms. Both protocols use the same rule, so it lives once, here. State is one flag, so the cost is O(bytes)
// however the input is split.

const DOT = 0x2e;
const LF = 0x0a;
const CR = 0x0d;

/** Adds a dot before every line that starts with one. Call `end()` for the terminator. */
export class DotStuffer {
  private atLineStart = true;
  private lastByte = -1;
  private prevByte = -1;

  push(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const parts: Buffer[] = [];
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.atLineStart && b === DOT) {
        parts.push(chunk.subarray(from, i), Buffer.from('.'));
        from = i;
      }
      this.atLineStart = b === LF;
    }
    parts.push(chunk.subarray(from));
    this.prevByte = chunk.length >= 2 ? chunk[chunk.length - 2]! : this.lastByte;
    this.lastByte = chunk[chunk.length - 1]!;
    return parts.length === 1 ? chunk : Buffer.concat(parts);
  }

  /** The end-of-data marker; a CRLF is added first when the data did not end with one. */
  end(): Buffer {
    const endedWithCrlf = this.lastByte === -1 || (this.lastByte === LF && this.prevByte === CR);
    return Buffer.from(endedWithCrlf ? '.\r\n' : '\r\n.\r\n');
  }
}

/** One-shot helper for small payloads such as notices. */
export function dotStuff(data: Buffer): Buffer {
  const s = new DotStuffer();
  return Buffer.concat([s.push(data), s.end()]);
}
