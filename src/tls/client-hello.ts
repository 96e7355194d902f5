// Reads a TLS ClientHello from the bytes a client sent before TLS starts, so the client leg can record what the
// client offered, explain a refusal in those terms and pick a SecureContext per client (DESIGN.md §3). Pure: bytes in,
// a result out. The reader keeps state across pushes so a hello trickling in byte by byte costs O(bytes), never a
// re-scan of the whole buffer per read (a slow-loris client must not make us quadratic).
import type { ClientHelloInfo } from './facts.js';

export type PeekResult =
  | { status: 'need-more' }
  | { status: 'not-tls' }
  | { status: 'malformed'; reason: string }
  | { status: 'ok'; info: ClientHelloInfo };

/**
 * Largest ClientHello body we accept. One record carries at most 16 KiB; real hellos are 200–2000 bytes, and even
 * with post-quantum key shares (X25519MLKEM768: 1.2 KB) and many session tickets they stay far below this. A bigger
 * hello is an attack on our buffering, not a mail client.
 */
export const MAX_CLIENT_HELLO_BYTES = 32 * 1024;

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 1;
/** RFC 8446 §5.1: a record fragment is at most 2^14 bytes (plus expansion, which a plaintext hello never has). */
const MAX_RECORD_FRAGMENT = 16384;

const EXT_SERVER_NAME = 0;
const EXT_SUPPORTED_GROUPS = 10;
const EXT_SIGNATURE_ALGORITHMS = 13;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;

const VERSION_NAMES: Record<number, string> = {
  0x0300: 'SSLv3',
  0x0301: 'TLSv1',
  0x0302: 'TLSv1.1',
  0x0303: 'TLSv1.2',
  0x0304: 'TLSv1.3',
};

/** RFC 8701: GREASE values (0x?A?A) are noise a client sends to keep servers tolerant; they carry no meaning. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

export function versionName(v: number): string {
  return VERSION_NAMES[v] ?? hex4(v);
}

function hex4(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0');
}

/** IANA names of the suites mail clients of the last 15 years offer; anything else is shown as hex. */
const CIPHER_NAMES: Record<number, string> = {
  0x0004: 'TLS_RSA_WITH_RC4_128_MD5',
  0x0005: 'TLS_RSA_WITH_RC4_128_SHA',
  0x000a: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  0x0013: 'TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA',
  0x0016: 'TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA',
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA',
  0x0032: 'TLS_DHE_DSS_WITH_AES_128_CBC_SHA',
  0x0033: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA',
  0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  0x0038: 'TLS_DHE_DSS_WITH_AES_256_CBC_SHA',
  0x0039: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA',
  0x003c: 'TLS_RSA_WITH_AES_128_CBC_SHA256',
  0x003d: 'TLS_RSA_WITH_AES_256_CBC_SHA256',
  0x0040: 'TLS_DHE_DSS_WITH_AES_128_CBC_SHA256',
  0x0067: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256',
  0x006a: 'TLS_DHE_DSS_WITH_AES_256_CBC_SHA256',
  0x006b: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256',
  0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0x009e: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256',
  0x009f: 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
  0x00a2: 'TLS_DHE_DSS_WITH_AES_128_GCM_SHA256',
  0x00a3: 'TLS_DHE_DSS_WITH_AES_256_GCM_SHA384',
  0x00ff: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  0x1301: 'TLS_AES_128_GCM_SHA256',
  0x1302: 'TLS_AES_256_GCM_SHA384',
  0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
  0x5600: 'TLS_FALLBACK_SCSV',
  0xc007: 'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA',
  0xc008: 'TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA',
  0xc009: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  0xc00a: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  0xc011: 'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
  0xc012: 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0xc023: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  0xc024: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
  0xc027: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  0xc028: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xc09c: 'TLS_RSA_WITH_AES_128_CCM',
  0xc09d: 'TLS_RSA_WITH_AES_256_CCM',
  0xc09e: 'TLS_DHE_RSA_WITH_AES_128_CCM',
  0xc09f: 'TLS_DHE_RSA_WITH_AES_256_CCM',
  0xc0a0: 'TLS_RSA_WITH_AES_128_CCM_8',
  0xc0a1: 'TLS_RSA_WITH_AES_256_CCM_8',
  0xc0a2: 'TLS_DHE_RSA_WITH_AES_128_CCM_8',
  0xc0a3: 'TLS_DHE_RSA_WITH_AES_256_CCM_8',
  0xc0ac: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM',
  0xc0ad: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM',
  0xc0ae: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8',
  0xc0af: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0xccaa: 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
};

