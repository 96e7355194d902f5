// The ClientHello reader: whatever a client sends before TLS. The incremental reader must reach the same result
// however the bytes are split, and a hello it accepts must be internally consistent.
import {
  ClientHelloReader,
  MAX_CLIENT_HELLO_BYTES,
  parseClientHello,
  type PeekResult,
} from '../../src/tls/client-hello.js';
import { check, sameForEverySplit, type Target } from '../target.js';

function readAll(chunks: Buffer[]): PeekResult[] {
  const r = new ClientHelloReader();
  let res: PeekResult = { status: 'need-more' };
  for (const c of chunks) {
    res = r.push(c);
    if (res.status !== 'need-more') break;
  }
  return [res];
}

const target: Target = {
  name: 'client-hello',
  focus: ['src/tls/client-hello.ts', 'src/tls/record.ts'],
  maxLen: 6000,
  tokens: [
    '\x16\x03\x01',
    '\x16\x03\x03',
    '\x01\x00',
    '\x00\x00',
    '\x00\x0d',
    '\x00\x2b',
    '\x00\x33',
    '\x00\x0a',
    '\x0a\x0a',
    '\x13\x01',
    '\x80',
  ],
  run(input) {
    const whole = parseClientHello(input);
    sameForEverySplit(input, readAll, 'ClientHelloReader');
    if (whole.status === 'malformed') check(whole.reason.length > 0, 'malformed without a reason');
    if (whole.status === 'ok') {
      const i = whole.info;
      check(input.length <= 2 * MAX_CLIENT_HELLO_BYTES + 5, 'accepted a hello beyond the byte limit');
      check(i.cipherSuiteNames.length === i.cipherSuites.length, 'cipher names and suites disagree');
      check(i.versions.length > 0, 'a hello with no version');
      // The SNI becomes a certificate name and a log field; ALPN goes to logs: both must stay one clean line.
      check(i.sni === null || /^[a-z0-9._-]{1,253}$/.test(i.sni), `unsafe SNI ${JSON.stringify(i.sni)}`);
      check(
        i.alpn.every((a) => /^[\x21-\x7e]+$/.test(a)),
        `unsafe ALPN ${JSON.stringify(i.alpn)}`,
      );
    }
  },
};
export default target;
