import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ClientHelloReader, MAX_CLIENT_HELLO_BYTES, parseClientHello, type PeekResult } from './client-hello.js';

// Small builders, so each test says which field it is about instead of carrying a hex blob.
const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const list16 = (xs: number[]) => Buffer.concat(xs.map(u16));
const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), vec16(body)]);

const sniExt = (name: string, nameType = 0) =>
  ext(0, vec16(Buffer.concat([u8(nameType), vec16(Buffer.from(name, 'latin1'))])));
const groupsExt = (gs: number[]) => ext(10, vec16(list16(gs)));
const sigalgsExt = (ss: number[]) => ext(13, vec16(list16(ss)));
const alpnExt = (ps: string[]) => ext(16, vec16(Buffer.concat(ps.map((p) => vec8(Buffer.from(p))))));
const versionsExt = (vs: number[]) => ext(43, vec8(list16(vs)));
const ecPointFormatsExt = () => ext(11, vec8(Buffer.from([0])));

interface HelloSpec {
  version?: number;
  sessionId?: Buffer;
  suites?: number[];
  compression?: number[];
  /** null: no extensions block at all (SSLv3/TLS 1.0 style). */
  extensions?: Buffer[] | null;
}

function helloBody(spec: HelloSpec = {}): Buffer {
  const parts = [
    u16(spec.version ?? 0x0303),
    Buffer.alloc(32, 7),
    vec8(spec.sessionId ?? Buffer.alloc(0)),
    vec16(list16(spec.suites ?? [0x1301, 0xc02f])),
    vec8(Buffer.from(spec.compression ?? [0])),
  ];
  if (spec.extensions !== null) parts.push(vec16(Buffer.concat(spec.extensions ?? [])));
  return Buffer.concat(parts);
}

const handshake = (body: Buffer, type = 1) => Buffer.concat([u8(type), u24(body.length), body]);

/** Wraps a handshake message into records of at most `fragment` bytes. */
function records(hs: Buffer, fragment = 16384, recordVersion = 0x0301): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < hs.length; i += fragment) {
    const f = hs.subarray(i, i + fragment);
    out.push(Buffer.concat([u8(0x16), u16(recordVersion), u16(f.length), f]));
  }
  return Buffer.concat(out);
}

const hello = (spec: HelloSpec = {}, fragment?: number) => records(handshake(helloBody(spec)), fragment);

const fullSpec: HelloSpec = {
  sessionId: Buffer.alloc(32, 1),
  suites: [0x0a0a, 0x1301, 0x1302, 0xc02f, 0xc014, 0x002f, 0x00ff, 0x1234],
  extensions: [
    sniExt('Mail.Test'),
    ecPointFormatsExt(),
    groupsExt([0x2a2a, 0x001d, 0x0017, 0x0018, 0x11ec]),
    sigalgsExt([0x0403, 0x0804, 0x0401, 0x0201, 0x0203, 0x0101, 0xfefe]),
    alpnExt(['imap', 'pop3']),
    versionsExt([0x3a3a, 0x0304, 0x0303]),
  ],
};

function ok(r: PeekResult) {
  assert.equal(r.status, 'ok', JSON.stringify(r));
  if (r.status !== 'ok') throw new Error('unreachable');
  return r.info;
}