export function cipherSuiteName(code: number): string {
  return CIPHER_NAMES[code] ?? hex4(code);
}

/**
 * IANA SignatureScheme names. The TLS 1.2 code points (hash byte, signature byte) that TLS 1.3 never named (MD5,
 * SHA-224, DSA) get the same naming pattern so a policy can read the hash from the name.
 */
const SIGALG_NAMES: Record<number, string> = {
  0x0101: 'rsa_pkcs1_md5',
  0x0102: 'dsa_md5',
  0x0103: 'ecdsa_md5',
  0x0201: 'rsa_pkcs1_sha1',
  0x0202: 'dsa_sha1',
  0x0203: 'ecdsa_sha1',
  0x0301: 'rsa_pkcs1_sha224',
  0x0302: 'dsa_sha224',
  0x0303: 'ecdsa_sha224',
  0x0401: 'rsa_pkcs1_sha256',
  0x0402: 'dsa_sha256',
  0x0403: 'ecdsa_secp256r1_sha256',
  0x0501: 'rsa_pkcs1_sha384',
  0x0502: 'dsa_sha384',
  0x0503: 'ecdsa_secp384r1_sha384',
  0x0601: 'rsa_pkcs1_sha512',
  0x0602: 'dsa_sha512',
  0x0603: 'ecdsa_secp521r1_sha512',
  0x0804: 'rsa_pss_rsae_sha256',
  0x0805: 'rsa_pss_rsae_sha384',
  0x0806: 'rsa_pss_rsae_sha512',
  0x0807: 'ed25519',
  0x0808: 'ed448',
  0x0809: 'rsa_pss_pss_sha256',
  0x080a: 'rsa_pss_pss_sha384',
  0x080b: 'rsa_pss_pss_sha512',
  0x081a: 'ecdsa_brainpoolP256r1tls13_sha256',
  0x081b: 'ecdsa_brainpoolP384r1tls13_sha384',
  0x081c: 'ecdsa_brainpoolP512r1tls13_sha512',
};

export function signatureSchemeName(code: number): string {
  return SIGALG_NAMES[code] ?? hex4(code);
}

/** Names as `openssl s_client` prints them for "Server Temp Key" and `-groups`. */
const GROUP_NAMES: Record<number, string> = {
  0x0015: 'secp224r1',
  0x0017: 'secp256r1',
  0x0018: 'secp384r1',
  0x0019: 'secp521r1',
  0x001a: 'brainpoolP256r1',
  0x001b: 'brainpoolP384r1',
  0x001c: 'brainpoolP512r1',
  0x001d: 'x25519',
  0x001e: 'x448',
  0x0100: 'ffdhe2048',
  0x0101: 'ffdhe3072',
  0x0102: 'ffdhe4096',
  0x0103: 'ffdhe6144',
  0x0104: 'ffdhe8192',
  0x11ec: 'X25519MLKEM768',
  0x6399: 'X25519Kyber768Draft00',
};

export function groupName(code: number): string {
  return GROUP_NAMES[code] ?? hex4(code);
}

/** Thrown inside the body parser only; parseBody turns it into a 'malformed' result, so callers never see it. */
class Malformed extends Error {}

/** A bounds-checked cursor over one buffer. */
class Cursor {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.end) {
      throw new Malformed(`${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`);
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

  /** A sub-cursor over a length-prefixed vector; the parent moves past it. */
  vector(lenBytes: 1 | 2, field: string): Cursor {
    const len = lenBytes === 1 ? this.u8(`${field} length`) : this.u16(`${field} length`);
    this.need(len, field);
    const sub = new Cursor(this.buf, this.pos, this.pos + len, `${this.what} ${field}`);
    this.pos += len;
    return sub;
  }

  u16List(field: string, lenBytes: 1 | 2 = 2): number[] {
    const v = this.vector(lenBytes, field);
    if (v.remaining % 2 !== 0) throw new Malformed(`${this.what}: ${field} has an odd length`);
    const out: number[] = [];
    while (v.remaining > 0) out.push(v.u16(field));
    return out;
  }

  done(field: string): void {
    if (this.remaining !== 0) throw new Malformed(`${this.what}: ${this.remaining} trailing bytes after ${field}`);
  }
}

/**
 * Incremental reader: push each chunk as it arrives. Record headers and fragments are assembled with one copy each,
 * so total work is linear in the bytes received however the input is split.
 */
export class ClientHelloReader {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private fragments: Buffer[] = [];
  private fragmentsLen = 0;
  /** Body length from the handshake header, once 4 handshake bytes are in. */
  private bodyLen: number | null = null;
  private total = 0;
  private result: PeekResult = { status: 'need-more' };

