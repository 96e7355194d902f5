// Reads the signature scheme the server actually used, which no Node API reports (DESIGN.md §3):
// - TLS <= 1.2: the ServerKeyExchange is plaintext; parse records up to ChangeCipherSpec.
// - TLS 1.3: CertificateVerify is encrypted under the server handshake traffic secret, which the TLS socket's
//   `keylog` event hands us; derive key/iv (RFC 8446 §7.3) and decrypt the server's handshake flight.
// parseServerFlight() is pure (bytes in, facts out). createTap() is the only stream code: a Duplex between the raw
// socket and tls.connect() that keeps a copy of the inbound bytes until the handshake is over.
import { createDecipheriv, createHmac, type CipherGCMTypes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { legacySignature, schemeName, suiteAuthType, versionName } from './names.js';
import {
  ByteReader,
  CONTENT_TYPE,
  EXTENSION_TYPE,
  HANDSHAKE_HEADER_BYTES,
  HANDSHAKE_TYPE,
  RECORD_HEADER_BYTES,
  TLS1_2,
  TLS1_3,
} from './record.js';

export interface ObservedHandshake {
  /** Negotiated version from ServerHello (supported_versions for TLS 1.3), e.g. "TLSv1.2". */
  version: string | null;
  cipherSuite: number | null;
  /** Wire code point of the scheme from ServerKeyExchange (TLS 1.2) or CertificateVerify (TLS 1.3). */
  signatureScheme: number | null;
  peerSigningDigest: string | null;
  peerSignatureType: string | null;
  /** A fatal or warning alert the server sent during the handshake. */
  alert: { level: number; description: number } | null;
  /** True once the message carrying the signature (or the end of the server flight) has been read. */
  complete: boolean;
  /** Why parsing stopped early (malformed input, missing secret), for debugging; not a verdict. */
  note: string | null;
}

export interface ParseOptions {
  /** The SERVER_HANDSHAKE_TRAFFIC_SECRET from the keylog; needed for TLS 1.3. */
  serverHandshakeSecret?: Buffer;
}

const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

// ---- TLS 1.3 record protection (RFC 8446 §5.2, §7.3) ----

interface Aead {
  alg: CipherGCMTypes | 'chacha20-poly1305' | 'aes-128-ccm';
  keyLen: number;
  hash: 'sha256' | 'sha384';
}
const TLS13_SUITES: Record<number, Aead> = {
  0x1301: { alg: 'aes-128-gcm', keyLen: 16, hash: 'sha256' },
  0x1302: { alg: 'aes-256-gcm', keyLen: 32, hash: 'sha384' },
  0x1303: { alg: 'chacha20-poly1305', keyLen: 32, hash: 'sha256' },
  0x1304: { alg: 'aes-128-ccm', keyLen: 16, hash: 'sha256' },
};

/** HKDF-Expand-Label with an empty context; every output here is shorter than one hash block, so one HMAC does. */
export function hkdfExpandLabel(hash: 'sha256' | 'sha384', secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0])]);
  return createHmac(hash, secret)
    .update(Buffer.concat([info, Buffer.from([1])]))
    .digest()
    .subarray(0, length);
}

function decryptRecord(aead: Aead, key: Buffer, iv: Buffer, seq: number, header: Buffer, body: Buffer): Buffer {
  const nonce = Buffer.from(iv);
  // The 64-bit sequence number is XORed into the right end of the IV; a handshake never needs more than 2^32.
  for (let i = 0; i < 4; i++) nonce[nonce.length - 1 - i]! ^= (seq >>> (8 * i)) & 0xff;
  if (body.length < 16) throw new Error('record shorter than its tag');
  const tag = body.subarray(body.length - 16);
  const ct = body.subarray(0, body.length - 16);
  if (aead.alg === 'aes-128-ccm') {
    const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: 16 });
    d.setAAD(header, { plaintextLength: ct.length });
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ct), d.final()]);
  }
  if (aead.alg === 'chacha20-poly1305') {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    d.setAAD(header, { plaintextLength: ct.length });
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ct), d.final()]);
  }
  const d = createDecipheriv(aead.alg, key, nonce);
  d.setAAD(header);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

/** Strips TLSInnerPlaintext padding: content, then the real content type, then zeros. */
function unwrapInner(p: Buffer): { type: number; content: Buffer } {
  let i = p.length - 1;
  while (i >= 0 && p[i] === 0) i--;
  if (i < 0) throw new Error('inner plaintext has no content type');
  return { type: p[i]!, content: p.subarray(0, i) };
}

// ---- the parser ----