describe('parseClientHello fields', () => {
  it('reads every recorded field and drops GREASE', () => {
    const info = ok(parseClientHello(hello(fullSpec)));
    assert.deepEqual(info, {
      legacyVersion: 'TLSv1.2',
      versions: ['TLSv1.3', 'TLSv1.2'],
      cipherSuites: [0x1301, 0x1302, 0xc02f, 0xc014, 0x002f, 0x00ff, 0x1234],
      cipherSuiteNames: [
        'TLS_AES_128_GCM_SHA256',
        'TLS_AES_256_GCM_SHA384',
        'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
        'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
        'TLS_RSA_WITH_AES_128_CBC_SHA',
        'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
        '0x1234',
      ],
      signatureAlgorithms: [
        'ecdsa_secp256r1_sha256',
        'rsa_pss_rsae_sha256',
        'rsa_pkcs1_sha256',
        'rsa_pkcs1_sha1',
        'ecdsa_sha1',
        'rsa_pkcs1_md5',
        '0xfefe',
      ],
      groups: ['x25519', 'secp256r1', 'secp384r1', 'X25519MLKEM768'],
      sni: 'mail.test',
      alpn: ['imap', 'pop3'],
    });
  });

  it('derives versions from client_version when supported_versions is absent', () => {
    assert.deepEqual(ok(parseClientHello(hello({ version: 0x0303 }))).versions, ['TLSv1.2', 'TLSv1.1', 'TLSv1']);
    assert.deepEqual(ok(parseClientHello(hello({ version: 0x0302 }))).versions, ['TLSv1.1', 'TLSv1']);
    const tls10 = ok(parseClientHello(hello({ version: 0x0301, extensions: null })));
    assert.deepEqual(tls10.versions, ['TLSv1']);
    assert.equal(tls10.legacyVersion, 'TLSv1');
    assert.deepEqual(tls10.signatureAlgorithms, []);
    assert.deepEqual(tls10.groups, []);
    assert.equal(tls10.sni, null);
    assert.deepEqual(tls10.alpn, []);
    assert.deepEqual(ok(parseClientHello(hello({ version: 0x0300 }))).versions, ['SSLv3']);
  });

  it('sorts supported_versions highest first and de-duplicates', () => {
    const info = ok(parseClientHello(hello({ extensions: [versionsExt([0x0301, 0x0303, 0x0304, 0x0303])] })));
    assert.deepEqual(info.versions, ['TLSv1.3', 'TLSv1.2', 'TLSv1']);
  });

  it('ignores an SNI that is not a host name and non-host_name entries', () => {
    assert.equal(ok(parseClientHello(hello({ extensions: [sniExt('bad name\r\n')] }))).sni, null);
    assert.equal(ok(parseClientHello(hello({ extensions: [sniExt('mail.test', 1)] }))).sni, null);
  });

  it('shows a non-printable ALPN name as hex', () => {
    const info = ok(parseClientHello(hello({ extensions: [alpnExt(['h2', '\x01\x02'])] })));
    assert.deepEqual(info.alpn, ['h2', '0x0102']);
  });
});

describe('parseClientHello framing', () => {
  const input = hello(fullSpec);
  const expected = ok(parseClientHello(input));

  it('returns need-more for every proper prefix, then the same result (one shot and incremental)', () => {
    for (let i = 0; i < input.length; i++) {
      assert.deepEqual(parseClientHello(input.subarray(0, i)), { status: 'need-more' }, `prefix ${i}`);
      const r = new ClientHelloReader();
      assert.equal(r.push(input.subarray(0, i)).status, 'need-more');
      assert.deepEqual(ok(r.push(input.subarray(i))), expected, `split at ${i}`);
    }
  });

  it('reads a hello pushed one byte at a time', () => {
    const r = new ClientHelloReader();
    let last: PeekResult = { status: 'need-more' };
    for (let i = 0; i < input.length; i++) {
      last = r.push(input.subarray(i, i + 1));
      if (i < input.length - 1) assert.equal(last.status, 'need-more', `byte ${i}`);
    }
    assert.deepEqual(ok(last), expected);
  });

  it('reads a hello spanning several records, split at every offset', () => {
    const multi = hello(fullSpec, 7);
    assert.ok(multi.length > input.length + 5 * 10, 'many records');
    assert.deepEqual(ok(parseClientHello(multi)), expected);
    for (let i = 0; i < multi.length; i++) {
      const r = new ClientHelloReader();
      assert.equal(r.push(multi.subarray(0, i)).status, 'need-more', `prefix ${i}`);
      assert.deepEqual(ok(r.push(multi.subarray(i))), expected, `split at ${i}`);
    }
  });

  it('ignores bytes after the ClientHello', () => {
    assert.deepEqual(ok(parseClientHello(Buffer.concat([input, Buffer.from([0x14, 3, 3, 0, 1, 1])]))), expected);
  });

  it('keeps its answer once settled', () => {
    const r = new ClientHelloReader();
    r.push(input);
    assert.deepEqual(ok(r.push(Buffer.from('junk'))), expected);
  });
});