  push(chunk: Buffer): PeekResult {
    if (this.result.status !== 'need-more' || chunk.length === 0) return this.result;
    if (this.total === 0) {
      const first = chunk[0]!;
      if (first !== CONTENT_HANDSHAKE) {
        // 0x80 with a length byte is an SSLv2-compatible hello: TLS, but a form no client of this century needs.
        this.result =
          first & 0x80 && chunk.length > 2 && chunk[2] === 1
            ? { status: 'malformed', reason: 'SSLv2-compatible ClientHello (SSL 2.0 framing is not supported)' }
            : { status: 'not-tls' };
        return this.result;
      }
    }
    this.total += chunk.length;
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    this.result = this.drain();
    return this.result;
  }

  get status(): PeekResult {
    return this.result;
  }

  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length ? [rest] : [];
    this.pendingLen = rest.length;
    return out;
  }

  private peekHeader(): Buffer {
    // Only ever concatenates the first 5 bytes' worth of chunks, never the whole backlog.
    if (this.pending[0]!.length >= RECORD_HEADER) return this.pending[0]!.subarray(0, RECORD_HEADER);
    const parts: Buffer[] = [];
    let got = 0;
    for (const p of this.pending) {
      parts.push(p);
      got += p.length;
      if (got >= RECORD_HEADER) break;
    }
    return Buffer.concat(parts).subarray(0, RECORD_HEADER);
  }

  private drain(): PeekResult {
    while (this.pendingLen >= RECORD_HEADER) {
      const h = this.peekHeader();
      const type = h[0]!;
      const major = h[1]!;
      const len = h.readUInt16BE(3);
      if (type !== CONTENT_HANDSHAKE) {
        return { status: 'malformed', reason: `record type ${type} before the ClientHello was complete` };
      }
      if (major !== 3) return { status: 'malformed', reason: `record version ${major}.${h[2]} is not TLS` };
      if (len === 0) return { status: 'malformed', reason: 'empty handshake record' };
      if (len > MAX_RECORD_FRAGMENT) return { status: 'malformed', reason: `record of ${len} bytes exceeds 16384` };
      // Wait for the whole record before copying, so a record arriving byte by byte is copied once.
      if (this.pendingLen < RECORD_HEADER + len) break;
      const rec = this.take(RECORD_HEADER + len);
      this.fragments.push(rec.subarray(RECORD_HEADER));
      this.fragmentsLen += len;
      const r = this.checkHandshake();
      if (r) return r;
    }
    // Record headers are overhead the body limit does not see: a hello cut into 1-byte records would otherwise let a
    // client make us hold six times the limit. Twice the limit leaves room for any real record layout.
    if (this.total > 2 * MAX_CLIENT_HELLO_BYTES) {
      return {
        status: 'malformed',
        reason: `more than ${2 * MAX_CLIENT_HELLO_BYTES} bytes without a complete ClientHello`,
      };
    }
    return { status: 'need-more' };
  }

  private checkHandshake(): PeekResult | null {
    if (this.fragmentsLen < 4) return null;
    if (this.bodyLen === null) {
      const hs = Buffer.concat(this.fragments, this.fragmentsLen);
      this.fragments = [hs];
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) {
        return { status: 'malformed', reason: `first handshake message has type ${hs[0]}, not ClientHello (1)` };
      }
      this.bodyLen = hs.readUIntBE(1, 3);
      if (this.bodyLen > MAX_CLIENT_HELLO_BYTES) {
        return {
          status: 'malformed',
          reason: `ClientHello of ${this.bodyLen} bytes exceeds the ${MAX_CLIENT_HELLO_BYTES}-byte limit`,
        };
      }
    }
    if (this.fragmentsLen < 4 + this.bodyLen) return null;
    const hs = Buffer.concat(this.fragments, this.fragmentsLen);
    // Bytes after the ClientHello in the same flight (there are none in practice) are TLS's business, not ours.
    return parseBody(hs.subarray(4, 4 + this.bodyLen));
  }
}

/** Parses the bytes received so far. For repeated calls on a growing buffer prefer ClientHelloReader. */
export function parseClientHello(buf: Buffer): PeekResult {
  return new ClientHelloReader().push(buf);
}

function parseBody(body: Buffer): PeekResult {
  try {
    return { status: 'ok', info: parseBodyOrThrow(body) };
  } catch (e) {
    if (e instanceof Malformed) return { status: 'malformed', reason: e.message };
    throw e;
  }
}