function readServerHello(body: Buffer): { random: Buffer; version: number; suite: number } {
  const r = ByteReader.over(body, 'ServerHello');
  let version = r.u16('legacy_version');
  const random = r.bytes(32, 'random');
  r.vector(1, 'session_id');
  const suite = r.u16('cipher_suite');
  r.u8('compression_method');
  if (r.remaining >= 2) {
    const extEnd = r.u16('extensions length') + r.pos;
    while (r.pos + 4 <= extEnd) {
      const type = r.u16('extension type');
      const data = r.vector(2, `extension ${type}`);
      if (type === EXTENSION_TYPE.supportedVersions && data.remaining === 2) version = data.u16('selected_version');
    }
  }
  return { random, version, suite };
}

/** ServerKeyExchange: skip the (EC)DH params, then read the signature's scheme (TLS 1.2) or infer it (older). */
function readServerKeyExchange(body: Buffer, version: number): { scheme: number | null; legacy: boolean } {
  const tryRead = (skipParams: (r: ByteReader) => void): number | null | undefined => {
    try {
      const r = ByteReader.over(body, 'ServerKeyExchange');
      skipParams(r);
      if (version >= TLS1_2) {
        const scheme = r.u16('signature scheme');
        const len = r.u16('signature length');
        return r.remaining === len ? scheme : undefined;
      }
      const len = r.u16('signature length');
      return r.remaining === len ? null : undefined;
    } catch {
      return undefined;
    }
  };
  // ECDHE: curve_type 3 (named_curve), group, point. DHE: p, g, Ys. The one whose lengths add up exactly wins.
  const ecdhe = tryRead((r) => {
    if (r.u8('curve_type') !== 3) throw new Error('not named_curve');
    r.u16('named_curve');
    r.vector(1, 'public point');
  });
  const dhe = tryRead((r) => {
    r.vector(2, 'dh_p');
    r.vector(2, 'dh_g');
    r.vector(2, 'dh_Ys');
  });
  const scheme = ecdhe !== undefined ? ecdhe : dhe;
  if (scheme === undefined) throw new Error('unparseable ServerKeyExchange');
  return { scheme, legacy: version < TLS1_2 };
}