describe('parseClientHello refusals', () => {
  it('says not-tls for plaintext', () => {
    for (const s of ['USER bob\r\n', 'EHLO x\r\n', 'a001 CAPABILITY\r\n', 'GET / HTTP/1.1\r\n', '\x00']) {
      assert.deepEqual(parseClientHello(Buffer.from(s, 'latin1')), { status: 'not-tls' }, s);
    }
    assert.deepEqual(parseClientHello(Buffer.alloc(0)), { status: 'need-more' });
  });

  it('names an SSLv2-compatible hello', () => {
    const r = parseClientHello(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]));
    assert.equal(r.status, 'malformed');
  });

  it('names an SSLv2-compatible hello the same when it arrives a byte at a time (found by fuzz/targets/client-hello)', () => {
    const r = new ClientHelloReader();
    const results = [0x80, 0x2e, 0x01, 0x03, 0x01].map((b) => r.push(Buffer.from([b])).status);
    assert.deepEqual(results.slice(0, 3), ['need-more', 'need-more', 'malformed']);
    const plain = new ClientHelloReader();
    plain.push(Buffer.from([0x80]));
    assert.equal(plain.push(Buffer.from([0x10, 0x02])).status, 'not-tls');
  });

  const malformed = (buf: Buffer, re: RegExp) => {
    const r = parseClientHello(buf);
    assert.equal(r.status, 'malformed', JSON.stringify(r));
    if (r.status === 'malformed') assert.match(r.reason, re);
  };

  it('refuses broken records and handshake headers', () => {
    malformed(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), /empty handshake record/);
    malformed(Buffer.from([0x16, 0x02, 0x00, 0x00, 0x04, 1, 0, 0, 0]), /record version 2\.0/);
    malformed(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01]), /exceeds 16384/);
    malformed(records(handshake(helloBody(), 2)), /type 2, not ClientHello/);
    malformed(
      Buffer.concat([records(handshake(helloBody()).subarray(0, 3)), Buffer.from([0x15, 3, 1, 0, 2, 2, 40])]),
      /record type 21/,
    );
  });

  it('refuses a hello longer than the limit as soon as its header arrives', () => {
    malformed(records(Buffer.concat([u8(1), u24(MAX_CLIENT_HELLO_BYTES + 1)])), /exceeds the 32768-byte limit/);
  });

  it('refuses a hello cut into too many tiny records', () => {
    const r = new ClientHelloReader();
    const tiny = Buffer.concat([u8(0x16), u16(0x0301), u16(1), u8(0)]);
    let last: PeekResult = r.push(records(Buffer.concat([u8(1), u24(MAX_CLIENT_HELLO_BYTES)]), 4));
    for (let i = 0; i < 20_000 && last.status === 'need-more'; i++) last = r.push(tiny);
    assert.equal(last.status, 'malformed');
  });

  it('refuses inconsistent body fields', () => {
    malformed(hello({ suites: [] }), /no cipher suites/);
    malformed(hello({ compression: [] }), /no compression methods/);
    malformed(hello({ sessionId: Buffer.alloc(33) }), /session_id longer/);
    malformed(hello({ version: 0x0203 }), /client_version 0x0203/);
    malformed(hello({ extensions: [groupsExt([0x17]), groupsExt([0x17])] }), /extension 10 appears twice/);
    malformed(hello({ extensions: [versionsExt([0x0a0a])] }), /lists no version/);
    malformed(hello({ extensions: [ext(13, Buffer.from([0, 3, 4, 1, 2]))] }), /odd length/);
    malformed(hello({ extensions: [ext(13, Buffer.concat([vec16(list16([0x0401])), u8(0)]))] }), /trailing/);
    malformed(hello({ extensions: [alpnExt([''])] }), /empty ALPN/);
    const body = helloBody();
    malformed(records(handshake(Buffer.concat([body, u8(9)]))), /trailing|needs/);
  });

  it('never throws on corrupted lengths (every byte set to 0x00 and 0xff)', () => {
    const input = hello(fullSpec);
    for (let i = 0; i < input.length; i++) {
      for (const v of [0x00, 0xff, input[i]! ^ 0x01]) {
        const b = Buffer.from(input);
        b[i] = v;
        const r = parseClientHello(b);
        assert.ok(['need-more', 'not-tls', 'malformed', 'ok'].includes(r.status));
      }
    }
  });

  it('never throws on random input', () => {
    const input = hello(fullSpec);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(input.length), (tail, cut) => {
        const b = Buffer.concat([input.subarray(0, cut), Buffer.from(tail)]);
        const r = parseClientHello(b);
        return ['need-more', 'not-tls', 'malformed', 'ok'].includes(r.status);
      }),
      { numRuns: 2000 },
    );
  });
});
