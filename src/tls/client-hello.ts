// Reads a TLS ClientHello from the bytes a client sent before TLS starts, so the client leg can record what the
// client offered, explain a refusal in those terms and pick a SecureContext per client (DESIGN.md §3). Pure: bytes in,
// a result out. The reader keeps state across pushes so a hello trickling in byte by byte costs O(bytes), never a
// re-scan of the whole buffer per read (a slow-loris client must not make us quadratic).
import type { ClientHelloInfo } from '../core/tls-facts.js';
import { cipherSuiteName, groupName, hex4, signatureSchemeName, versionName } from './names.js';
import {
  ByteReader,
  CONTENT_TYPE,
  EXTENSION_TYPE,
  HANDSHAKE_HEADER_BYTES,
  HANDSHAKE_TYPE,
  MAX_RECORD_FRAGMENT,
  RECORD_HEADER_BYTES,
  TLS1_0,
  TLS1_2,
  TlsDecodeError,
} from './record.js';

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

/** RFC 8701: GREASE values (0x?A?A) are noise a client sends to keep servers tolerant; they carry no meaning. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
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
  /** The first bytes of what may be an SSLv2-framed hello, until its third byte is in. */
  private sslv2Head: Buffer | null = null;

  push(chunk: Buffer): PeekResult {
    if (this.result.status !== 'need-more' || chunk.length === 0) return this.result;
    if (this.total === 0) {
      const head = this.sslv2Head ? Buffer.concat([this.sslv2Head, chunk]) : chunk;
      const first = head[0]!;
      if (first !== CONTENT_TYPE.handshake) {
        // 0x80 with a length byte is an SSLv2-compatible hello: TLS, but a form no client of this century needs. Its
        // third byte (msg_type 1) tells it apart, so wait for it: the answer must not depend on how bytes were split.
        if (first & 0x80 && head.length < 3) {
          this.sslv2Head = head;
          return this.result;
        }
        this.result =
          first & 0x80 && head[2] === 1
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
    if (this.pending[0]!.length >= RECORD_HEADER_BYTES) return this.pending[0]!.subarray(0, RECORD_HEADER_BYTES);
    const parts: Buffer[] = [];
    let got = 0;
    for (const p of this.pending) {
      parts.push(p);
      got += p.length;
      if (got >= RECORD_HEADER_BYTES) break;
    }
    return Buffer.concat(parts).subarray(0, RECORD_HEADER_BYTES);
  }

  private drain(): PeekResult {
    while (this.pendingLen >= RECORD_HEADER_BYTES) {
      const h = this.peekHeader();
      const type = h[0]!;
      const major = h[1]!;
      const len = h.readUInt16BE(3);
      if (type !== CONTENT_TYPE.handshake) {
        return { status: 'malformed', reason: `record type ${type} before the ClientHello was complete` };
      }
      if (major !== 3) return { status: 'malformed', reason: `record version ${major}.${h[2]} is not TLS` };
      if (len === 0) return { status: 'malformed', reason: 'empty handshake record' };
      if (len > MAX_RECORD_FRAGMENT)
        return { status: 'malformed', reason: `record of ${len} bytes exceeds ${MAX_RECORD_FRAGMENT}` };
      // Wait for the whole record before copying, so a record arriving byte by byte is copied once.
      if (this.pendingLen < RECORD_HEADER_BYTES + len) break;
      const rec = this.take(RECORD_HEADER_BYTES + len);
      this.fragments.push(rec.subarray(RECORD_HEADER_BYTES));
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
    if (this.fragmentsLen < HANDSHAKE_HEADER_BYTES) return null;
    if (this.bodyLen === null) {
      const hs = Buffer.concat(this.fragments, this.fragmentsLen);
      this.fragments = [hs];
      if (hs[0] !== HANDSHAKE_TYPE.clientHello) {
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
    if (this.fragmentsLen < HANDSHAKE_HEADER_BYTES + this.bodyLen) return null;
    const hs = Buffer.concat(this.fragments, this.fragmentsLen);
    // Bytes after the ClientHello in the same flight (there are none in practice) are TLS's business, not ours.
    return parseBody(hs.subarray(HANDSHAKE_HEADER_BYTES, HANDSHAKE_HEADER_BYTES + this.bodyLen));
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
    if (e instanceof TlsDecodeError) return { status: 'malformed', reason: e.message };
    throw e;
  }
}

function parseBodyOrThrow(body: Buffer): ClientHelloInfo {
  const c = ByteReader.over(body, 'ClientHello');
  const legacy = c.u16('client_version');
  if (legacy >> 8 !== 3) throw new TlsDecodeError(`ClientHello: client_version ${hex4(legacy)} is not TLS`);
  c.skip(32, 'random');
  const sid = c.vector(1, 'session_id');
  if (sid.remaining > 32) throw new TlsDecodeError('ClientHello: session_id longer than 32 bytes');
  const suites = c.u16List('cipher_suites');
  if (suites.length === 0) throw new TlsDecodeError('ClientHello: no cipher suites');
  const comp = c.vector(1, 'compression_methods');
  if (comp.remaining === 0) throw new TlsDecodeError('ClientHello: no compression methods');

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
      if (seen.has(type)) throw new TlsDecodeError(`ClientHello: extension ${type} appears twice`);
      seen.add(type);
      switch (type) {
        case EXTENSION_TYPE.serverName:
          sni = parseSni(data);
          break;
        case EXTENSION_TYPE.supportedGroups:
          groups = data.u16List('supported_groups');
          data.done('supported_groups');
          break;
        case EXTENSION_TYPE.signatureAlgorithms:
          sigalgs = data.u16List('signature_algorithms');
          data.done('signature_algorithms');
          break;
        case EXTENSION_TYPE.alpn:
          alpn = parseAlpn(data);
          break;
        case EXTENSION_TYPE.supportedVersions:
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
    if (offered.length === 0) throw new TlsDecodeError('ClientHello: supported_versions lists no version');
  } else {
    // Without supported_versions the client speaks client_version and everything below it, down to TLS 1.0
    // (SSLv3 only if that is all it asked for).
    offered = [];
    for (let v = Math.min(legacy, TLS1_2); v >= TLS1_0; v--) offered.push(v);
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

function parseSni(data: ByteReader): string | null {
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

function parseAlpn(data: ByteReader): string[] {
  const list = data.vector(2, 'alpn_protocol_list');
  data.done('alpn');
  const out: string[] = [];
  while (list.remaining > 0) {
    const p = list.vector(1, 'protocol_name');
    if (p.remaining === 0) throw new TlsDecodeError('ClientHello: empty ALPN protocol name');
    // ALPN names are opaque bytes; printable ones are shown as text, the rest as hex, so logs stay one line.
    const b = p.bytes(p.remaining, 'protocol_name');
    out.push(/^[\x21-\x7e]+$/.test(b.toString('latin1')) ? b.toString('latin1') : '0x' + b.toString('hex'));
  }
  return out;
}
