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
    // Jump from line start to line start with the native indexOf: a 25 MB message has ~400k lines, not 25M bytes
    // to visit in JavaScript.
    let parts: Buffer[] | null = null;
    let from = 0;
    const firstLf = chunk.indexOf(LF);
    let lineStart = this.atLineStart ? 0 : firstLf < 0 ? -1 : firstLf + 1;
    while (lineStart >= 0 && lineStart < chunk.length) {
      if (chunk[lineStart] === DOT) {
        (parts ??= []).push(chunk.subarray(from, lineStart), Buffer.from('.'));
        from = lineStart;
      }
      const nl = chunk.indexOf(LF, lineStart);
      if (nl < 0) break;
      lineStart = nl + 1;
    }
    this.atLineStart = chunk[chunk.length - 1] === LF;
    this.prevByte = chunk.length >= 2 ? chunk[chunk.length - 2]! : this.lastByte;
    this.lastByte = chunk[chunk.length - 1]!;
    if (!parts) return chunk;
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
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
