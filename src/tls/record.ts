// TLS wire vocabulary shared by our two parsers, the ClientHello reader (client leg) and the server-flight tap
// (upstream leg): record and handshake constants (RFC 8446, RFC 5246) and one bounds-checked reader, so the two
// cannot drift apart on framing. Names of code points live in names.ts.

/** A record header: content type (1), legacy version (2), fragment length (2). */
export const RECORD_HEADER_BYTES = 5;
/** A handshake message header: message type (1), body length (3). */
export const HANDSHAKE_HEADER_BYTES = 4;
/** RFC 8446 §5.1: a record fragment is at most 2^14 bytes (plus expansion, which a plaintext hello never has). */
export const MAX_RECORD_FRAGMENT = 16384;

export const CONTENT_TYPE = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
} as const;

export const HANDSHAKE_TYPE = {
  clientHello: 1,
  serverHello: 2,
  serverKeyExchange: 12,
  serverHelloDone: 14,
  certificateVerify: 15,
  finished: 20,
} as const;

export const EXTENSION_TYPE = {
  serverName: 0,
  supportedGroups: 10,
  signatureAlgorithms: 13,
  alpn: 16,
  supportedVersions: 43,
} as const;

/** Wire versions the parsers branch on. */
export const TLS1_0 = 0x0301;
export const TLS1_2 = 0x0303;
export const TLS1_3 = 0x0304;

/** What ByteReader throws when the bytes do not add up; each parser turns it into its own kind of result. */
export class TlsDecodeError extends Error {}

/** A bounds-checked cursor over part of one buffer. Every read past the end throws TlsDecodeError. */
export class ByteReader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
    /** Named in every error, e.g. "ClientHello" or "ServerHello". */
    private readonly what: string,
  ) {}

  /** A reader over the whole of `buf`. */
  static over(buf: Buffer, what: string): ByteReader {
    return new ByteReader(buf, 0, buf.length, what);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.end) {
      throw new TlsDecodeError(`${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(field: string): number {
    this.need(3, field);
    const v = this.buf.readUIntBE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A sub-reader over a length-prefixed vector; the parent moves past it. */
  vector(lenBytes: 1 | 2, field: string): ByteReader {
    const len = lenBytes === 1 ? this.u8(`${field} length`) : this.u16(`${field} length`);
    this.need(len, field);
    const sub = new ByteReader(this.buf, this.pos, this.pos + len, `${this.what} ${field}`);
    this.pos += len;
    return sub;
  }

  u16List(field: string, lenBytes: 1 | 2 = 2): number[] {
    const v = this.vector(lenBytes, field);
    if (v.remaining % 2 !== 0) throw new TlsDecodeError(`${this.what}: ${field} has an odd length`);
    const out: number[] = [];
    while (v.remaining > 0) out.push(v.u16(field));
    return out;
  }

  done(field: string): void {
    if (this.remaining !== 0) throw new TlsDecodeError(`${this.what}: ${this.remaining} trailing bytes after ${field}`);
  }
}