export function parseServerFlight(bytes: Buffer, opts: ParseOptions = {}): ObservedHandshake {
  const out: ObservedHandshake = {
    version: null,
    cipherSuite: null,
    signatureScheme: null,
    peerSigningDigest: null,
    peerSignatureType: null,
    alert: null,
    complete: false,
    note: null,
  };
  let wireVersion = 0;
  let hs: Buffer = Buffer.alloc(0); // plaintext handshake stream not yet consumed
  let encrypted = false; // TLS 1.3 after the real ServerHello
  let keys: { aead: Aead; key: Buffer; iv: Buffer } | null = null;
  let seq = 0;
  let sawHrr = false;

  const setScheme = (scheme: number) => {
    const n = schemeName(scheme);
    out.signatureScheme = scheme;
    out.peerSigningDigest = n.digest;
    out.peerSignatureType = n.type;
  };

  /** Consumes whole handshake messages from `hs`; returns true when parsing is finished. */
  const drainHandshake = (): boolean => {
    while (hs.length >= HANDSHAKE_HEADER_BYTES) {
      const type = hs[0]!;
      const len = hs.readUIntBE(1, 3);
      if (hs.length < HANDSHAKE_HEADER_BYTES + len) return false;
      const body = hs.subarray(HANDSHAKE_HEADER_BYTES, HANDSHAKE_HEADER_BYTES + len);
      hs = hs.subarray(HANDSHAKE_HEADER_BYTES + len);
      if (type === HANDSHAKE_TYPE.serverHello) {
        const sh = readServerHello(body);
        if (sh.random.equals(HRR_RANDOM)) {
          sawHrr = true; // HelloRetryRequest: a compatibility CCS and the real ServerHello follow
          continue;
        }
        wireVersion = sh.version;
        out.version = versionName(sh.version);
        out.cipherSuite = sh.suite;
        if (sh.version === TLS1_3) {
          encrypted = true;
          const aead = TLS13_SUITES[sh.suite];
          if (!aead) throw new Error(`unknown TLS 1.3 suite 0x${sh.suite.toString(16)}`);
          const secret = opts.serverHandshakeSecret;
          if (!secret) {
            out.note = 'TLS 1.3 without the server handshake traffic secret';
            return true;
          }
          keys = {
            aead,
            key: hkdfExpandLabel(aead.hash, secret, 'key', aead.keyLen),
            iv: hkdfExpandLabel(aead.hash, secret, 'iv', 12),
          };
          // Anything after ServerHello in the same record would be a protocol violation; drop it.
          hs = Buffer.alloc(0);
          return false;
        }
      } else if (type === HANDSHAKE_TYPE.serverKeyExchange && wireVersion && wireVersion < TLS1_3) {
        const ske = readServerKeyExchange(body, wireVersion);
        if (ske.scheme !== null) setScheme(ske.scheme);
        else if (ske.legacy) {
          const s = legacySignature(suiteAuthType(out.cipherSuite ?? 0));
          out.peerSigningDigest = s.digest;
          out.peerSignatureType = s.type;
        }
        out.complete = true;
        return true;
      } else if (type === HANDSHAKE_TYPE.serverHelloDone || type === HANDSHAKE_TYPE.finished) {
        // A flight without ServerKeyExchange (static RSA) or a TLS 1.3 flight without CertificateVerify (PSK).
        out.complete = true;
        return true;
      } else if (type === HANDSHAKE_TYPE.certificateVerify && wireVersion === TLS1_3) {
        setScheme(ByteReader.over(body, 'CertificateVerify').u16('algorithm'));
        out.complete = true;
        return true;
      }
    }
    return false;
  };

  try {
    const r = ByteReader.over(bytes, 'server flight');
    while (r.remaining >= RECORD_HEADER_BYTES) {
      const start = r.pos;
      const type = r.u8('content type');
      r.u16('legacy_record_version');
      const len = r.u16('length');
      if (r.remaining < len) break;
      const header = bytes.subarray(start, start + RECORD_HEADER_BYTES);
      const frag = r.bytes(len, 'fragment');
      if (type === CONTENT_TYPE.changeCipherSpec) {
        // TLS <= 1.2: everything after is encrypted and we have what we need. After a HelloRetryRequest it is
        // TLS 1.3's middlebox-compatibility CCS and the real ServerHello is still to come.
        if (!encrypted && !sawHrr) break;
        continue; // TLS 1.3 middlebox-compatibility CCS
      }
      let recType = type;
      let content = frag;
      if (type === CONTENT_TYPE.applicationData && encrypted) {
        const k = keys as { aead: Aead; key: Buffer; iv: Buffer } | null;
        if (!k) break;
        const inner = unwrapInner(decryptRecord(k.aead, k.key, k.iv, seq++, header, frag));
        recType = inner.type;
        content = inner.content;
      }
      if (recType === CONTENT_TYPE.alert && content.length >= 2) {
        out.alert = { level: content[0]!, description: content[1]! };
        break;
      }
      if (recType !== CONTENT_TYPE.handshake) break;
      hs = hs.length ? Buffer.concat([hs, content]) : content;
      if (drainHandshake()) break;
    }
  } catch (e) {
    out.note = e instanceof Error ? e.message : String(e);
  }
  return out;
}

// ---- the stream tap ----

/** Enough for any realistic server flight (long chains run to ~10 KiB); past this we stop copying. */
const MAX_RECORDED = 128 * 1024;

export interface Tap {
  /** Pass this to tls.connect({socket}) instead of the raw socket. */
  duplex: Duplex;
  /** Parses what was recorded so far. */
  observed(opts?: ParseOptions): ObservedHandshake;
  /** Stops recording and frees the copy (call once the handshake is judged). */
  stop(): void;
}

/**
 * Wraps a connected socket. Node only runs JS-visible streams through a JS wrapper, so this costs some throughput
 * (DESIGN.md §3 measured ~10%); in exchange every byte the server sent before the handshake finished is seen.
 */
export function createTap(raw: Duplex): Tap {
  let chunks: Buffer[] = [];
  let recorded = 0;
  let recording = true;
  const duplex = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      raw.write(chunk, cb);
    },
    final(cb) {
      raw.end(cb);
    },
    destroy(err, cb) {
      raw.destroy();
      cb(err);
    },
  });
  raw.on('data', (chunk: Buffer) => {
    if (recording && recorded < MAX_RECORDED) {
      chunks.push(chunk);
      recorded += chunk.length;
    }
    if (!duplex.push(chunk)) raw.pause();
  });
  raw.on('end', () => duplex.push(null));
  raw.on('error', (e) => duplex.destroy(e));
  raw.on('close', () => {
    if (!duplex.destroyed) duplex.destroy();
  });
  return {
    duplex,
    observed(opts) {
      return parseServerFlight(Buffer.concat(chunks), opts);
    },
    stop() {
      recording = false;
      chunks = [];
    },
  };
}

/** Pulls the server handshake traffic secret out of a keylog line (NSS key log format). */
export function serverHandshakeSecretFrom(line: Buffer | string): Buffer | null {
  const m = /^SERVER_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]+ ([0-9a-f]+)\s*$/i.exec(line.toString());
  return m ? Buffer.from(m[1]!, 'hex') : null;
}