function parseBodyOrThrow(body: Buffer): ClientHelloInfo {
  const c = new Cursor(body, 0, body.length, 'ClientHello');
  const legacy = c.u16('client_version');
  if (legacy >> 8 !== 3) throw new Malformed(`ClientHello: client_version ${hex4(legacy)} is not TLS`);
  c.skip(32, 'random');
  const sid = c.vector(1, 'session_id');
  if (sid.remaining > 32) throw new Malformed('ClientHello: session_id longer than 32 bytes');
  const suites = c.u16List('cipher_suites');
  if (suites.length === 0) throw new Malformed('ClientHello: no cipher suites');
  const comp = c.vector(1, 'compression_methods');
  if (comp.remaining === 0) throw new Malformed('ClientHello: no compression methods');

  let versions: number[] | null = null;
  let sigalgs: number[] = [];
  let groups: number[] = [];
  let sni: string | null = null;
  let alpn: string[] = [];
  // RFC 5246 allows a hello without the extensions block (SSLv3-style clients).
  if (c.remaining > 0) {
    const exts = c.vector(2, 'extensions');
    c.done('extensions');
    const seen = new Set<number>();
    while (exts.remaining > 0) {
      const type = exts.u16('extension type');
      const data = exts.vector(2, `extension ${type}`);
      if (seen.has(type)) throw new Malformed(`ClientHello: extension ${type} appears twice`);
      seen.add(type);
      switch (type) {
        case EXT_SERVER_NAME:
          sni = parseSni(data);
          break;
        case EXT_SUPPORTED_GROUPS:
          groups = data.u16List('supported_groups');
          data.done('supported_groups');
          break;
        case EXT_SIGNATURE_ALGORITHMS:
          sigalgs = data.u16List('signature_algorithms');
          data.done('signature_algorithms');
          break;
        case EXT_ALPN:
          alpn = parseAlpn(data);
          break;
        case EXT_SUPPORTED_VERSIONS:
          versions = data.u16List('supported_versions', 1);
          data.done('supported_versions');
          break;
        default:
          break;
      }
    }
  }

  const legacyVersion = versionName(legacy);
  let offered: number[];
  if (versions) {
    offered = versions.filter((v) => !isGrease(v));
    if (offered.length === 0) throw new Malformed('ClientHello: supported_versions lists no version');
  } else {
    // Without supported_versions the client speaks client_version and everything below it, down to TLS 1.0
    // (SSLv3 only if that is all it asked for).
    offered = [];
    for (let v = Math.min(legacy, 0x0303); v >= 0x0301; v--) offered.push(v);
    if (offered.length === 0) offered = [legacy];
  }
  offered = [...new Set(offered)].sort((a, b) => b - a);
  const realSuites = suites.filter((s) => !isGrease(s));
  return {
    legacyVersion,
    versions: offered.map(versionName),
    cipherSuites: realSuites,
    cipherSuiteNames: realSuites.map(cipherSuiteName),
    signatureAlgorithms: sigalgs.filter((s) => !isGrease(s)).map(signatureSchemeName),
    groups: groups.filter((g) => !isGrease(g)).map(groupName),
    sni,
    alpn,
  };
}

function parseSni(data: Cursor): string | null {
  const list = data.vector(2, 'server_name_list');
  data.done('server_name');
  let host: string | null = null;
  while (list.remaining > 0) {
    const nameType = list.u8('name_type');
    const name = list.vector(2, 'host_name');
    if (nameType === 0 && host === null) {
      const raw = name.bytes(name.remaining, 'host_name');
      // RFC 6066: ASCII hostname, no trailing dot. Anything else would end up in certificate names and logs.
      const s = raw.toString('latin1');
      // An invalid one is ignored rather than refused: OpenSSL would accept the hello, and we only lose a leaf name.
      if (/^[A-Za-z0-9._-]{1,253}$/.test(s)) host = s.toLowerCase();
    }
  }
  return host;
}

function parseAlpn(data: Cursor): string[] {
  const list = data.vector(2, 'alpn_protocol_list');
  data.done('alpn');
  const out: string[] = [];
  while (list.remaining > 0) {
    const p = list.vector(1, 'protocol_name');
    if (p.remaining === 0) throw new Malformed('ClientHello: empty ALPN protocol name');
    // ALPN names are opaque bytes; printable ones are shown as text, the rest as hex, so logs stay one line.
    const b = p.bytes(p.remaining, 'protocol_name');
    out.push(/^[\x21-\x7e]+$/.test(b.toString('latin1')) ? b.toString('latin1') : '0x' + b.toString('hex'));
  }
  return out;
}
